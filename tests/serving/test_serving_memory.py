"""The question memory in ``serve``, over a real server, SQLite and a real memory: why each
question was asked (kept with its decision for the operator view), an operator's block list (a
blocked question is asked in no session from the next decision on, by any replica sharing the
store, until it is allowed again; bad requests get a clear 4xx), and the domain's memory
settings (the anchor weight applied to a memory with anchors, not to an older one)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from learn2ask.models.decision import PolicyAction
from tests.models.test_question_memory import KNEE_POINTS, PRESS, SWELL
from tests.serving.conftest import ScriptedPolicy, start_live_server

pytestmark = pytest.mark.slow

FALL = "I hurt my knee in a fall."


@pytest.fixture(scope="module")
def grader():
    from learn2ask.rewards.graders.embedding import EmbeddingGrader

    return EmbeddingGrader()


def _memory(grader: Any) -> Any:
    from learn2ask.models.question_memory import QuestionMemory, QuestionMemorySettings

    return QuestionMemory.build(KNEE_POINTS, QuestionMemorySettings(neighbours=3), grader)


@dataclass
class MemoryPolicy(ScriptedPolicy):
    """The scripted decision (ask, ask, ..., stop) with a real question memory's questions."""

    memory: Any = None

    def decide(self, contexts, may_stop=None):
        actions = super().decide(contexts, may_stop)
        questions = self.memory.choose(contexts)
        return [
            PolicyAction("ask", q, a.p_stop, q or "") if a.action == "ask" else a
            for a, q in zip(actions, questions, strict=True)
        ]


def _first_question(url: str) -> str:
    reply = httpx.post(f"{url}/v1/sessions", json={"content": FALL}, timeout=60).json()
    return reply["next"]["question"]


def test_a_blocked_question_is_not_asked_by_any_replica_until_allowed(tmp_path, grader):
    db = str(tmp_path / "sessions.sqlite")
    one = start_live_server(db, MemoryPolicy(asks=3, memory=_memory(grader)))
    two = start_live_server(db, MemoryPolicy(asks=3, memory=_memory(grader)))
    try:
        blocks = f"{one.url}/v1/operator/blocked-questions"
        assert httpx.get(blocks).json() == []
        assert _first_question(one.url) == PRESS
        made = httpx.post(blocks, json={"question": PRESS, "reason": "we cannot examine"})
        assert made.status_code == 201, made.text
        entry = made.json()
        assert (entry["question"], entry["reason"], entry["applies"]) == (
            PRESS,
            "we cannot examine",
            True,
        )
        assert _first_question(one.url) == SWELL
        assert _first_question(two.url) == SWELL  # the other replica reads the same list
        assert [b["id"] for b in httpx.get(f"{two.url}/v1/operator/blocked-questions").json()] == [
            entry["id"]
        ]
        assert httpx.delete(f"{blocks}/{entry['id']}").status_code == 204
        gone = httpx.delete(f"{blocks}/{entry['id']}")
        assert gone.status_code == 404 and "no blocked question" in gone.json()["detail"]
        assert _first_question(two.url) == PRESS
    finally:
        one.stop()
        two.stop()


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({}, 422, "question"),
        ({"question": ""}, 422, "question"),
        ({"question": "   "}, 400, "empty"),
        ({"question": "x" * 2001}, 413, "2000"),
        ({"question": "Any pain?", "colour": "red"}, 422, "colour"),
    ],
)
def test_bad_block_requests_get_a_clear_4xx_and_the_server_stays_up(live, body, status, words):
    response = httpx.post(f"{live.url}/v1/operator/blocked-questions", json=body)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert httpx.get(f"{live.url}/healthz").status_code == 200


def test_a_policy_without_a_memory_says_the_list_does_not_apply(live):
    # The scripted policy generates its questions: the list is kept (a later run with a
    # memory serving the same store honours it) and says it does not filter this one.
    made = httpx.post(f"{live.url}/v1/operator/blocked-questions", json={"question": "Why?"})
    assert made.status_code == 201 and made.json()["applies"] is False


def test_the_domains_memory_settings_apply_and_an_older_memory_keeps_its_anchor(grader, caplog):
    from learn2ask.serving.server import apply_domain_memory, describe_memory

    policy = MemoryPolicy(memory=_memory(grader))
    apply_domain_memory(policy, None, None)
    assert policy.memory.settings.anchor_weight == 0.0  # the run's own
    assert policy.memory.settings.likelihood_weight == 0.0
    apply_domain_memory(policy, 0.5, 0.5)
    assert policy.memory.settings.anchor_weight == 0.5
    assert policy.memory.settings.likelihood_weight == 0.5
    assert describe_memory(policy.memory) == "anchor weight 0.5, likelihood weight 0.5"
    older = MemoryPolicy(memory=_memory(grader))
    older.memory.anchors = None  # saved before anchors were kept
    with caplog.at_level("WARNING", logger="learn2ask.serving"):
        apply_domain_memory(older, 0.5, None)
    assert older.memory.settings.anchor_weight == 0.0
    assert "predates anchors" in caplog.text
    apply_domain_memory(ScriptedPolicy(), 0.5, 0.5)  # no memory: nothing to apply


def test_each_question_keeps_why_it_was_asked(tmp_path, grader):
    server = start_live_server(str(tmp_path / "s.sqlite"), MemoryPolicy(memory=_memory(grader)))
    try:
        reply = httpx.post(f"{server.url}/v1/sessions", json={"content": FALL}, timeout=60)
        session = httpx.get(f"{server.url}/v1/sessions/{reply.json()['id']}").json()
        (ask,) = [d for d in session["decisions"] if d["action"] == "ask"]
        candidates = ask["detail"]["candidates"]
        assert [c["question"] for c in candidates] == [PRESS, SWELL]  # by vote
        assert candidates[0]["asked"] is True and candidates[1]["asked"] is False
        assert candidates[0]["vote"] > candidates[1]["vote"]
        blocks = f"{server.url}/v1/operator/blocked-questions"
        httpx.post(blocks, json={"question": PRESS}).raise_for_status()
        reply = httpx.post(f"{server.url}/v1/sessions", json={"content": FALL}, timeout=60)
        session = httpx.get(f"{server.url}/v1/sessions/{reply.json()['id']}").json()
        (ask,) = [d for d in session["decisions"] if d["action"] == "ask"]
        assert [(c["question"], c["skipped"], c["asked"]) for c in ask["detail"]["candidates"]] == [
            (PRESS, "blocked by an operator", False),
            (SWELL, "", True),
        ]
    finally:
        server.stop()


def test_a_policy_without_a_memory_keeps_no_candidates(live):
    reply = httpx.post(f"{live.url}/v1/sessions", json={"content": "I have a headache"})
    session = httpx.get(f"{live.url}/v1/sessions/{reply.json()['id']}").json()
    assert all("candidates" not in d["detail"] for d in session["decisions"])
