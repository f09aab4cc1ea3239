"""evaluate (per-turn + replay) and report, end to end on the tiny model."""

from __future__ import annotations

import json

import pytest

from learn2ask.cli import main
from learn2ask.data.prepare import PrepareConfig, prepare_dataset
from learn2ask.evaluation.rollouts import EvalConfig, select_eval_samples
from learn2ask.targets.qa import QAExtractor
from tests.conftest import MTS_VALIDATION


@pytest.fixture(scope="module")
def test_samples(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval-samples")
    prepare_dataset(
        PrepareConfig(inputs=(MTS_VALIDATION,), out=out, test_fraction=0.3), QAExtractor()
    )
    return out / "test.jsonl"


def test_balanced_selection(test_samples):
    from learn2ask.data.samples import load_samples

    chosen = select_eval_samples(
        load_samples(test_samples), EvalConfig(name="x", max_samples=10, balanced=True)
    )
    assert (
        sum(s.decision == "stop" for s in chosen)
        == sum(s.decision == "continue" for s in chosen)
        == 5
    )


@pytest.mark.slow
def test_evaluate_resume_and_report(tiny_model_dir, test_samples, tmp_path):
    out = tmp_path / "eval"
    args = [
        "evaluate",
        "--model",
        str(tiny_model_dir),
        "--samples",
        str(test_samples),
        "--out",
        str(out),
        "--max-samples",
        "6",
        "--balanced",
        "--n-rollouts",
        "2",
        "--temperature",
        "1.0",
        "--max-new-tokens",
        "6",
        "--replay",
        "--replay-dialogues",
        "2",
        "--replay-turns",
        "2",
        "--name",
        "tiny",
        "--max-context-chars",
        "200",
        "--stop-probs",
    ]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"ave_total_reward", "ave_stop_decision", "grading_failures"}
    assert all({"mean", "ci_low", "ci_high"} <= set(v) for v in metrics.values())
    summary = json.loads((out / "eval_summary.json").read_text())
    assert summary["prompt"]["max_context_chars"] == 200
    rollouts = (out / "rollouts.jsonl").read_text().splitlines()
    assert len(rollouts) == 12  # 6 samples x 2 rollouts
    replay = json.loads((out / "replay_metrics.json").read_text())
    assert replay["dialogues"] == 2 and 0.0 <= replay["coverage"]["mean"] <= 1.0
    stop_scores = json.loads((out / "stop_scores.json").read_text())
    assert len(stop_scores["samples"]) == 6
    assert all(0.0 < row["p_stop"] < 1.0 for row in stop_scores["samples"])
    assert 0.0 <= stop_scores["summary"]["stop_auc"]["mean"] <= 1.0
    # A rerun finds every rollout written and generates nothing new.
    assert main(args) == 0
    assert (out / "rollouts.jsonl").read_text().splitlines() == rollouts

    report_dir = tmp_path / "report"
    assert (
        main(
            ["report", str(out), str(out), "--out", str(report_dir), "--samples", str(test_samples)]
        )
        == 0
    )
    html = (report_dir / "report.html").read_text()
    assert "data:image/png;base64," in html and "ave_total_reward" in html
    assert str(out / "metrics.json") in html  # every figure names its source file
    assert (report_dir / "metrics.png").is_file()
    assert "| ave_total_reward |" in (report_dir / "report.md").read_text()
    assert "| stop_auc |" in (report_dir / "report.md").read_text()
    assert str(out / "stop_scores.json") in html


def test_report_on_missing_run_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    assert "metrics.json: missing" in capsys.readouterr().err


@pytest.mark.slow
def test_the_issue_check_command_writes_eval_name_without_out(
    tiny_model_dir, test_samples, tmp_path, monkeypatch
):
    """``learn2ask evaluate --model RUN --samples FILE --balanced --max-samples N --stop-probs``
    as written, no --out: the results land in eval/<run name> under the working directory."""
    import shutil

    run = tmp_path / "runs" / "grpo"
    shutil.copytree(tiny_model_dir, run / "model")
    monkeypatch.chdir(tmp_path)
    command = ["evaluate", "--model", "runs/grpo", "--samples", str(test_samples)]
    command += ["--balanced", "--max-samples", "4", "--stop-probs", "--max-new-tokens", "4"]
    assert main(command) == 0
    out = tmp_path / "eval" / "grpo"
    rows = [json.loads(line) for line in (out / "rollouts.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all({"dialogue_id", "decision", "reward"} <= set(r) for r in rows)
    stop_scores = json.loads((out / "stop_scores.json").read_text())
    assert 0.0 <= stop_scores["summary"]["stop_auc"]["mean"] <= 1.0


def test_default_eval_dir_names_the_run():
    from pathlib import Path

    from learn2ask.evaluation.cli import default_eval_dir

    assert default_eval_dir("Qwen/Qwen2.5-0.5B-Instruct") == Path("eval/Qwen_Qwen2.5-0.5B-Instruct")
    assert default_eval_dir("smollm2-135m-instruct") == Path("eval/smollm2-135m-instruct")
