"""The sessions API over a real server and SQLite file (scripted policy)."""

from __future__ import annotations

import httpx
import pytest

from tests.serving.conftest import ScriptedPolicy, start_live_server


def _post(live, path, **kw):
    return httpx.post(live.url + path, timeout=30, **kw)


def test_conversation_asks_then_stops_with_extractive_summary(live):
    created = _post(live, "/v1/sessions", json={"content": "I have a headache"})
    assert created.status_code == 201, created.text
    body = created.json()
    sid = body["id"]
    assert body["disclaimer"] and body["next"]["action"] == "ask"
    first_q = body["next"]["question"]
    reply = _post(live, f"/v1/sessions/{sid}/messages", json={"content": "Two days"}).json()
    assert reply["action"] == "ask"
    reply = _post(live, f"/v1/sessions/{sid}/messages", json={"content": "Paracetamol helps"})
    stop = reply.json()
    assert stop["action"] == "stop" and stop["state"] == "stopped"
    summary = stop["summary"]
    for text in ("I have a headache", first_q, "Two days", "Paracetamol helps"):
        assert text in summary
    session = httpx.get(f"{live.url}/v1/sessions/{sid}").json()
    assert session["state"] == "stopped" and session["summary"] == summary
    roles = [m["role"] for m in session["transcript"]]
    assert roles.count("user") == 3 and roles.count("expert") == 2
    assert [m["content"] for m in session["transcript"]].count(body["disclaimer"]) == 1
    actions = [(d["action"], d["source"]) for d in session["decisions"]]
    assert actions == [("ask", "policy"), ("ask", "policy"), ("stop", "policy")]
    assert all(d["p_stop"] is not None and d["latency_s"] >= 0 for d in session["decisions"])


def test_finished_session_takes_no_more_messages(live):
    sid = _post(live, "/v1/sessions", json={}).json()["id"]
    for text in ("cough", "a week", "no fever"):
        _post(live, f"/v1/sessions/{sid}/messages", json={"content": text})
    calls = live.policy.calls
    late = _post(live, f"/v1/sessions/{sid}/messages", json={"content": "one more thing"})
    assert late.status_code == 409
    assert "stopped" in late.json()["detail"]
    assert live.policy.calls == calls


def test_red_flag_escalates_before_the_policy(live):
    sid = _post(live, "/v1/sessions", json={}).json()["id"]
    reply = _post(
        live,
        f"/v1/sessions/{sid}/messages",
        json={"content": "I have chest pain and can't breathe"},
    ).json()
    assert reply["action"] == "escalate" and reply["reason"] == "chest pain with breathlessness"
    assert "emergency" in reply["message"]
    assert live.policy.calls == 0
    session = httpx.get(f"{live.url}/v1/sessions/{sid}").json()
    assert session["state"] == "escalated"
    assert session["decisions"][-1]["detail"]["version"] == live.service.settings.red_flags.version
    again = _post(live, f"/v1/sessions/{sid}/messages", json={"content": "hello?"})
    assert again.status_code == 409 and "escalated" in again.json()["detail"]


def test_question_budget_stops_without_asking_the_policy(tmp_path):
    live = start_live_server(
        str(tmp_path / "s.sqlite"), ScriptedPolicy(asks=10), {"question_budget": 1}
    )
    try:
        sid = _post(live, "/v1/sessions", json={"content": "rash"}).json()["id"]
        reply = _post(live, f"/v1/sessions/{sid}/messages", json={"content": "on my arm"}).json()
        assert reply["action"] == "stop"
        session = httpx.get(f"{live.url}/v1/sessions/{sid}").json()
        assert session["decisions"][-1]["source"] == "budget"
        assert live.policy.calls == 1
    finally:
        live.stop()


def test_min_questions_holds_the_policys_stop_back(tmp_path):
    live = start_live_server(
        str(tmp_path / "s.sqlite"), ScriptedPolicy(asks=0), {"min_questions": 2}
    )
    try:
        created = _post(live, "/v1/sessions", json={"content": "tooth ache"}).json()
        sid = created["id"]
        assert created["next"]["action"] == "ask"  # the policy would have stopped at once
        reply = _post(live, f"/v1/sessions/{sid}/messages", json={"content": "two days"}).json()
        assert reply["action"] == "ask"
        reply = _post(live, f"/v1/sessions/{sid}/messages", json={"content": "no fever"}).json()
        assert reply["action"] == "stop"
        decisions = httpx.get(f"{live.url}/v1/sessions/{sid}").json()["decisions"]
        assert [d["detail"].get("min_questions") for d in decisions] == [2, 2, None]
    finally:
        live.stop()


def test_min_questions_above_the_budget_is_refused():
    from learn2ask.errors import ConfigError
    from learn2ask.serving.config import serving_settings

    with pytest.raises(ConfigError, match=r"d.yaml: serving: .*min_questions \(9\) exceeds"):
        serving_settings({"min_questions": 9, "question_budget": 3}, "d.yaml")


def test_the_user_can_hand_over_before_the_policy_stops(live):
    sid = _post(live, "/v1/sessions", json={}).json()["id"]
    early = _post(live, f"/v1/sessions/{sid}/finish")
    assert early.status_code == 409 and "no message" in early.json()["detail"]
    asked = _post(live, f"/v1/sessions/{sid}/messages", json={"content": "I have a rash"}).json()
    assert asked["action"] == "ask"
    calls = live.policy.calls
    done = _post(live, f"/v1/sessions/{sid}/finish")
    assert done.status_code == 200, done.text
    stop = done.json()
    assert stop["action"] == "stop" and stop["state"] == "stopped" and stop["p_stop"] is None
    assert "I have a rash" in stop["summary"] and asked["question"] in stop["summary"]
    assert stop["message"] and stop["reason"] is None  # a reason is a red flag's
    assert live.policy.calls == calls  # the policy is not asked
    session = httpx.get(f"{live.url}/v1/sessions/{sid}").json()
    assert [(d["action"], d["source"]) for d in session["decisions"]][-1] == ("stop", "user")
    assert session["reason"] is None and session["summary"] == stop["summary"]
    again = _post(live, f"/v1/sessions/{sid}/finish")
    assert again.status_code == 409 and "stopped" in again.json()["detail"]
    assert _post(live, f"/v1/sessions/{sid}/messages", json={"content": "x"}).status_code == 409
    missing = _post(live, "/v1/sessions/nope/finish")
    assert missing.status_code == 404 and "no session" in missing.json()["detail"]


def test_a_message_that_only_says_done_hands_over(tmp_path):
    live = start_live_server(str(tmp_path / "s.sqlite"), ScriptedPolicy(asks=5))
    try:
        # a first message is a complaint, whatever it says: the policy asks
        created = _post(live, "/v1/sessions", json={"content": "That's all."}).json()
        assert created["next"]["action"] == "ask"
        sid = _post(live, "/v1/sessions", json={"content": "I have a rash"}).json()["id"]
        reply = _post(
            live, f"/v1/sessions/{sid}/messages", json={"content": "No fever, that's all"}
        )
        assert reply.json()["action"] == "ask"  # still answering
        calls = live.policy.calls
        done = _post(live, f"/v1/sessions/{sid}/messages", json={"content": "No, I'm done."}).json()
        assert done["action"] == "stop" and "No, I'm done." in done["summary"]
        assert live.policy.calls == calls
        decisions = httpx.get(f"{live.url}/v1/sessions/{sid}").json()["decisions"]
        assert (decisions[-1]["source"], decisions[-1]["detail"]) == ("user", {"said": "done"})
    finally:
        live.stop()
    off = start_live_server(
        str(tmp_path / "t.sqlite"), ScriptedPolicy(asks=5), {"finish_phrases": []}
    )
    try:
        sid = _post(off, "/v1/sessions", json={"content": "I have a rash"}).json()["id"]
        reply = _post(off, f"/v1/sessions/{sid}/messages", json={"content": "No, I'm done."})
        assert reply.json()["action"] == "ask"  # the domain left it to the policy
    finally:
        off.stop()


def test_close_and_delete(live):
    sid = _post(live, "/v1/sessions", json={"content": "sore knee"}).json()["id"]
    closed = _post(live, f"/v1/sessions/{sid}/close")
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    assert _post(live, f"/v1/sessions/{sid}/messages", json={"content": "x"}).status_code == 409
    assert httpx.delete(f"{live.url}/v1/sessions/{sid}").status_code == 204
    gone = httpx.get(f"{live.url}/v1/sessions/{sid}")
    assert gone.status_code == 404 and "no session" in gone.json()["detail"]
    assert httpx.delete(f"{live.url}/v1/sessions/{sid}").status_code == 404


def test_operator_takes_over_and_answers_as_the_expert(live):
    sid = _post(live, "/v1/sessions", json={"content": "itchy eyes"}).json()["id"]
    early = _post(live, f"/v1/operator/sessions/{sid}/messages", json={"content": "Hi"})
    assert early.status_code == 409
    assert _post(live, f"/v1/operator/sessions/{sid}/takeover").json()["state"] == "operator"
    calls = live.policy.calls
    reply = _post(live, f"/v1/sessions/{sid}/messages", json={"content": "Both eyes"}).json()
    assert reply["action"] == "operator"
    _post(live, f"/v1/operator/sessions/{sid}/messages", json={"content": "Any allergies?"})
    assert live.policy.calls == calls
    session = httpx.get(f"{live.url}/v1/sessions/{sid}").json()
    last = session["transcript"][-1]
    assert (last["role"], last["author"], last["content"]) == (
        "expert",
        "operator",
        "Any allergies?",
    )
    rows = httpx.get(f"{live.url}/v1/operator/sessions").json()
    assert [r["state"] for r in rows if r["id"] == sid] == ["operator"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    [
        ("post", "/v1/sessions/nope/messages", {"content": "hi"}, 404, "no session"),
        ("get", "/v1/sessions/nope", None, 404, "no session"),
        ("post", "/v1/sessions", {"domain": "cooking"}, 422, "serves domain"),
        ("post", "/v1/sessions", {"colour": "red"}, 422, "colour"),
        ("post", "/v1/sessions/{sid}/messages", {"content": ""}, 422, "content"),
        ("post", "/v1/sessions/{sid}/messages", {"content": "   "}, 400, "empty"),
        ("post", "/v1/sessions/{sid}/messages", {"content": 5}, 422, "content"),
        ("post", "/v1/sessions/{sid}/messages", {"content": "x" * 2001}, 413, "2000"),
        ("post", "/v1/sessions/{sid}/messages", None, 422, "body"),
        ("get", "/v1/operator/sessions?limit=0", None, 400, "limit"),
    ],
)
def test_bad_input_gets_a_clear_4xx_and_the_server_stays_up(
    live, method, path, body, status, words
):
    sid = _post(live, "/v1/sessions", json={}).json()["id"]
    kwargs = {"json": body} if body is not None else {}
    response = httpx.request(method.upper(), live.url + path.format(sid=sid), timeout=30, **kwargs)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert httpx.get(f"{live.url}/healthz").status_code == 200


def test_malformed_json_and_oversized_body(live):
    sid = _post(live, "/v1/sessions", json={}).json()["id"]
    bad = httpx.post(
        f"{live.url}/v1/sessions/{sid}/messages",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert bad.status_code == 422 and "JSON" in bad.json()["detail"]
    huge = httpx.post(f"{live.url}/v1/sessions/{sid}/messages", content=b"x" * 100_000)
    assert huge.status_code == 413 and "bytes" in huge.json()["detail"]

    def chunks():
        for _ in range(50):
            yield b"x" * 4096

    chunked = httpx.post(f"{live.url}/v1/sessions/{sid}/messages", content=chunks())
    assert chunked.status_code == 413


def test_turn_cap(tmp_path):
    from learn2ask.serving.config import Limits

    live = start_live_server(
        str(tmp_path / "s.sqlite"), ScriptedPolicy(asks=50), limits=Limits(max_user_turns=2)
    )
    try:
        sid = _post(live, "/v1/sessions", json={}).json()["id"]
        for text in ("a", "b"):
            assert _post(live, f"/v1/sessions/{sid}/messages", json={"content": text}).is_success
        capped = _post(live, f"/v1/sessions/{sid}/messages", json={"content": "c"})
        assert capped.status_code == 409 and "turn cap (2" in capped.json()["detail"]
    finally:
        live.stop()


def test_policy_failure_is_503_and_the_message_is_kept(tmp_path):
    live = start_live_server(str(tmp_path / "s.sqlite"), ScriptedPolicy(fail=True))
    try:
        sid = _post(live, "/v1/sessions", json={}).json()["id"]
        reply = _post(live, f"/v1/sessions/{sid}/messages", json={"content": "dizzy"})
        assert reply.status_code == 503 and "kept" in reply.json()["detail"]
        session = httpx.get(f"{live.url}/v1/sessions/{sid}").json()
        assert session["transcript"][-1]["content"] == "dizzy"
    finally:
        live.stop()


def test_api_key_and_rate_limit(tmp_path):
    from learn2ask.serving.config import Limits

    live = start_live_server(
        str(tmp_path / "s.sqlite"),
        ScriptedPolicy(),
        api_keys=frozenset({"k-secret-1"}),
        limits=Limits(rate_per_minute=3),
    )
    try:
        assert _post(live, "/v1/sessions", json={}).status_code == 401
        wrong = _post(live, "/v1/sessions", json={}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "API key" in wrong.json()["detail"]
        auth = {"Authorization": "Bearer k-secret-1"}
        codes = [_post(live, "/v1/sessions", json={}, headers=auth).status_code for _ in range(4)]
        assert codes == [201, 201, 201, 429]
        limited = _post(live, "/v1/sessions", json={}, headers=auth)
        assert "rate limit" in limited.json()["detail"]
        assert httpx.get(f"{live.url}/v1/operator/sessions", headers=auth).status_code == 200
        assert httpx.get(f"{live.url}/").status_code == 200  # the page itself holds no data
    finally:
        live.stop()


def test_binding_beyond_loopback_requires_a_key():
    from learn2ask.errors import ConfigError
    from learn2ask.serving.config import ServerConfig

    with pytest.raises(ConfigError, match="API key"):
        ServerConfig(host="0.0.0.0")
    assert ServerConfig(host="0.0.0.0", api_keys=frozenset({"k"})).host == "0.0.0.0"
    assert ServerConfig(host="::1").host == "::1"


def test_concurrent_sessions_are_batched(live):
    import concurrent.futures

    def conversation(i):
        sid = _post(live, "/v1/sessions", json={}).json()["id"]
        return [
            _post(live, f"/v1/sessions/{sid}/messages", json={"content": f"m{i}-{t}"}).json()
            for t in range(3)
        ]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(conversation, range(8)))
    assert all([r["action"] for r in rs] == ["ask", "ask", "stop"] for rs in results)
    assert sum(live.policy.batches) == 24


def test_openapi_documents_the_sessions_api(live):
    paths = httpx.get(f"{live.url}/openapi.json").json()["paths"]
    for path in (
        "/v1/sessions",
        "/v1/sessions/{session_id}/messages",
        "/v1/sessions/{session_id}/finish",
        "/v1/sessions/{session_id}",
    ):
        assert path in paths


def test_llm_summary_is_stored_beside_the_extractive_one(tmp_path):
    live = start_live_server(
        str(tmp_path / "s.sqlite"), ScriptedPolicy(asks=0), {"min_questions": 0}, llm_summary=True
    )
    try:
        created = _post(live, "/v1/sessions", json={"content": "tooth ache"}).json()
        assert created["next"]["action"] == "stop"
        session = httpx.get(f"{live.url}/v1/sessions/{created['id']}").json()
        assert session["llm_summary"] == "A short summary."
        assert "Complaint: tooth ache" in session["summary"]
    finally:
        live.stop()


def test_no_secret_in_logs(tmp_path, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    key = "k-very-secret-value"
    live = start_live_server(
        str(tmp_path / "s.sqlite"), ScriptedPolicy(fail=True), api_keys=frozenset({key})
    )
    try:
        auth = {"Authorization": f"Bearer {key}"}
        sid = _post(live, "/v1/sessions", json={}, headers=auth).json()["id"]
        _post(live, f"/v1/sessions/{sid}/messages", json={"content": "hi"}, headers=auth)
        _post(live, "/v1/sessions", json={}, headers={"Authorization": "Bearer k-wrong-guess"})
    finally:
        live.stop()
    assert "policy failed" in caplog.text  # the logs were captured
    assert key not in caplog.text and "k-wrong-guess" not in caplog.text


def test_policy_behind_an_openai_endpoint(tmp_path, faulty_endpoint):
    from learn2ask.serving.server import load_policy, load_settings

    domain, _ = load_settings("medical")
    policy = load_policy(faulty_endpoint.base_url, "some-model", domain, rule="greedy")
    live = start_live_server(str(tmp_path / "s.sqlite"), policy)
    try:
        faulty_endpoint.mode = "reply"
        faulty_endpoint.content = "How long have you had it?"
        created = _post(live, "/v1/sessions", json={"content": "my knee hurts"}).json()
        assert created["next"]["question"] == "How long have you had it?"
        faulty_endpoint.content = "<stop />"
        reply = _post(live, f"/v1/sessions/{created['id']}/messages", json={"content": "a week"})
        assert reply.json()["action"] == "stop"
        faulty_endpoint.mode = "500"
        other = _post(live, "/v1/sessions", json={"content": "my elbow hurts"})
        assert other.status_code == 503 and "policy failed" in other.json()["detail"]
    finally:
        live.stop()


def test_operator_rates_the_assistants_questions(live):
    sid = _post(live, "/v1/sessions", json={"content": "I have a headache"}).json()["id"]
    transcript = httpx.get(f"{live.url}/v1/sessions/{sid}").json()["transcript"]
    (question,) = [m for m in transcript if m["author"] == "policy"]
    (user,) = [m for m in transcript if m["author"] == "user"]
    rate = f"{live.url}/v1/operator/sessions/{sid}/ratings"
    rated = httpx.put(f"{rate}/{question['seq']}", json={"relevant": False})
    assert rated.status_code == 200, rated.text
    assert [m["relevant"] for m in rated.json()["transcript"] if m["author"] == "policy"] == [False]
    cleared = httpx.put(f"{rate}/{question['seq']}", json={"relevant": None}).json()
    assert all(m["relevant"] is None for m in cleared["transcript"])
    for seq, body, status, words in [
        (user["seq"], {"relevant": True}, 409, "not a question the assistant asked"),
        (999, {"relevant": True}, 404, "no message 999"),
        (question["seq"], {"relevant": "maybe"}, 422, "relevant"),
        (question["seq"], {}, 422, "relevant"),
    ]:
        response = httpx.put(f"{rate}/{seq}", json=body)
        assert response.status_code == status, response.text
        assert words in response.json()["detail"]
    gone = httpx.put(f"{live.url}/v1/operator/sessions/nope/ratings/1", json={"relevant": True})
    assert gone.status_code == 404
