"""All outputs of one command appear together or not at all."""

from __future__ import annotations

import errno
import os

import pytest

from learn2ask.errors import OutputError
from learn2ask.io import staged_outputs, write_json_atomic
from tests.robustness.conftest import assert_one_line_error, run_in_process
from tests.robustness.test_probe import fault_disk_full_on_second_file, setup_grade_for_faults

PREPARE_SET = ("train.jsonl", "test.jsonl", "stats.json")


def hidden_leftovers(out):
    """Staging directories or temporary files left in ``out``."""
    return [p.name for p in out.iterdir() if p.name.startswith(".")] if out.exists() else []


def test_disk_full_midway_leaves_no_partial_prepare_set(tmp_path, chat_log, monkeypatch, capsys):
    out = tmp_path / "out"
    fault_disk_full_on_second_file(monkeypatch)
    result = run_in_process(["prepare", str(chat_log), "--out", str(out)], capsys)
    monkeypatch.undo()
    assert "No space left on device" in assert_one_line_error(result, "prepare")
    assert not any((out / name).exists() for name in PREPARE_SET)
    assert hidden_leftovers(out) == []


def test_a_failed_rerun_keeps_the_earlier_complete_set(tmp_path, chat_log, monkeypatch, capsys):
    out = tmp_path / "out"
    assert run_in_process(["prepare", str(chat_log), "--out", str(out)], capsys).code == 0
    before = {name: (out / name).read_bytes() for name in PREPARE_SET}
    fault_disk_full_on_second_file(monkeypatch)
    argv = ["prepare", str(chat_log), "--out", str(out), "--seed", "7"]
    assert run_in_process(argv, capsys).code == 2
    monkeypatch.undo()
    assert {name: (out / name).read_bytes() for name in PREPARE_SET} == before
    assert hidden_leftovers(out) == []


def test_disk_full_midway_leaves_no_partial_grade_set(
    tmp_path, prepared, faulty_endpoint, monkeypatch, capsys
):
    argv = setup_grade_for_faults(tmp_path, prepared, faulty_endpoint)
    fault_disk_full_on_second_file(monkeypatch)
    result = run_in_process(argv, capsys)
    monkeypatch.undo()
    assert_one_line_error(result, "grade")
    out = tmp_path / "grades"
    assert not (out / "scores.jsonl").exists() and not (out / "summary.json").exists()
    assert [n for n in hidden_leftovers(out) if n.startswith(".staging")] == []


def test_staged_outputs_publish_nothing_on_error(tmp_path):
    with pytest.raises(RuntimeError), staged_outputs(tmp_path) as stage:
        write_json_atomic(stage / "a.json", {"a": 1})
        raise RuntimeError("second output failed")
    assert list(tmp_path.iterdir()) == []


def test_staged_outputs_publish_everything_on_success(tmp_path):
    with staged_outputs(tmp_path / "out") as stage:
        write_json_atomic(stage / "a.json", {"a": 1})
        write_json_atomic(stage / "b.json", {"b": 2})
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.json", "b.json"]


def test_write_errors_name_the_output(tmp_path, monkeypatch):
    def fsync(fd):
        raise OSError(errno.EDQUOT, "Disk quota exceeded")

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OutputError, match=r"x\.json: cannot write \(Disk quota exceeded\)"):
        write_json_atomic(tmp_path / "x.json", {})
    assert list(tmp_path.iterdir()) == []


def test_a_file_output_naming_a_directory_is_one_clear_error(tmp_path):
    (tmp_path / "grader.json").mkdir()
    with pytest.raises(OutputError, match=r"grader\.json: is a directory"):
        write_json_atomic(tmp_path / "grader.json", {})
    assert list((tmp_path / "grader.json").iterdir()) == []
