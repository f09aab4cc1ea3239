"""``benchmarks/tune_head_crossfit.py``: it must score only points the LM never trained on, and
no point with a head that trained on its dialogue."""

from __future__ import annotations

import numpy as np
import pytest
from benchmarks.tune_head_crossfit import (
    always_stop_by_dialogue,
    balanced_accuracy_by_source,
    calibration_size,
    crossfit_head,
    crossfit_lexical,
    dialogue_folds,
    dialogue_rewards,
    held_out_decisions,
    lm_unseen_points,
    paired_dialogue_difference,
    per_source_differences,
    read_point_scores,
    rule_variants,
    write_point_scores,
)
from benchmarks.tune_stop_head import fit_and_score

from learn2ask.training.threshold import stop_auc
from tests.training.conftest import labelled_point as point


def test_points_of_dialogues_the_lm_trained_on_are_left_out() -> None:
    pool = [point("a", 0, True), point("a", 1, False), point("b", 0, True)]
    lm_trained = [pool[1]]  # one point of dialogue a: all of a is out
    validation = [point("c", 0, False)]
    assert [s.id for s in lm_unseen_points(pool, lm_trained, validation)] == ["c-0", "b-0"]


def test_folds_split_the_dialogues() -> None:
    points = [point(f"d{i}", j, j == 0) for i in range(11) for j in range(3)]
    folds = dialogue_folds(points, 4, seed=0)
    assert len(folds) == 4
    assert set().union(*folds) == {f"d{i}" for i in range(11)}
    assert sum(len(f) for f in folds) == 11


def test_no_point_is_scored_by_a_head_that_trained_on_its_dialogue() -> None:
    # Each dialogue's points carry a column of their own (a one-hot of the dialogue) and one
    # label: a head that saw the dialogue separates its points perfectly, one that did not
    # has nothing to go on.
    dialogues = [f"d{i}" for i in range(20)]
    train = [point(d, j, i % 2 == 0) for i, d in enumerate(dialogues) for j in range(3)]
    x = np.array([[1.0 if s.dialogue_id == d else 0.0 for d in dialogues] for s in train])
    is_stop = [s.decision == "stop" for s in train]
    folds = dialogue_folds(train, 5, seed=0)
    crossfitted = crossfit_head(x, train, x, train, folds, c=10.0)
    in_sample = fit_and_score(x, is_stop, x, c=10.0)
    assert stop_auc(in_sample, is_stop) == pytest.approx(1.0)  # the head that saw them
    assert stop_auc(crossfitted, is_stop) < 0.7


def test_no_point_is_scored_by_a_lexical_term_that_trained_on_its_dialogue() -> None:
    # The same check for the lexical term: each dialogue's contexts carry a word of their own.
    from dataclasses import replace

    from learn2ask.data.types import Turn
    from learn2ask.models.lexical_head import LexicalStopClassifier

    train = [
        replace(point(f"d{i}", j, i % 2 == 0), context=[Turn("user", f"hello word{i}")])
        for i in range(20)
        for j in range(3)
    ]
    is_stop = [s.decision == "stop" for s in train]
    in_sample = LexicalStopClassifier().fit(train).logits([s.context for s in train])
    assert stop_auc(in_sample, is_stop) == pytest.approx(1.0)
    crossfitted = crossfit_lexical(train, train, dialogue_folds(train, 5, seed=0))
    assert stop_auc(crossfitted, is_stop) < 0.7


def test_held_out_rewards_and_their_paired_difference() -> None:
    points = [point(f"d{i}", 0, i % 2 == 0) for i in range(40)]
    fused = [[2.0 if s.decision == "stop" else -2.0] for s in points]
    fused[1] = [3.0]  # one CONTINUE point looks like a STOP point
    halves = held_out_decisions(fused, points, ask_reward=2.5, splits=10)
    for held, stops in halves:  # decided only on the dialogues the fit did not see
        assert len(held) == len(stops) == 20
    rewards = dialogue_rewards(halves, points, ask_reward=2.5)
    # separable but for point 1: every other decision right wherever it was held out
    assert rewards == {
        s.dialogue_id: (4.0 if s.decision == "stop" else 0.0 if s.dialogue_id == "d1" else 2.5)
        for s in points
    }
    accuracy = balanced_accuracy_by_source(halves, points)
    assert list(accuracy.values())[0] == pytest.approx((1.0 + 19 / 20) / 2, abs=0.03)
    same = paired_dialogue_difference(rewards, rewards, sorted(rewards))
    assert same == {"mean": 0.0, "ci": [0.0, 0.0], "dialogues": 40}
    always_wrong = {d: 0.0 for d in rewards}
    worse = paired_dialogue_difference(always_wrong, rewards, sorted(rewards))
    assert worse["mean"] == pytest.approx(-(20 * 4.0 + 19 * 2.5) / 40)
    assert worse["ci"][1] < 0


def test_always_stop_per_dialogue_and_differences_within_each_source() -> None:
    points = [point("a", 0, True), point("b", 0, True), point("b", 1, False)]
    points[2].meta["format"] = "other"  # dialogue b's second point from another source
    assert always_stop_by_dialogue(points) == {"a": 4.0, "b": 2.0}
    policy = {"a": 4.0, "b": 3.0}
    rows = per_source_differences(policy, always_stop_by_dialogue(points), points)
    assert rows["all"]["mean"] == pytest.approx(0.5)
    assert rows["other"] == {"mean": 1.0, "ci": [1.0, 1.0], "dialogues": 1}


def test_rule_variants_and_point_scores_round_trip(tmp_path) -> None:
    points = [point("a", 0, True), point("b", 0, True), point("b", 1, False)]
    lm, head = [1.0, 0.5, -1.0], [2.0, 0.0, -2.0]
    variants = rule_variants(lm, head, points)
    assert variants["fitted fusion"][0] == [[1.0, 2.0], [0.5, 0.0], [-1.0, -2.0]]
    assert variants["equal fusion, points weighted per dialogue"][1] == [1.0, 0.5, 0.5]
    assert variants["LM alone"] == ([[1.0], [0.5], [-1.0]], None)
    write_point_scores(tmp_path / "points.jsonl", points, lm, {0.001: head})
    assert read_point_scores(tmp_path / "points.jsonl", points, [0.001]) == (lm, {0.001: head})
    with pytest.raises(SystemExit, match="other points"):
        read_point_scores(tmp_path / "points.jsonl", points[:2], [0.001])
    with pytest.raises(SystemExit, match="no head scores"):
        read_point_scores(tmp_path / "points.jsonl", points, [0.01])


def test_a_cut_on_fewer_calibration_points_is_compared_with_the_whole_half() -> None:
    points = [point(f"d{i}", 0, i % 2 == 0) for i in range(40)]
    fused = [[2.0 if s.decision == "stop" else -2.0] for s in points]
    rows = calibration_size(fused, points, ask_reward=2.5, splits=5, sizes=(10, 400))
    assert set(rows) == {"whole half", "10", "400"}
    # separable: ten points cut it as well as twenty, and 400 is the whole half
    for size in ("10", "400"):
        assert rows[size]["per_dialogue_minus_whole_half"]["all"]["mean"] == 0.0
        assert rows[size]["balanced_accuracy"] == rows["whole half"]["balanced_accuracy"]
