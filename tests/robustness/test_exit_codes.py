"""Finding 6: exit 0 only when the job did what it was asked."""

from __future__ import annotations

import json

import pytest

from learn2ask.errors import ConfigError, FailureRateError, check_failure_rate
from tests.robustness.conftest import assert_one_line_error, chat_line, run_in_process


@pytest.mark.parametrize(
    ("failures", "total", "max_rate"),
    [(0, 10, 0.0), (0, 0, 0.0), (1, 10, 0.1), (10, 10, 1.0)],
)
def test_failures_within_the_limit_pass(failures, total, max_rate):
    check_failure_rate(failures, total, max_rate, "grading")


def test_failures_above_the_limit_exit_3_with_the_counts():
    with pytest.raises(FailureRateError) as caught:
        check_failure_rate(2, 10, 0.1, "grading")
    assert caught.value.exit_code == 3
    assert str(caught.value) == "grading: 2 of 10 failed (20.0%), above --max-failure-rate 0.1"


@pytest.mark.parametrize("max_rate", [-0.1, 1.5])
def test_a_rate_outside_0_1_is_a_config_error(max_rate):
    with pytest.raises(ConfigError, match="--max-failure-rate"):
        check_failure_rate(0, 1, max_rate, "grading")


def grade_argv(prepared, out, endpoint, *extra):
    """``grade`` of the expert's replies with an LLM judge at ``endpoint``."""
    return [
        "grade",
        str(prepared / "train.jsonl"),
        "--responses",
        "expert",
        "--out",
        str(out),
        "--grader",
        "llm",
        "--base-url",
        endpoint.base_url,
        "--model",
        "judge",
        "--max-attempts",
        "1",
        *extra,
    ]


def test_grade_with_every_grade_failed_exits_3_and_keeps_the_record(
    tmp_path, prepared, faulty_endpoint, capsys
):
    faulty_endpoint.mode = "500"
    result = run_in_process(grade_argv(prepared, tmp_path / "g", faulty_endpoint), capsys)
    line = assert_one_line_error(result, "grade", code=3)
    summary = json.loads((tmp_path / "g" / "summary.json").read_text())
    assert summary["grading_failures"] > 0
    assert f"{summary['grading_failures']} of {summary['responses']} failed" in line


def test_grade_failures_allowed_by_max_failure_rate_exit_0(
    tmp_path, prepared, faulty_endpoint, capsys
):
    faulty_endpoint.mode = "500"
    argv = grade_argv(prepared, tmp_path / "g", faulty_endpoint, "--max-failure-rate", "1")
    assert run_in_process(argv, capsys).code == 0


def test_evaluate_with_failed_grades_exits_3(tmp_path, prepared, monkeypatch, capsys):
    import learn2ask.evaluation.pipeline as pipeline

    metrics = {"grading_failures": {"mean": 1, "ci_low": 1, "ci_high": 1, "n_rollouts": 8}}
    monkeypatch.setattr(pipeline, "evaluate_from_args", lambda args: metrics)
    argv = ["evaluate", "--model", "m", "--base-url", "http://127.0.0.1:1/v1"]
    argv += ["--samples", str(prepared / "test.jsonl"), "--out", str(tmp_path / "e")]
    line = assert_one_line_error(run_in_process(argv, capsys), "evaluate", code=3)
    assert "grading: 1 of 8 failed" in line
    assert run_in_process([*argv, "--max-failure-rate", "0.2"], capsys).code == 0


def test_prepare_with_no_training_sample_exits_2_and_writes_nothing(tmp_path, capsys):
    log = tmp_path / "users.jsonl"
    log.write_text(chat_line("u1", [("user", "hello"), ("user", "anyone there?")]) + "\n")
    out = tmp_path / "out"
    line = assert_one_line_error(
        run_in_process(["prepare", str(log), "--out", str(out)], capsys), "prepare"
    )
    assert "no training samples" in line
    assert not out.exists()
