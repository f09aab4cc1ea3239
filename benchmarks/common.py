"""Helpers shared by the benchmarks."""

from __future__ import annotations

import resource
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from learn2ask.data.prepare import PrepareConfig, prepare_dataset, preset_paths
from learn2ask.targets.qa import QAExtractor

CACHE = Path("/tmp/learn2ask-bench")


def row(benchmark: str, metric: str, value: Any, unit: str = "", note: str = "") -> dict:
    """One result row."""
    return {"benchmark": benchmark, "metric": metric, "value": value, "unit": unit, "note": note}


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def demo_samples(preset: str = "demo") -> Path:
    """A bundled preset's samples (the demo's MTS-Dialog by default; prepared once per machine
    under /tmp)."""
    out = CACHE / preset
    if not (out / "test.jsonl").is_file():
        prepare_dataset(PrepareConfig(inputs=preset_paths(preset), out=out), QAExtractor())
    return out


@contextmanager
def local_server(model: str = "smollm2-135m-instruct"):
    """Start ``learn2ask serve-model`` on a free loopback port; yield its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "learn2ask", "serve-model", model, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_assistant(
    db: Path, policy: str, flags: tuple[str, ...] = ()
) -> tuple[subprocess.Popen, str]:
    """Start ``learn2ask serve --policy policy --db db`` (plus ``flags``) on a free loopback
    port; return the process and its base URL once ``/healthz`` answers (at most 300 s). Its
    output goes to ``serve.log`` beside ``db``; a start-up failure quotes its last line."""
    port = free_port()
    command = [sys.executable, "-m", "learn2ask", "serve", "--policy", policy, "--db", str(db)]
    command += ["--port", str(port), "--log-level", "warning", *flags]
    log = db.parent / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
            raise RuntimeError(f"learn2ask serve exited: {lines[-1] if lines else 'no output'}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("learn2ask serve did not start within 300 s")


def conversation(
    url: str, messages: list[str], timeout: float = 120
) -> tuple[str, list[tuple[str, float, dict]]]:
    """Send ``messages`` to a new session of the assistant at ``url``: the session id and each
    acknowledged message with its latency and reply, up to the first reply that is not a
    question or the first refused message."""
    turns = []
    with httpx.Client(timeout=timeout) as http:
        sid = http.post(f"{url}/v1/sessions", json={}).raise_for_status().json()["id"]
        for text in messages:
            started = time.perf_counter()
            reply = http.post(f"{url}/v1/sessions/{sid}/messages", json={"content": text})
            seconds = time.perf_counter() - started
            if reply.status_code != 200:
                break
            turns.append((text, seconds, reply.json()))
            if reply.json()["action"] != "ask":
                break
    return sid, turns


def run_memory(
    policy: str, anchor_weight: float | None = None, likelihood_weight: float | None = None
) -> Any:
    """The question memory of the run or model ``policy`` on this machine, with the weights
    given (None: the run's own); with a likelihood weight above 0 it is scored by the run's own
    language model, loaded as ``evaluate`` loads it, else no model is loaded. A one-line
    ``SystemExit`` when there is none."""
    from learn2ask.errors import ConfigError
    from learn2ask.models.decision import load_deciding_policy, load_question_memory
    from learn2ask.models.registry import resolve_local_model_dir

    model_dir = resolve_local_model_dir(policy)
    try:
        if model_dir is None:
            memory = None
        elif likelihood_weight:
            memory = load_deciding_policy(
                policy,
                device="cpu",
                assessment="lm",  # the memory is wanted, not the stop head
                anchor_weight=anchor_weight,
                likelihood_weight=likelihood_weight,
            ).memory
        else:
            memory = load_question_memory(model_dir, None, anchor_weight, likelihood_weight)
    except ConfigError as exc:
        raise SystemExit(f"{policy}: {exc}") from None
    if memory is None:
        raise SystemExit(f"{policy}: needs a run with a question memory on this machine")
    return memory
