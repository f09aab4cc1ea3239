"""The demo's orchestration on a tiny model (the real demo is `make demo`)."""

from __future__ import annotations

import json

import pytest

from learn2ask.cli import main

pytestmark = pytest.mark.slow


def test_miniature_demo_runs_every_stage_and_resumes(tiny_model_dir, tmp_path, capsys):
    args = [
        "demo",
        "--out",
        str(tmp_path),
        "--model",
        str(tiny_model_dir),
        "--eval-samples",
        "6",
        "--natural-samples",
        "6",
        "--transfer-samples",
        "4",
        "--replay-dialogues",
        "1",
        "--train-steps",
        "2",
        "--fit-points",
        "80",
    ]
    assert main(args) == 0
    for stage, points in (("base", 6), ("decision", 6), ("decision-natural", 6)):
        metrics = json.loads((tmp_path / "eval" / stage / "metrics.json").read_text())
        rollouts = (tmp_path / "eval" / stage / "rollouts.jsonl").read_text().splitlines()
        assert len(rollouts) == points
        reward = metrics["ave_total_reward"]
        assert 0.0 <= reward["ci_low"] <= reward["mean"] <= reward["ci_high"] <= 5.0
    # The trained model carries its calibrated rule, and evaluation uses it by default.
    summary = json.loads((tmp_path / "eval" / "decision" / "eval_summary.json").read_text())
    assert summary["decision_rule"]["rule"] == "threshold"
    training = json.loads((tmp_path / "runs" / "decision" / "training_summary.json").read_text())
    assert training["question_memory"]["points"] == 80
    assert 0 < training["stop_head"]["train_points"] <= 80  # --fit-points caps the head too
    assert training["decision_rule"]["calibration"]["points"] <= 80  # and its calibration
    rows = [json.loads(x) for x in rollouts]
    assert all(r["rule"] == "threshold" and r["p_stop"] is not None for r in rows)
    natural = json.loads((tmp_path / "eval" / "decision-natural" / "eval_summary.json").read_text())
    assert natural["eval"]["balanced"] is False
    references = json.loads((tmp_path / "eval" / "decision" / "references.json").read_text())
    assert references["always_stop"]["metrics"]["ave_stop_decision"]["mean"] == 1.0
    assert references["always_ask"]["metrics"]["ave_continue_decision"]["mean"] == 1.0
    assert "classifier_stop_auc" in references
    assert references["classifier_train_points"] <= 80
    best = references["best_logged_question"]
    assert best.endswith("?") and best != references["generic_question"]
    assert references["always_ask_best"]["metrics"]["ave_continue_decision"]["mean"] == 1.0
    scores = json.loads((tmp_path / "eval" / "decision" / "stop_scores.json").read_text())
    assert len(scores["samples"]) == 6 and "balanced_accuracy_at_threshold" in scores["summary"]
    # stop_scores.json holds the very P(stop) the rule decided with (read off the rollouts)
    decided_rows = (tmp_path / "eval" / "decision" / "rollouts.jsonl").read_text().splitlines()
    decided = {json.loads(x)["sample_id"]: json.loads(x)["p_stop"] for x in decided_rows}
    assert {r["sample_id"]: r["p_stop"] for r in scores["samples"]} == decided
    base = json.loads((tmp_path / "eval" / "base" / "eval_summary.json").read_text())
    assert base["prompt"] == summary["prompt"]  # base sees the prompt the recipe trains with
    printed = capsys.readouterr().out
    assert "| ave_total_reward |" in printed and "report.html" in printed
    assert "decision − always <stop /> (paired)" in printed
    assert "decision − always ask best logged question (paired)" in printed
    assert "| stop_auc |" in printed
    # Every stage's outputs exist: a rerun skips them all.
    assert main(args) == 0
    rerun = capsys.readouterr().out
    assert "train decision_sft" not in rerun and "evaluate base" not in rerun
    # Resuming with other settings would report the old run's figures: refused, nothing run.
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main([*args, "--seed", "7"]) == 2
    captured = capsys.readouterr()
    assert "demo_settings.json" in captured.err and "seed=7" in captured.err
    assert "[demo" not in captured.out
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
