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
        "4",
        "--replay-dialogues",
        "1",
        "--sft-steps",
        "1",
        "--grpo-steps",
        "1",
        "--stop-score-samples",
        "6",
    ]
    assert main(args) == 0
    for stage in ("base", "sft", "grpo"):
        metrics = json.loads((tmp_path / "eval" / stage / "metrics.json").read_text())
        assert "ave_total_reward" in metrics
    grpo = json.loads((tmp_path / "runs" / "grpo" / "training_summary.json").read_text())
    assert grpo["config"]["init_from"] == str(tmp_path / "runs" / "sft")
    assert (tmp_path / "report" / "report.html").is_file()
    printed = capsys.readouterr().out
    assert "| ave_total_reward |" in printed and "report.html" in printed
    assert "grpo − sft (paired)" in printed  # what GRPO added over the SFT stage
    assert "| stop_auc |" in printed
    scores = json.loads((tmp_path / "eval" / "sft" / "stop_scores.json").read_text())
    assert len(scores["samples"]) == 6
    base = json.loads((tmp_path / "eval" / "base" / "eval_summary.json").read_text())
    sft = json.loads((tmp_path / "eval" / "sft" / "eval_summary.json").read_text())
    assert base["prompt"] == sft["prompt"]  # base sees the prompt the recipe trains with
    # Every stage's outputs exist: a rerun skips them all.
    assert main(args) == 0
    rerun = capsys.readouterr().out
    assert "train SFT" not in rerun and "evaluate base" not in rerun
