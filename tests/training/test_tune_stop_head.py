"""The dialogue-weighted scores of ``benchmarks/tune_stop_head.py --dialogue-weights``: they
must weigh points as the report's ``ave_total_reward`` does (within a dialogue, then over
dialogues), or the benchmark answers a different question."""

from __future__ import annotations

import pytest
from benchmarks.tune_stop_head import dialogue_reward, dialogue_weights, weighted_auc

from tests.training.conftest import TWO_DIALOGUES
from tests.training.conftest import labelled_point as point

POINTS = TWO_DIALOGUES


def test_weights_count_the_points_of_each_dialogue() -> None:
    assert dialogue_weights(POINTS, "none") == [1.0] * 5
    assert dialogue_weights(POINTS, "1/n") == [1.0, 0.25, 0.25, 0.25, 0.25]
    assert dialogue_weights(POINTS, "1/sqrt(n)") == [1.0, 0.5, 0.5, 0.5, 0.5]


def test_reward_averages_within_then_over_dialogues() -> None:
    always_stop = dialogue_reward([1.0] * 5, POINTS, 0.5, stop_reward=4.0, ask=2.0)
    assert always_stop == pytest.approx((4.0 + 4.0 / 4) / 2)  # pooled would be 8 / 5
    perfect = dialogue_reward([1, 1, 0, 0, 0], POINTS, 0.5, stop_reward=4.0, ask=2.0)
    assert perfect == pytest.approx((4.0 + (4.0 + 3 * 2.0) / 4) / 2)


def test_weighted_auc_counts_pairs_by_their_weights() -> None:
    # a's STOP point ranks below every CONTINUE point, b's above: unweighted 3 of 6 pairs won.
    scores = [0.0, 0.9, 0.5, 0.5, 0.5]
    assert weighted_auc(scores, POINTS, [1.0] * 5) == pytest.approx(0.5)
    # With 1/n weights a's STOP point counts four times b's, so its lost pairs dominate.
    assert weighted_auc(scores, POINTS, dialogue_weights(POINTS, "1/n")) == pytest.approx(0.2)


def test_earlier_points_are_the_same_dialogues_points_before_each() -> None:
    from benchmarks.tune_stop_head import earlier_points

    history = earlier_points([POINTS[0], POINTS[3]], POINTS)
    assert history[0] == []  # a's first point
    assert [s.index for s in history[1]] == [0, 1]  # b's point 2 follows b's points 0 and 1


def test_relative_logits_subtract_the_mean_of_earlier_points() -> None:
    from benchmarks.tune_stop_head import relative_logits

    points = [point("b", i, i == 0) for i in range(4)]
    logit_of = {id(s.context): 10.0 * s.index for s in points}

    class ByIndex:
        """Log-odds 10 x the point's index, so the excess is known exactly."""

        def logits(self, contexts: list) -> list[float]:
            return [logit_of[id(c)] for c in contexts]

    z, excess = relative_logits(ByIndex(), [points[0], points[3]], points)  # type: ignore[arg-type]
    assert list(z) == [0.0, 30.0]
    assert list(excess) == [0.0, 30.0 - 10.0]  # no history: 0; else 30 - mean(0, 10, 20)


def test_decision_rates_at_the_heads_own_cut() -> None:
    from benchmarks.tune_stop_head import decision_rates

    # log-odds >= 0 stops: b's STOP point and one CONTINUE point stop, a's STOP point does not.
    rates = decision_rates([-1.0, 2.0, 1.0, -3.0, -2.0], POINTS)
    assert rates["stops_at_stop"] == pytest.approx(0.5)
    assert rates["stops_at_continue"] == pytest.approx(round(1 / 3, 3))
    assert rates["balanced_accuracy"] == pytest.approx(round((0.5 + 2 / 3) / 2, 3))
    assert rates["best_balanced_accuracy"] >= rates["balanced_accuracy"]
