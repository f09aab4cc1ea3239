"""``learn2ask probe`` talks to a real assistant on loopback: it records each exchange until
the assistant stops asking, and refuses a probe file without messages."""

from __future__ import annotations

import json

import pytest

from learn2ask.cli import main
from learn2ask.errors import ConfigError
from learn2ask.models.decision import load_run_memory
from learn2ask.serving.probe import (
    AssistantError,
    converse,
    explain,
    load_script,
    script_path,
    start_assistant,
    transcript,
)


def test_a_probe_records_each_exchange_until_the_assistant_stops(live):
    messages = ["I have a headache.", "Since Monday.", "It throbs.", "Never sent."]
    exchanges = converse(live.url, messages)
    # the scripted policy asks twice, then stops: the fourth message is not sent
    assert [e["action"] for e in exchanges] == ["ask", "ask", "stop"]
    assert [e["user"] for e in exchanges] == messages[:3]
    assert exchanges[0]["text"].startswith("Question 1") and exchanges[2]["text"]
    text = transcript("headache", exchanges)
    assert text.startswith("## headache") and "- user: Since Monday." in text
    assert "  - ask (P(stop) 0.33): Question 1" in text


def test_the_shipped_probes_load_by_name_and_a_file_without_messages_is_refused(tmp_path, capsys):
    scripts = [script_path(name) for name in ("medical", "support")]
    assert all(c["messages"] for s in scripts for c in load_script(s))
    broken = tmp_path / "probe.yaml"
    broken.write_text("conversations:\n  - name: empty\n")
    with pytest.raises(ConfigError, match=r"probe.yaml: needs conversations"):
        load_script(broken)
    # Through the command: one line, exit 2, before any assistant starts.
    assert main(["probe", "--policy", str(tmp_path / "nowhere"), "--script", str(broken)]) == 2
    assert "probe.yaml: needs conversations" in capsys.readouterr().err
    assert main(["probe", "--policy", "x", "--script", "medicl"]) == 2
    assert "did you mean 'medical'" in capsys.readouterr().err


def test_an_assistant_that_cannot_start_says_why(tmp_path, capsys):
    with pytest.raises(AssistantError, match=r"serve exited: learn2ask serve: error: .*nowhere"):
        start_assistant(tmp_path / "sessions.sqlite", str(tmp_path / "nowhere"))
    assert main(["probe", "--policy", str(tmp_path / "nowhere")]) == 2
    assert "serve exited" in capsys.readouterr().err


@pytest.mark.slow
def test_explain_shows_each_questions_candidates_as_the_assistant_saw_them(tmp_path):
    from learn2ask.models.question_memory import QuestionMemory, QuestionMemorySettings
    from learn2ask.rewards.graders.embedding import EmbeddingGrader
    from tests.models.test_question_memory import HEADACHES, PRESSURE_POINTS, REFILL

    memory = QuestionMemory.build(
        PRESSURE_POINTS, QuestionMemorySettings(neighbours=3), EmbeddingGrader()
    )
    exchanges = [
        {"user": "My blood pressure is high.", "action": "ask", "text": HEADACHES, "p_stop": 0.2},
        {"user": "No headaches.", "action": "stop", "text": "Summary", "p_stop": 0.9},
    ]
    explain(memory, exchanges, top=2)
    assert [r["question"] for r in exchanges[0]["why"]] == [REFILL, HEADACHES]
    assert "why" not in exchanges[1]  # a hand-over has no candidates
    text = transcript("pressure", exchanges)
    assert f"    - 3.0 skipped: refers back to lisinopril, not named here: {REFILL}" in text
    assert f"    - 1.0 asked: {HEADACHES}" in text
    # a policy without a memory on this machine has nothing to explain
    with pytest.raises(ConfigError, match="needs a run with a question memory"):
        load_run_memory(str(tmp_path))


@pytest.mark.slow
def test_the_command_talks_to_a_served_model_and_writes_the_transcripts(tmp_path, capsys):
    script = tmp_path / "one.yaml"
    script.write_text("conversations:\n  - name: cough\n    messages: [I have had a cough.]\n")
    out = tmp_path / "probe"
    args = ["probe", "--policy", "smollm2-135m-instruct", "--script", str(script)]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# smollm2-135m-instruct\n\n## cough\n\n- user: I have had a cough.")
    assert (out / "probe.md").read_text() == printed
    (result,) = json.loads((out / "probe.json").read_text())
    (exchange,) = result["exchanges"]
    assert result["name"] == "cough" and exchange["action"] in ("ask", "stop")
    assert exchange["text"]
