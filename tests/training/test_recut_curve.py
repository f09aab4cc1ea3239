"""``benchmarks/recut_curve.py``: the re-cut it simulates must be the one ``calibrate
--decision`` computes, on logs that never share a dialogue with the points it is scored on."""

from __future__ import annotations

import json
import random

import pytest
from benchmarks.recut_curve import balanced, curve, halves, main, recut

from learn2ask.training.threshold import platt_threshold


def shifted_source(n_dialogues: int = 40, seed: int = 0) -> list[dict]:
    """A source whose P(stop) sits high: STOP points near 0.85, CONTINUE points near 0.6."""
    rng = random.Random(seed)
    points = []
    for d in range(n_dialogues):
        for i in range(6):
            stop = i == 5
            centre = 0.85 if stop else 0.6
            p = min(0.99, max(0.01, rng.gauss(centre, 0.08)))
            points.append({"dialogue": f"d{d}", "stop": stop, "p": p})
    return points


def test_halves_never_share_a_dialogue() -> None:
    points = shifted_source()
    logs, held = halves(points, seed=3)
    assert len(logs) == 20
    assert not set(logs) & {p["dialogue"] for p in held}
    assert len(held) == 20 * 6


def test_balanced_draws_as_many_stop_as_continue_points() -> None:
    chosen = balanced(shifted_source(4), random.Random(0))
    assert sum(p["stop"] for p in chosen) == sum(not p["stop"] for p in chosen) == 4


def test_recut_is_the_calibration_platt_cut() -> None:
    points = balanced(shifted_source(), random.Random(1))
    expected = platt_threshold([p["p"] for p in points], [p["stop"] for p in points], 4.0, 2.71)
    assert recut(points, 2.71) == pytest.approx(expected)


def test_a_source_that_sits_high_gains_from_its_own_cut() -> None:
    # The saved cut 0.4 stops almost everywhere here; a cut from 10 of its dialogues asks at
    # most CONTINUE points, so every draw earns more on the other half.
    result = curve(shifted_source(), 0.4, 2.71, sizes=[10, 99], draws=20, seed=0)
    assert [row["dialogues"] for row in result["sizes"]] == [10]  # 99 > the 20 log dialogues
    row = result["sizes"][0]
    assert 0.6 < row["cut"]["median"] < 0.85
    assert row["balanced_accuracy"]["p10"] > result["saved"]["balanced_accuracy"]
    assert row["share_of_draws_better_than_saved"] == 1.0


def test_main_reads_stop_scores_and_the_saved_rule(tmp_path) -> None:
    samples = [
        {
            "sample_id": f"s{i}",
            "dialogue_id": p["dialogue"],
            "decision": "stop" if p["stop"] else "continue",
            "p_stop": p["p"],
        }
        for i, p in enumerate(shifted_source())
    ]
    (tmp_path / "stop_scores.json").write_text(json.dumps({"summary": {}, "samples": samples}))
    model = tmp_path / "model"
    model.mkdir()
    rule = {
        "decision": {"threshold": 0.4, "calibration": {"ask_reward_estimate": {"ask_reward": 2.5}}}
    }
    (model / "learn2ask_policy.json").write_text(json.dumps(rule))
    main(
        [
            "--stop-scores",
            str(tmp_path / "stop_scores.json"),
            "--rule",
            str(model),
            "--out",
            str(tmp_path / "out"),
            "--sizes",
            "5",
            "--draws",
            "5",
        ]
    )
    result = json.loads((tmp_path / "out" / "recut_curve.json").read_text())
    assert result["saved_cut"] == 0.4 and result["ask_reward"] == 2.5
    assert result["sizes"][0]["dialogues"] == 5
