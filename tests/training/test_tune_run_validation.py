"""``benchmarks/tune_run_validation.py``: its rewards must weigh points as the report does, and
its cross-fitted rules must be fitted on one half of the dialogues and scored on the other."""

from __future__ import annotations

import pytest
from benchmarks.tune_run_validation import (
    calibrated_rule_rewards,
    cross_fitted,
    decision_reward,
    rule_decisions,
    weighted_means,
)

from learn2ask.data.sampling import source_of
from tests.training.conftest import TWO_DIALOGUES
from tests.training.conftest import labelled_point as point

POINTS = TWO_DIALOGUES


def test_a_right_stop_earns_4_a_right_question_its_grade_a_wrong_decision_0() -> None:
    asks = [9.0, 9.0, 2.5, 3.0, 2.0]  # what asking would earn (ignored at STOP points)
    assert decision_reward([True, False, True, False, False], POINTS, asks) == [
        4.0,
        0.0,
        0.0,
        3.0,
        2.0,
    ]


def test_means_per_point_and_per_dialogue() -> None:
    per_point, per_dialogue = weighted_means([4.0, 0.0, 2.0, 2.0, 0.0], POINTS)
    assert per_point == pytest.approx(8.0 / 5)
    assert per_dialogue == pytest.approx((4.0 + 4.0 / 4) / 2)


def test_rules_see_only_the_fitted_half() -> None:
    # Fused log-odds separate the classes; the vote (0.2 or 0.4 in either class) says what
    # asking earns.
    points = [point(f"d{i}", 0, i % 2 == 0) for i in range(40)]
    fused = [2.0 if s.decision == "stop" else -2.0 for s in points]
    fused[1] = 3.0  # one CONTINUE point looks like a STOP point
    votes = [0.2 if (i // 2) % 2 else 0.4 for i in range(40)]
    asks = [0.0 if s.decision == "stop" else 2.0 + v for s, v in zip(points, votes, strict=True)]
    is_stop = [s.decision == "stop" for s in points]
    fit, held = list(range(20)), list(range(20, 40))
    decisions = rule_decisions(fit, held, fused, votes, is_stop, asks)
    assert set(decisions) == {"as run", "ask value per point", "vote in the fit", "both"}
    for stops in decisions.values():  # the held half is separable by the fused log-odds
        assert [bool(stop) for stop in stops] == [s.decision == "stop" for s in points[20:]]
    result = cross_fitted(points, fused, votes, asks, splits=5)
    assert result["rules"]["as run"]["minus_as_run_per_dialogue"] == 0.0
    for row in result["rules"].values():  # one point per dialogue: the two weightings agree
        assert row["per_point"] == pytest.approx(row["per_dialogue"])
    # the rules also earn at CONTINUE points (one mistake at most: point 1, when held out)
    assert result["rules"]["as run"]["per_point"] > result["rules"]["always stop"]["per_point"]


def test_calibrated_rule_rewards_per_source() -> None:
    points = [point(f"d{i}", 0, i % 2 == 0) for i in range(40)]
    for s in points[20:]:
        s.meta["format"] = "other"
    fused = [2.0 if s.decision == "stop" else -2.0 for s in points]
    asks = [0.0 if s.decision == "stop" else 2.5 for s in points]
    rewards = calibrated_rule_rewards(points, fused, asks, splits=5)
    # separable: every decision right, so each point earns 4 (STOP) or 2.5 (CONTINUE)
    assert rewards["per_point"] == pytest.approx(rewards["per_dialogue"])
    assert 2.5 < rewards["per_point"] < 4.0
    assert {k for k in rewards if k.startswith("per_dialogue_")} == {
        f"per_dialogue_{source_of(points[0])}",
        "per_dialogue_other",
    }
