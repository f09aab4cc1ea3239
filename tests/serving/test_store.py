"""The store on real SQLite and real PostgreSQL: atomic appends, state guards, purge, and a
server restarted mid-conversation resumes its sessions."""

from __future__ import annotations

import time

import httpx
import pytest

from learn2ask.errors import ConfigError
from learn2ask.serving.store import (
    NewDecision,
    NewMessage,
    SessionRecord,
    StateConflict,
    open_store,
    redact_url,
)
from tests.serving.conftest import ScriptedPolicy, start_live_server


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return open_store(str(tmp_path / "s.sqlite"))
    url = request.getfixturevalue("postgres_url")
    store = open_store(url)
    for session_id in store.session_ids():
        store.delete(session_id)
    for blocked in store.blocked_questions():
        store.unblock_question(blocked.id)
    return store


def _new(store, session_id="s1", updated=None):
    now = time.time() if updated is None else updated
    store.create(
        SessionRecord(session_id, "medical", "open", now, now),
        [NewMessage("system", "system", "hi")],
    )


def test_append_is_ordered_and_guarded(store):
    _new(store)
    store.append("s1", [NewMessage("user", "user", "cough")], updates={"user_turns": 1})
    store.append(
        "s1",
        [NewMessage("expert", "policy", "Since when?")],
        NewDecision("ask", "policy", 0.12, 0.3, {"rule": "threshold"}),
        {"questions": 1},
        require_states=("open",),
    )
    record = store.get("s1")
    assert [m.seq for m in record.messages] == [0, 1, 2]
    assert [m.content for m in record.messages] == ["hi", "cough", "Since when?"]
    assert record.decisions[0].p_stop == pytest.approx(0.12)
    assert record.decisions[0].detail == {"rule": "threshold"}
    assert (record.questions, record.user_turns) == (1, 1)
    store.append("s1", updates={"state": "stopped"})
    with pytest.raises(StateConflict):
        store.append("s1", [NewMessage("user", "user", "x")], require_states=("open",))
    assert len(store.get("s1").messages) == 3
    with pytest.raises(KeyError):
        store.append("missing", updates={"state": "closed"})


def test_purge_and_delete(store):
    _new(store, "old", updated=time.time() - 40 * 86400)
    _new(store, "new")
    assert store.purge(time.time() - 30 * 86400) == 1
    assert store.get("old") is None and store.get("new") is not None
    assert store.delete("new") and not store.delete("new")
    assert store.session_ids() == []


def test_server_purges_expired_sessions_at_start(tmp_path):
    db = str(tmp_path / "s.sqlite")
    store = open_store(db)
    _new(store, "stale", updated=time.time() - 10 * 86400)
    _new(store, "fresh")
    live = start_live_server(db, ScriptedPolicy(), retention_days=7)
    try:
        deadline = time.monotonic() + 10
        while store.get("stale") is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.get("stale") is None
        assert httpx.get(f"{live.url}/v1/sessions/fresh").status_code == 200
    finally:
        live.stop()


def test_restart_resumes_the_conversation(tmp_path):
    db = str(tmp_path / "s.sqlite")
    first = start_live_server(db, ScriptedPolicy(asks=2))
    sid = httpx.post(f"{first.url}/v1/sessions", json={"content": "back pain"}).json()["id"]
    first.stop()
    second = start_live_server(db, ScriptedPolicy(asks=2))
    try:
        reply = httpx.post(f"{second.url}/v1/sessions/{sid}/messages", json={"content": "3 days"})
        assert reply.json()["action"] == "ask"
        assert reply.json()["question"].startswith("Question 2")
        session = httpx.get(f"{second.url}/v1/sessions/{sid}").json()
        users = [m["content"] for m in session["transcript"] if m["role"] == "user"]
        assert users == ["back pain", "3 days"]
    finally:
        second.stop()


def test_unusable_sqlite_path_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        open_store(str(tmp_path / "nope" / "s.sqlite"))
    with pytest.raises(ConfigError, match="directory"):
        open_store(str(tmp_path))
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database" * 100)
    with pytest.raises(ConfigError, match="not a usable SQLite"):
        open_store(str(garbage))


def test_unreachable_postgres_is_a_config_error():
    from tests.serving.conftest import free_port

    with pytest.raises(ConfigError, match="cannot connect"):
        open_store(f"postgresql://u:pw@127.0.0.1:{free_port()}/db")


def test_redact_url_hides_passwords():
    assert redact_url("postgresql://app:s3cret@db:5432/x") == "postgresql://app:***@db:5432/x"
    assert redact_url("sessions.sqlite") == "sessions.sqlite"


def test_block_list_round_trip(store):
    from learn2ask.serving.store import blocked_question_id

    assert store.blocked_questions() == []
    first = store.block_question("Any chest pain?", "off-topic for a urinary complaint")
    assert first.id == blocked_question_id("  any CHEST pain? ")  # one entry per wording
    again = store.block_question("any chest pain?", "garbled")  # blocking again updates it
    (only,) = store.blocked_questions()
    assert (only.id, only.question, only.reason) == (first.id, "any chest pain?", "garbled")
    assert only.blocked_at >= first.blocked_at == pytest.approx(again.blocked_at, abs=60)
    store.block_question("Do you smoke?")
    assert [b.question for b in store.blocked_questions()] == ["Do you smoke?", "any chest pain?"]
    assert store.unblock_question(first.id) is True
    assert store.unblock_question(first.id) is False
    assert [b.question for b in store.blocked_questions()] == ["Do you smoke?"]


def test_a_rating_is_kept_with_its_message_taken_back_and_gone_with_the_session(store):
    _new(store)
    store.append(
        "s1", [NewMessage("user", "user", "a rash"), NewMessage("expert", "policy", "Itchy?")]
    )
    question = store.get("s1").messages[-1]
    assert question.relevant is None
    store.rate_question("s1", question.seq, False)
    store.rate_question("s1", question.seq, True)  # rating again replaces the rating
    assert [m.relevant for m in store.get("s1").messages] == [None, None, True]
    store.rate_question("s1", question.seq, None)
    assert store.get("s1").messages[-1].relevant is None
    store.rate_question("s1", question.seq, True)
    assert store.delete("s1")
    _new(store)  # the same id again starts unrated
    store.append(
        "s1", [NewMessage("user", "user", "a rash"), NewMessage("expert", "policy", "Itchy?")]
    )
    assert store.get("s1").messages[-1].relevant is None
