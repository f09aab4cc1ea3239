"""``learn2ask grade`` through the CLI."""

from __future__ import annotations

import json

import pytest

from learn2ask.cli import main
from learn2ask.data.samples import save_samples
from tests.rewards.conftest import make_sample


@pytest.fixture()
def samples_file(tmp_path):
    path = tmp_path / "samples.jsonl"
    save_samples(
        path,
        [
            make_sample("h_0", ["When did the headache start?", "Any nausea?"]),
            make_sample("h_1", []),
        ],
    )
    return path


def test_grade_expert_responses(samples_file, tmp_path):
    out = tmp_path / "expert"
    assert main(["grade", str(samples_file), "--responses", "expert", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reward"] == 4.0 and summary["grading_failures"] == 0
    rows = [json.loads(x) for x in (out / "scores.jsonl").read_text().splitlines()]
    assert [r["response"] for r in rows] == ["When did the headache start?", "<stop />"]
    assert all(set(r) >= {"id", "r_a", "r_s", "p", "reward", "error"} for r in rows)


def test_grade_ranks_bad_questions_below_the_expert(samples_file, tmp_path):
    responses = tmp_path / "r.jsonl"
    replies = [
        "When did your headache begin?",
        "How are you?",
        "When? Where? How bad?",
        "Do your kidneys hurt when you urinate?",
        "<stop />",
    ]
    responses.write_text("".join(json.dumps({"id": "h_0", "response": r}) + "\n" for r in replies))
    out = tmp_path / "bad"
    assert (
        main(
            [
                "grade",
                str(samples_file),
                "--responses",
                str(responses),
                "--out",
                str(out),
                "--fusion",
                "sum",
            ]
        )
        == 0
    )
    rewards = [json.loads(x)["reward"] for x in (out / "scores.jsonl").read_text().splitlines()]
    assert rewards[0] == max(rewards)
    assert rewards[-1] == 0.0  # stopping when the expert still had questions


def test_bad_responses_file(samples_file, tmp_path, capsys):
    responses = tmp_path / "r.jsonl"
    responses.write_text('{"id": "h_0", "response": "Why?"}\n{"id": "zzz", "response": "x"}\n')
    assert (
        main(
            [
                "grade",
                str(samples_file),
                "--responses",
                str(responses),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert f"{responses}:2: unknown sample id 'zzz'" in capsys.readouterr().err
    assert not (tmp_path / "o" / "scores.jsonl").exists()


def test_llm_grader_needs_endpoint(samples_file, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LEARN2ASK_BASE_URL", raising=False)
    assert (
        main(
            [
                "grade",
                str(samples_file),
                "--responses",
                "expert",
                "--out",
                str(tmp_path),
                "--grader",
                "llm",
                "--base-url",
                "",
            ]
        )
        == 2
    )
    assert "--base-url" in capsys.readouterr().err
