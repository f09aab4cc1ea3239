"""`GET /metrics`: the assistant's Prometheus metrics over a real server and SQLite file."""

from __future__ import annotations

import queue
import threading

import httpx
from prometheus_client.parser import text_string_to_metric_families

from learn2ask.data.types import Turn
from learn2ask.serving.service import PolicyBatcher
from tests.serving.conftest import ScriptedPolicy, start_live_server


def scrape(url: str, **kw) -> dict[tuple[str, tuple], float]:
    """``{(sample name, sorted labels): value}`` of one scrape."""
    response = httpx.get(url + "/metrics", timeout=30, **kw)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def post(url: str, path: str, **kw) -> httpx.Response:
    return httpx.post(url + path, timeout=30, **kw)


def test_decisions_latency_p_stop_and_responses_are_counted(live):
    # The scripted policy asks twice, then stops: ask, ask, stop by the policy.
    sid = post(live.url, "/v1/sessions", json={"content": "I have a headache"}).json()["id"]
    for text in ("Two days", "Paracetamol helps"):
        post(live.url, f"/v1/sessions/{sid}/messages", json={"content": text})
    urgent = post(live.url, "/v1/sessions", json={}).json()["id"]
    alarm = {"content": "I have chest pain and can't breathe"}
    post(live.url, f"/v1/sessions/{urgent}/messages", json=alarm)
    done = post(live.url, "/v1/sessions", json={"content": "A rash on my arm"}).json()["id"]
    assert post(live.url, f"/v1/sessions/{done}/finish").json()["action"] == "stop"
    assert httpx.get(live.url + "/v1/sessions/nope", timeout=30).status_code == 404

    seen = scrape(live.url)
    assert seen[("learn2ask_sessions_created_total", ())] == 3
    decisions = {
        labels: value
        for (name, labels), value in seen.items()
        if name == "learn2ask_decisions_total"
    }
    assert decisions == {
        (("action", "ask"), ("source", "policy")): 3,  # two in the first session, one in the last
        (("action", "stop"), ("source", "policy")): 1,
        (("action", "escalate"), ("source", "red_flags")): 1,
        (("action", "stop"), ("source", "user")): 1,
    }
    assert seen[("learn2ask_decision_seconds_count", (("action", "ask"),))] == 3
    # P(stop) only where the policy decided: the user's hand-over and the red flag carry none.
    assert seen[("learn2ask_policy_p_stop_count", (("action", "ask"),))] == 3
    assert seen[("learn2ask_policy_p_stop_count", (("action", "stop"),))] == 1
    # The scripted policy's P(stop) at its stop is 1.0: only the top bucket holds it.
    assert seen[("learn2ask_policy_p_stop_bucket", (("action", "stop"), ("le", "0.9")))] == 0
    assert seen[("learn2ask_policy_p_stop_bucket", (("action", "stop"), ("le", "1.0")))] == 1
    # One policy pass per policy decision here (one conversation at a time).
    assert seen[("learn2ask_policy_batch_size_count", ())] == 4
    assert seen[("learn2ask_policy_batch_size_sum", ())] == 4
    assert seen[("learn2ask_policy_seconds_count", ())] == 4
    responses = {
        labels: value
        for (name, labels), value in seen.items()
        if name == "learn2ask_http_responses_total"
    }
    # Route templates, not ids: one series however many sessions there are.
    messages = (("route", "/v1/sessions/{session_id}/messages"), ("status", "200"))
    assert responses[messages] == 3
    assert responses[(("route", "/v1/sessions/{session_id}"), ("status", "404"))] == 1
    assert not any("nope" in str(labels) or sid in str(labels) for labels in responses)


def test_metrics_sit_behind_the_api_keys_and_belong_to_one_assistant(tmp_path):
    key = "k-metrics"
    guarded = start_live_server(
        str(tmp_path / "a.sqlite"), ScriptedPolicy(), api_keys=frozenset({key})
    )
    other = start_live_server(str(tmp_path / "b.sqlite"), ScriptedPolicy())
    try:
        assert httpx.get(guarded.url + "/metrics", timeout=30).status_code == 401
        auth = {"Authorization": f"Bearer {key}"}
        post(guarded.url, "/v1/sessions", json={"content": "a cough"}, headers=auth)
        assert scrape(guarded.url, headers=auth)[("learn2ask_sessions_created_total", ())] == 1
        # A second assistant in the same process counts from zero.
        assert scrape(other.url)[("learn2ask_sessions_created_total", ())] == 0
    finally:
        guarded.stop()
        other.stop()


def test_a_failing_metrics_hook_neither_holds_an_answer_nor_stops_the_batcher():
    def broken(batch_size: int, seconds: float) -> None:
        raise RuntimeError("metrics backend down")

    batcher = PolicyBatcher(ScriptedPolicy(), observe=broken)
    answers: queue.Queue = queue.Queue()

    def ask() -> None:
        answers.put(batcher.decide([Turn("user", "a cough")]))

    try:
        for _ in range(2):  # the second answer shows the worker thread lived on
            # A daemon caller: a hung answer fails here in 30 s and does not hold pytest's exit.
            threading.Thread(target=ask, daemon=True).start()
            assert answers.get(timeout=30).action == "ask"
    finally:
        batcher.close()
