"""Finding 5: realistic bad inputs and environments end in exit 2 and one line, not a
traceback (the end-to-end cases are in test_probe.py; these pin the pieces)."""

from __future__ import annotations

import errno

import pytest

from learn2ask.errors import ConfigError, InputError, OutputError, one_line
from learn2ask.io import ensure_output_dir, load_yaml, parse_json, read_jsonl
from tests.robustness.conftest import assert_one_line_error, run_in_process
from tests.robustness.test_probe import deep_json, fault_read_only_filesystem

DEEP = deep_json()


def test_deeply_nested_json_is_an_input_error_naming_the_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n' + DEEP + "\n")
    with pytest.raises(InputError, match=r"rows\.jsonl:2: JSON nested too deeply"):
        read_jsonl(path)
    with pytest.raises(InputError, match="nested too deeply"):
        parse_json(DEEP, path, 1)


def test_recursion_anywhere_else_is_still_one_line(monkeypatch, capsys):
    import learn2ask.data.cli as data_cli
    from learn2ask.commands import Command

    def explode(args):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(
        data_cli,
        "COMMANDS",
        [Command("prepare", "p", data_cli.add_prepare_arguments, explode)],
    )
    result = run_in_process(["prepare", "x.jsonl", "--out", "o"], capsys)
    assert "nested too deeply" in assert_one_line_error(result, "prepare")


def test_multi_line_messages_are_folded_onto_one_line():
    assert one_line("bad.yaml: not valid YAML (while parsing\n  in line 1\n\n  ^)") == (
        "bad.yaml: not valid YAML (while parsing; in line 1; ^)"
    )


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(ConfigError) as caught:
        load_yaml(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:") and "not valid YAML" in message
    assert "\n" not in message


def test_out_naming_a_file_is_refused_before_any_work(tmp_path):
    taken = tmp_path / "file.txt"
    taken.write_text("keep")
    with pytest.raises(OutputError, match="not a directory"):
        ensure_output_dir(taken)
    with pytest.raises(OutputError, match="not a directory"):
        ensure_output_dir(taken / "sub", create=False)
    assert taken.read_text() == "keep"


def test_read_only_output_writes_nothing(tmp_path, chat_log, monkeypatch, capsys):
    out = tmp_path / "ro" / "out"
    fault_read_only_filesystem(monkeypatch)
    result = run_in_process(["prepare", str(chat_log), "--out", str(out)], capsys)
    monkeypatch.undo()
    assert "Read-only file system" in assert_one_line_error(result, "prepare")
    assert not (tmp_path / "ro").exists()


def test_programming_errors_are_not_hidden(monkeypatch, capsys):
    import learn2ask.data.cli as data_cli
    from learn2ask.commands import Command

    def explode(args):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(
        data_cli, "COMMANDS", [Command("prepare", "p", data_cli.add_prepare_arguments, explode)]
    )
    with pytest.raises(OSError):
        run_in_process(["prepare", "x.jsonl", "--out", "o"], capsys)


def test_grade_refuses_a_lone_surrogate_before_loading_a_grader(tmp_path, prepared, capsys):
    import json

    sample_id = json.loads((prepared / "train.jsonl").read_text().splitlines()[0])["id"]
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"id": sample_id, "response": "why \ud800?"}) + "\n")
    argv = ["grade", str(prepared / "train.jsonl"), "--responses", str(path), "--out", "o"]
    line = assert_one_line_error(run_in_process(argv, capsys), "grade")
    assert line.endswith("r.jsonl:1: 'response' holds a lone surrogate (not valid Unicode text)")


def test_bad_action_pattern_is_refused_before_reading_inputs(tmp_path, capsys):
    argv = ["prepare", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")]
    line = assert_one_line_error(
        run_in_process([*argv, "--action-pattern", "a["], capsys), "prepare"
    )
    assert "--action-pattern 'a[': not a valid regular expression" in line
