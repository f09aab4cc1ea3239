"""Load on the deployed assistant: 8 concurrent sessions x 6 turns against ``learn2ask serve``
with the bundled model and the decision-first (threshold) rule, on loopback; p50/p95 latency of
the next action, turns/s, and whether any acknowledged message was lost. Also the red-flag rule
set's recall and false-alarm rate on the test set shipped in ``tests/serving``.

Bounded: one server process, 48 turns, a hard deadline; nothing leaves loopback.
"""

from __future__ import annotations

import concurrent.futures
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from benchmarks.common import row

SESSIONS = 8
TURNS = 6
DEADLINE_S = 900
PATIENT = [
    "I have had a headache for three days",
    "It is on the left side, behind my eye",
    "It gets worse in the evening",
    "Paracetamol helps a little",
    "I also feel a bit sick",
    "No other problems, I am usually healthy",
]
CASES = Path(__file__).resolve().parents[1] / "tests" / "serving" / "red_flag_cases.yaml"


def run() -> list[dict]:
    """Latency/throughput rows of the load run, then the red-flag rows."""
    return _load_rows() + _red_flag_rows()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(db: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "learn2ask",
        "serve",
        "--policy",
        "smollm2-135m-instruct",
        "--decision",
        "threshold",
        "--db",
        str(db),
        "--port",
        str(port),
        "--rate-limit",
        "100000",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("learn2ask serve exited during start-up")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("learn2ask serve did not start within 300 s")


def _conversation(url: str) -> tuple[str, list[tuple[str, float, dict]]]:
    turns = []
    with httpx.Client(timeout=120) as http:
        sid = http.post(f"{url}/v1/sessions", json={}).raise_for_status().json()["id"]
        for text in PATIENT[:TURNS]:
            started = time.perf_counter()
            reply = http.post(f"{url}/v1/sessions/{sid}/messages", json={"content": text})
            seconds = time.perf_counter() - started
            if reply.status_code != 200:
                break
            turns.append((text, seconds, reply.json()))
            if reply.json()["action"] != "ask":
                break
    return sid, turns


def _lost(url: str, results: list) -> int:
    lost = 0
    for sid, turns in results:
        stored = [m["content"] for m in httpx.get(f"{url}/v1/sessions/{sid}").json()["transcript"]]
        lost += sum(1 for text, _, _ in turns if text not in stored)
    return lost


def _load_rows() -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="l2a-bench-serve-") as tmp:
        process, url = _start(Path(tmp) / "sessions.sqlite")
        try:
            _conversation(url)  # warm-up, not timed
            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(SESSIONS) as pool:
                futures = [pool.submit(_conversation, url) for _ in range(SESSIONS)]
                results = [f.result(timeout=DEADLINE_S) for f in futures]
            wall = time.perf_counter() - started
            lost = _lost(url, results)
        finally:
            process.terminate()
            process.wait(timeout=30)
    latencies = sorted(s for _, turns in results for _, s, _ in turns)
    actions = [r["action"] for _, turns in results for _, _, r in turns]
    n = len(latencies)
    note = (
        f"{SESSIONS} sessions x up to {TURNS} turns, bundled model, threshold rule, "
        f"loopback, {os.cpu_count()} cores; {actions.count('ask')} ask / "
        f"{actions.count('stop')} stop"
    )
    p95 = latencies[min(n - 1, round(0.95 * (n - 1)))]
    return [
        row(
            "serving", "next-action latency p50", round(statistics.median(latencies), 3), "s", note
        ),
        row("serving", "next-action latency p95", round(p95, 3), "s", note),
        row("serving", "throughput", round(n / wall, 2), "turns/s", note),
        row("serving", "turns acknowledged", n, "turns", note),
        row("serving", "acknowledged messages lost", lost, "messages", "read back after the run"),
    ]


def _red_flag_rows() -> list[dict]:
    from learn2ask.serving.redflags import RedFlagMatcher
    from learn2ask.serving.server import load_settings

    matcher = RedFlagMatcher(load_settings("medical")[1].red_flags)
    cases = yaml.safe_load(CASES.read_text(encoding="utf-8"))
    caught = sum(matcher.check(t) is not None for t in cases["urgent"])
    alarms = sum(matcher.check(t) is not None for t in cases["look_alike"])
    note = f"rule set {matcher.version}"
    return [
        row(
            "serving",
            "red flags escalated",
            round(caught / len(cases["urgent"]), 4),
            "share",
            f"{note}, {len(cases['urgent'])} urgent phrasings",
        ),
        row(
            "serving",
            "red-flag false alarms",
            round(alarms / len(cases["look_alike"]), 4),
            "share",
            f"{note}, {len(cases['look_alike'])} look-alike phrasings",
        ),
    ]
