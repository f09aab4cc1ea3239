"""The report renders from plain run directories in the real on-disk format (no model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from learn2ask.cli import main
from learn2ask.evaluation.metrics import compute_metrics, paired_difference
from learn2ask.io import write_json_atomic, write_jsonl_atomic


def rollout(dialogue: str, index: int, decision: str, stopped: bool, r_a: float = 0.0) -> dict:
    right = (decision == "stop") == stopped
    r_a = (1.0 if decision == "stop" else r_a) if right else 0.0
    p = 1.0 if right else 0.0
    return {
        "sample_id": f"{dialogue}_{index}",
        "dialogue_id": dialogue,
        "decision": decision,
        "rollout": 0,
        "response": "<stop />" if stopped else "Any fever?",
        "assessment": "stop" if stopped else "continue",
        "violation": None,
        "r_a": r_a,
        "r_s": float(right),
        "p": p,
        "reward": float(right) * (1 + 2 * r_a) + p,
        "error": None,
    }


def make_run(root: Path, name: str, stops: bool, train_log: list[dict] | None = None) -> Path:
    """An evaluation dir as `learn2ask evaluate` writes it (and a training dir if logged)."""
    model = root / "runs" / name
    if train_log is not None:
        write_jsonl_atomic(model / "train_log.jsonl", train_log)
    rows = [rollout(f"D{d}", 0, "continue", stops, r_a=0.5) for d in range(6)]
    rows += [rollout(f"D{d}", 1, "stop", stops) for d in range(6)]
    out = root / "eval" / name
    write_jsonl_atomic(out / "rollouts.jsonl", rows)
    write_json_atomic(out / "metrics.json", compute_metrics(rows, n_boot=200))
    write_json_atomic(
        out / "eval_summary.json",
        {
            "name": name,
            "model": str(model),
            "samples": 12,
            "stop_samples": 6,
            "dialogues": 6,
            "grader": "embedding-test",
            "seconds": 1.0,
        },
    )
    episode = {
        "dialogue_id": "D0",
        "items": 2,
        "elicited": 1,
        "coverage": 0.5,
        "questions": 1,
        "stopped": True,
        "premature_stop": True,
        "late_stop": False,
        "repeats": 0,
        "turns": [{"expert": "Any fever?", "user": "No."}, {"expert": "<stop />", "user": None}],
    }
    write_jsonl_atomic(out / "replay.jsonl", [episode])
    stat = {"mean": 0.5, "ci_low": 0.5, "ci_high": 0.5}
    write_json_atomic(
        out / "replay_metrics.json",
        {
            "dialogues": 1,
            "coverage": stat,
            "turns_used": stat,
            "premature_stop_rate": stat,
            "late_stop_rate": stat,
            "repeated_question_rate": 0.0,
        },
    )
    return out


def test_paired_difference_uses_common_dialogues():
    old = [rollout("A", 0, "stop", False), rollout("B", 0, "stop", False)]
    new = [
        rollout("A", 0, "stop", True),
        rollout("B", 0, "stop", False),
        rollout("C", 0, "stop", True),
    ]  # C was not evaluated by `old`: left out
    diff = paired_difference(new, old, n_boot=200)
    assert diff["ave_stop_decision"]["mean"] == pytest.approx(0.5)
    assert diff["ave_stop_decision"]["n_dialogues"] == 2
    assert diff["ave_stop_decision"]["ci_low"] == 0.0
    assert diff["ave_stop_decision"]["ci_high"] == 1.0
    assert diff["ave_continue_decision"]["mean"] is None  # no CONTINUE samples at all


def test_report_from_fake_runs_traces_every_figure(tmp_path, capsys):
    base = make_run(tmp_path, "base", stops=False)
    trained = make_run(
        tmp_path,
        "grpo",
        stops=True,
        train_log=[{"step": s, "loss": 0.1, "reward": 1.0 + s} for s in (1, 2)],
    )
    report_dir = tmp_path / "report"
    assert (
        main(["report", str(base), str(trained), "--out", str(report_dir), "--diff", "grpo:base"])
        == 0
    )
    printed = capsys.readouterr().out
    # base always asks (0.5 content): continue 1+2*0.5+1 = 3, stop 0 -> 1.5; grpo always
    # stops: continue 0, stop 4 -> 2.0, which is exactly the always-stop reference column;
    # the paired difference is +0.5 in every dialogue.
    assert (
        "| ave_total_reward | 1.500 [1.500, 1.500] | 2.000 [2.000, 2.000] | "
        "2.000 [2.000, 2.000] | 0.500 [0.500, 0.500] |" in printed
    )
    # every dialogue has one point of each kind: pooled over samples, the same figures
    assert (
        "| ave_total_reward_pooled | 1.500 [1.500, 1.500] | 2.000 [2.000, 2.000] | "
        "2.000 [2.000, 2.000] | 0.500 [0.500, 0.500] |" in printed
    )
    assert "always <stop /> (reference)" in printed
    assert "grpo − base (paired)" in printed
    html = (report_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2  # metric bars + reward curves
    for source in (
        "eval/base/metrics.json",
        "eval/grpo/rollouts.jsonl",
        "runs/grpo/train_log.jsonl",
        "eval/grpo/replay.jsonl",
    ):
        assert str(tmp_path / source) in html
    assert "Replayed conversations" in html and "coverage 0.50 (1/2 items)" in html
    md = (report_dir / "report.md").read_text()
    assert "![reward curves](reward_curves.png)" in md
    assert (report_dir / "reward_curves.png").stat().st_size > 0


def test_report_diff_with_unknown_run_is_a_clear_error(tmp_path, capsys):
    base = make_run(tmp_path, "base", stops=False)
    assert main(["report", str(base), "--out", str(tmp_path / "r"), "--diff", "sft:base"]) == 2
    assert "unknown run(s) ['sft']" in capsys.readouterr().err
    assert not (tmp_path / "r" / "report.html").exists()


def test_metrics_json_format(tmp_path):
    run = make_run(tmp_path, "base", stops=False)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["ave_stop_decision"] == {
        "mean": 0.0,
        "ci_low": 0.0,
        "ci_high": 0.0,
        "n_dialogues": 6,
    }
