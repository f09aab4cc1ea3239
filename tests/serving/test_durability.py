"""Real ``learn2ask serve`` processes with a real (tiny, randomly initialised) local model:
SIGKILL during load loses no acknowledged message, a restart resumes, and two assistant
processes share one PostgreSQL server."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

pytestmark = pytest.mark.slow


def _policy_args(model_dir) -> list[str]:
    # threshold 1.0: P(stop) never reaches it, so every turn runs the model and asks
    return [
        "--policy",
        str(model_dir),
        "--decision",
        "threshold",
        "--threshold",
        "1.0",
        "--rate-limit",
        "100000",
    ]


def _load(urls: list[str], acked: list, stop: threading.Event, clients: int) -> list:
    """``clients`` threads chatting until ``stop``; each acknowledged turn goes into ``acked``."""

    def client(i: int) -> None:
        n = 0
        with httpx.Client(timeout=60) as http:
            sid = None
            while not stop.is_set():
                url = urls[n % len(urls)]
                try:
                    if sid is None:
                        sid = http.post(f"{url}/v1/sessions", json={}).json()["id"]
                    content = f"client {i} says {n}"
                    reply = http.post(
                        f"{url}/v1/sessions/{sid}/messages", json={"content": content}
                    )
                except (httpx.HTTPError, ValueError, KeyError):
                    return
                n += 1
                if reply.status_code == 200:
                    acked.append((sid, content, reply.json()))
                    if reply.json()["action"] != "ask":
                        sid = None

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    return threads


def _check_acknowledged(url: str, acked: list) -> None:
    sessions = {}
    for sid, content, reply in acked:
        if sid not in sessions:
            sessions[sid] = httpx.get(f"{url}/v1/sessions/{sid}", timeout=30).json()
        transcript = sessions[sid]["transcript"]
        contents = [m["content"] for m in transcript]
        assert content in contents, f"acknowledged message lost: {content}"
        if reply["action"] == "ask":
            at = contents.index(content)
            assert reply["question"] in contents[at + 1 :], "acknowledged question lost"
        states = [d["action"] for d in sessions[sid]["decisions"]]
        assert len(states) >= sum(1 for m in transcript if m["author"] == "policy")


def test_sigkill_during_load_loses_nothing_and_restart_resumes(
    tmp_path, tiny_model_dir, serve_process
):
    db = str(tmp_path / "sessions.sqlite")
    server = serve_process(*_policy_args(tiny_model_dir), "--db", db)
    acked: list = []
    stop = threading.Event()
    threads = _load([server.url], acked, stop, clients=4)
    deadline = time.monotonic() + 240
    while len(acked) < 16 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()  # SIGKILL while the clients still have requests in flight
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert len(acked) >= 16

    restarted = serve_process(*_policy_args(tiny_model_dir), "--db", db)
    _check_acknowledged(restarted.url, acked)
    # every acknowledged session is still there and still answers after the restart
    for sid in {sid for sid, _, _ in acked}:
        session = httpx.get(f"{restarted.url}/v1/sessions/{sid}", timeout=30).json()
        follow_up = httpx.post(
            f"{restarted.url}/v1/sessions/{sid}/messages",
            json={"content": "still here"},
            timeout=60,
        )
        expected = 200 if session["state"] == "open" else 409
        assert follow_up.status_code == expected, follow_up.text


def test_two_assistants_share_one_postgres(postgres_url, tiny_model_dir, serve_process):
    first = serve_process(*_policy_args(tiny_model_dir), "--db", postgres_url)
    second = serve_process(*_policy_args(tiny_model_dir), "--db", postgres_url)
    log = first.log_path.read_text()
    assert "postgresql://l2a@" in log

    sid = httpx.post(f"{first.url}/v1/sessions", json={}, timeout=60).json()["id"]
    reply = httpx.post(
        f"{second.url}/v1/sessions/{sid}/messages", json={"content": "sore throat"}, timeout=60
    )
    assert reply.status_code == 200 and reply.json()["action"] in ("ask", "stop")
    seen = httpx.get(f"{first.url}/v1/sessions/{sid}").json()
    assert [m["content"] for m in seen["transcript"] if m["role"] == "user"] == ["sore throat"]
    assert seen["decisions"][-1]["action"] == reply.json()["action"]

    acked: list = []
    stop = threading.Event()
    threads = _load([first.url, second.url], acked, stop, clients=4)
    deadline = time.monotonic() + 240
    while len(acked) < 16 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    assert len(acked) >= 16
    _check_acknowledged(second.url, acked)
    rows = httpx.get(f"{first.url}/v1/operator/sessions").json()
    assert sid in {r["id"] for r in rows}
