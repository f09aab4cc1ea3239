"""The probe (benchmarks/probe_assistant.py) talks to a real assistant on loopback: it records
each exchange until the assistant stops asking, and refuses a probe file without messages."""

from __future__ import annotations

import pytest
from benchmarks.common import run_memory
from benchmarks.probe_assistant import (
    DEFAULT_SCRIPT,
    converse,
    explain,
    load_script,
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


def test_the_bundled_probes_load_and_a_file_without_messages_is_refused(tmp_path):
    scripts = sorted(DEFAULT_SCRIPT.parent.glob("*.yaml"))
    assert [s.name for s in scripts] == ["medical.yaml", "support.yaml"]
    assert all(c["messages"] for s in scripts for c in load_script(s))
    broken = tmp_path / "probe.yaml"
    broken.write_text("conversations:\n  - name: empty\n")
    with pytest.raises(SystemExit, match=r"probe.yaml: needs conversations"):
        load_script(broken)


def test_an_assistant_that_cannot_start_says_why(tmp_path):
    from benchmarks.common import start_assistant

    with pytest.raises(RuntimeError, match=r"serve exited: learn2ask serve: error: .*nowhere"):
        start_assistant(tmp_path / "sessions.sqlite", str(tmp_path / "nowhere"))


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
    with pytest.raises(SystemExit, match="needs a run with a question memory"):
        run_memory(str(tmp_path))
