"""Metrics under the authors' names: per-sample then per-dialogue averaging, bootstrap CIs."""

from __future__ import annotations

import pytest

from learn2ask.evaluation.metrics import METRIC_NAMES, bootstrap_ci, compute_metrics, roc_auc


def row(dialogue, sample, decision, r_a, r_s, p, reward, rollout=0):
    return {
        "dialogue_id": dialogue,
        "sample_id": sample,
        "decision": decision,
        "rollout": rollout,
        "r_a": r_a,
        "r_s": r_s,
        "p": p,
        "reward": reward,
    }


def test_hand_computed_metrics():
    rows = [
        # dialogue A: one CONTINUE sample with two rollouts, one STOP sample
        row("A", "A_0", "continue", 1.0, 1.0, 1.0, 4.0, 0),
        row("A", "A_0", "continue", 0.0, 0.0, 0.0, 0.0, 1),
        row("A", "A_1", "stop", 1.0, 1.0, 1.0, 4.0),
        # dialogue B: one CONTINUE sample answered with a half-relevant question
        row("B", "B_0", "continue", 0.5, 1.0, 0.5, 2.5),
    ]
    m = compute_metrics(rows, n_boot=200)
    # A_0 averages its rollouts (0.5); dialogue A's content = 0.5, B's = 0.5.
    assert m["ave_continue_content"]["mean"] == pytest.approx(0.5)
    assert m["win_continue_content"]["mean"] == pytest.approx((0.5 + 0.0) / 2)
    assert m["ave_continue_decision"]["mean"] == pytest.approx((0.5 + 1.0) / 2)
    assert m["ave_stop_decision"]["mean"] == pytest.approx(1.0)
    assert m["ave_stop_decision"]["n_dialogues"] == 1
    # total reward: dialogue A = mean(A_0=2.0, A_1=4.0) = 3.0; B = 2.5 -> 2.75
    assert m["ave_total_reward"]["mean"] == pytest.approx(2.75)
    assert m["ave_total_format"]["mean"] == pytest.approx(((0.5 + 1.0) / 2 + 0.5) / 2)
    # "if correct": only rollouts that asked; A_0 keeps its first rollout (1.0), B_0 has 0.5.
    assert m["ave_continue_content_if_correct"]["mean"] == pytest.approx(0.75)
    assert m["win_continue_content_if_correct"]["mean"] == pytest.approx(0.5)
    for name in METRIC_NAMES:
        stat = m[name]
        assert stat["ci_low"] <= stat["mean"] <= stat["ci_high"]


def test_long_dialogue_does_not_outweigh_short_ones():
    long_dialogue = [row("L", f"L_{i}", "stop", 1.0, 1.0, 1.0, 4.0) for i in range(20)]
    short = [row("S", "S_0", "stop", 0.0, 0.0, 0.0, 0.0)]
    assert compute_metrics(long_dialogue + short)["ave_total_reward"]["mean"] == 2.0


def test_pooled_total_reward_weighs_every_sample_and_pairs_by_sample():
    from learn2ask.evaluation.metrics import paired_difference

    long_dialogue = [row("L", f"L_{i}", "stop", 1.0, 1.0, 1.0, 4.0) for i in range(20)]
    # a sample's rollouts are averaged first: S_0 counts once, at 1.0
    short = [row("S", "S_0", "stop", 0.0, 0.0, 0.0, r, k) for k, r in enumerate((0.0, 2.0))]
    m = compute_metrics(long_dialogue + short)
    assert m["ave_total_reward"]["mean"] == 2.5  # dialogues alike: (4 + 1) / 2
    pooled = m["ave_total_reward_pooled"]
    assert pooled["mean"] == round(81 / 21, 4)  # samples alike
    assert pooled["n_dialogues"] == 2
    assert pooled["ci_low"] <= pooled["mean"] <= pooled["ci_high"]
    # resampling dialogues: the interval runs from "only S" to "only L"
    assert pooled["ci_low"] >= 1.0 and pooled["ci_high"] <= 4.0
    assert compute_metrics(long_dialogue)["ave_total_reward_pooled"]["ci_low"] == 4.0
    # paired: per sample, over the samples both runs have; the extra sample X_0 is left out
    older = [{**r, "reward": r["reward"] - 1.0} for r in long_dialogue + short]
    extra = [row("X", "X_0", "stop", 1.0, 1.0, 1.0, 4.0)]
    diff = paired_difference(long_dialogue + short + extra, older)["ave_total_reward_pooled"]
    assert diff["mean"] == 1.0 and diff["n_dialogues"] == 2


def test_grading_failures_are_excluded_and_counted():
    rows = [
        row("A", "A_0", "continue", None, 1.0, 1.0, None),
        row("A", "A_1", "continue", 1.0, 1.0, 1.0, 4.0),
    ]
    m = compute_metrics(rows)
    assert m["ave_total_reward"]["mean"] == 4.0
    assert m["grading_failures"]["mean"] == 1


def test_bootstrap_ci_brackets_mean_and_is_seeded():
    values = [0.0, 1.0] * 20
    low, high = bootstrap_ci(values, seed=1)
    assert low < 0.5 < high
    assert (low, high) == bootstrap_ci(values, seed=1)
    assert bootstrap_ci([3.0]) == (3.0, 3.0)


def test_resume_drops_incomplete_samples_and_torn_lines(tmp_path):
    import json

    from learn2ask.evaluation.rollouts import resume_rollouts

    path = tmp_path / "rollouts.jsonl"
    full = [row("A", "A_0", "stop", 1.0, 1.0, 1.0, 4.0, k) for k in range(2)]
    half = [row("B", "B_0", "stop", 1.0, 1.0, 1.0, 4.0, 0)]
    path.write_text("".join(json.dumps(r) + "\n" for r in full + half) + '{"sample_id": "C')
    assert resume_rollouts(path, n_rollouts=2) == full
    # The file now holds only whole samples, so appending after it is safe.
    assert [json.loads(x) for x in path.read_text().splitlines()] == full


def test_roc_auc_counts_every_pair_and_ties_half():
    import random

    rng = random.Random(3)
    # values on a coarse grid, so many positive-negative pairs tie
    positives = [rng.randint(0, 9) / 10 for _ in range(57)]
    negatives = [rng.randint(0, 9) / 10 for _ in range(43)]
    pairs = [(p > n) + 0.5 * (p == n) for p in positives for n in negatives]
    assert roc_auc(positives, negatives) == sum(pairs) / len(pairs)
    assert roc_auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert roc_auc([0.1], [0.1, 0.9]) == 0.25
