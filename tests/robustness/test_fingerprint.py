"""Finding 1: ``evaluate`` must never reuse rollouts that other settings produced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from learn2ask.errors import ConfigError
from learn2ask.evaluation.fingerprint import (
    FINGERPRINT_FILE,
    check_fingerprint,
    compute_fingerprint,
    evaluation_fingerprint,
    model_identity,
)
from tests.robustness.conftest import assert_one_line_error, run_in_process

BASE = {"model": {"name": "A"}, "sampling": {"temperature": 0.0, "seed": 0}, "grader": "emb"}


def parse_evaluate(*argv: str):
    """The ``evaluate`` namespace the CLI would build."""
    from learn2ask.cli import build_parser, discover_commands

    return build_parser(discover_commands()).parse_args(["evaluate", *argv])


def write_old_outputs(out: Path) -> None:
    """Rollouts and metrics of an earlier run."""
    (out / "rollouts.jsonl").write_text('{"sample_id": "x", "reward": 1.0}\n')
    (out / "metrics.json").write_text('{"reward": 1.0}\n')


def test_same_settings_resume_and_keep_rollouts(tmp_path):
    check_fingerprint(tmp_path, compute_fingerprint(**BASE), overwrite=False)
    write_old_outputs(tmp_path)
    check_fingerprint(tmp_path, compute_fingerprint(**BASE), overwrite=False)
    assert (tmp_path / "rollouts.jsonl").read_text().startswith('{"sample_id": "x"')


def test_other_settings_are_refused_naming_what_differs(tmp_path):
    check_fingerprint(tmp_path, compute_fingerprint(**BASE), overwrite=False)
    write_old_outputs(tmp_path)
    other = {**BASE, "model": {"name": "other"}, "sampling": {"temperature": 0.9, "seed": 0}}
    with pytest.raises(ConfigError) as caught:
        check_fingerprint(tmp_path, compute_fingerprint(**other), overwrite=False)
    message = str(caught.value)
    assert "\n" not in message and "--overwrite" in message
    assert "model.name: 'A' -> 'other'" in message
    assert "sampling.temperature: 0.0 -> 0.9" in message
    assert (tmp_path / "rollouts.jsonl").is_file()
    assert json.loads((tmp_path / FINGERPRINT_FILE).read_text())["model"]["name"] == "A"


def test_overwrite_removes_old_outputs_and_records_new_settings(tmp_path):
    check_fingerprint(tmp_path, compute_fingerprint(**BASE), overwrite=False)
    write_old_outputs(tmp_path)
    (tmp_path / "grades.sqlite").write_text("cache")  # keyed by grader: kept
    other = compute_fingerprint(**{**BASE, "model": {"name": "other"}})
    check_fingerprint(tmp_path, other, overwrite=True)
    assert not (tmp_path / "rollouts.jsonl").exists()
    assert not (tmp_path / "metrics.json").exists()
    assert (tmp_path / "grades.sqlite").exists()
    assert json.loads((tmp_path / FINGERPRINT_FILE).read_text()) == other


@pytest.mark.parametrize("saved", [None, "{not json", "[1, 2]"])
def test_outputs_without_a_readable_record_are_refused(tmp_path, saved):
    write_old_outputs(tmp_path)
    if saved is not None:
        (tmp_path / FINGERPRINT_FILE).write_text(saved)
    with pytest.raises(ConfigError, match="--overwrite"):
        check_fingerprint(tmp_path, compute_fingerprint(**BASE), overwrite=False)


def test_fingerprint_survives_a_round_trip_through_json(tmp_path):
    parts = {"model": ("a", Path("/x")), "sampling": {"t": 1.0, "stop": ("<stop />",)}}
    fingerprint = compute_fingerprint(**parts)
    assert json.loads(json.dumps(fingerprint)) == fingerprint


def baseline(prepared: Path) -> tuple[str, ...]:
    """The options of a first evaluation."""
    return ("--model", "A", "--samples", str(prepared / "test.jsonl"), "--out", "o")


@pytest.mark.parametrize(
    "change",
    [
        ("--model", "B"),
        ("--base-url", "http://127.0.0.1:1/v1"),
        ("--temperature", "0.9"),
        ("--top-p", "0.5"),
        ("--max-new-tokens", "12"),
        ("--seed", "1"),
        ("--n-rollouts", "4"),
        ("--max-context-chars", "300"),
        ("--max-samples", "3"),
        ("--balanced",),
        ("--grader", "llm"),
        ("--fusion", "sum"),
        ("--beta", "1.0"),
    ],
)
def test_every_setting_that_shapes_rollouts_changes_the_fingerprint(change, prepared):
    before = evaluation_fingerprint(parse_evaluate(*baseline(prepared)))
    after = evaluation_fingerprint(parse_evaluate(*baseline(prepared), *change))
    assert before != after


def test_settings_that_do_not_shape_rollouts_keep_the_fingerprint(prepared):
    before = evaluation_fingerprint(parse_evaluate(*baseline(prepared)))
    after = evaluation_fingerprint(
        parse_evaluate(*baseline(prepared), "--batch-size", "2", "--name", "x")
    )
    assert before == after


def test_a_retrained_model_in_the_same_directory_is_another_model(tmp_path):
    (tmp_path / "config.json").write_text('{"a": 1}')
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"0" * 10)
    first = model_identity(tmp_path)
    weights.write_bytes(b"0" * 11)
    assert first is not None and model_identity(tmp_path) != first
    assert model_identity("smollm2-135m-instruct") is None


def test_evaluate_cli_refuses_before_sending_a_request(tmp_path, prepared, faulty_endpoint, capsys):
    out = tmp_path / "eval"
    samples = str(prepared / "test.jsonl")
    first = parse_evaluate("--model", "A", "--samples", samples, "--out", str(out))
    check_fingerprint(out, evaluation_fingerprint(first), overwrite=False)
    write_old_outputs(out)
    argv = ["evaluate", "--model", "other", "--base-url", faulty_endpoint.base_url]
    argv += ["--temperature", "0.9", "--samples", samples, "--out", str(out)]
    line = assert_one_line_error(run_in_process(argv, capsys), "evaluate")
    assert "model.name: 'A' -> 'other'" in line
    assert faulty_endpoint.requests == 0
    assert (out / "metrics.json").read_text() == '{"reward": 1.0}\n'


def test_evaluate_cli_overwrite_starts_over(tmp_path, prepared, monkeypatch, capsys):
    import learn2ask.evaluation.pipeline as pipeline

    out = tmp_path / "eval"
    out.mkdir()
    write_old_outputs(out)
    seen = {}

    def evaluate_from_args(args):  # the pipeline itself is tested in tests/evaluation
        seen["rollouts_left"] = (args.out / "rollouts.jsonl").exists()
        return {}

    monkeypatch.setattr(pipeline, "evaluate_from_args", evaluate_from_args)
    argv = ["evaluate", "--model", "other", "--base-url", "http://127.0.0.1:1/v1", "--overwrite"]
    argv += ["--samples", str(prepared / "test.jsonl"), "--out", str(out)]
    assert run_in_process(argv, capsys).code == 0
    assert seen == {"rollouts_left": False}
    assert json.loads((out / FINGERPRINT_FILE).read_text())["model"]["name"] == "other"


def test_missing_samples_are_refused_before_out_is_touched(tmp_path, capsys):
    out = tmp_path / "eval"
    argv = ["evaluate", "--model", "m", "--base-url", "http://127.0.0.1:1/v1"]
    argv += ["--samples", str(tmp_path / "nope.jsonl"), "--out", str(out)]
    assert "nope.jsonl: file not found" in assert_one_line_error(
        run_in_process(argv, capsys), "evaluate"
    )
    assert not out.exists()


def test_other_samples_are_other_rollouts(tmp_path, prepared):
    copy = tmp_path / "test.jsonl"
    copy.write_text((prepared / "test.jsonl").read_text().splitlines()[0] + "\n")
    before = evaluation_fingerprint(parse_evaluate(*baseline(prepared)))
    after = evaluation_fingerprint(
        parse_evaluate("--model", "A", "--samples", str(copy), "--out", "o")
    )
    assert before["samples"] != after["samples"]
