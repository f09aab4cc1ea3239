"""Serving fixtures: real uvicorn servers on loopback over real stores.

``ScriptedPolicy`` stands in for the model where a test checks the service's own logic (it asks
``asks`` questions, then stops); the end-to-end tests run ``learn2ask serve`` with the bundled
model in a subprocess.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import yaml

from learn2ask.models.decision import PolicyAction

REPO = Path(__file__).resolve().parents[2]
CASES = Path(__file__).with_name("red_flag_cases.yaml")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ScriptedPolicy:
    """Asks ``asks`` numbered questions, then stops; counts its calls."""

    asks: int = 2
    name: str = "scripted"
    rule: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(rule="scripted"))
    calls: int = 0
    batches: list[int] = field(default_factory=list)
    fail: bool = False

    def decide(self, contexts, may_stop=None):
        self.calls += 1
        self.batches.append(len(contexts))
        if self.fail:
            raise RuntimeError("endpoint unreachable")
        actions = []
        for i, context in enumerate(contexts):
            asked = sum(1 for t in context if t.role == "expert")
            p_stop = round((asked + 1) / (self.asks + 1), 3)
            if asked >= self.asks and (may_stop is None or may_stop[i]):
                actions.append(PolicyAction("stop", None, p_stop, "<stop />"))
            else:
                question = f"Question {asked + 1}: how long has it lasted?"
                actions.append(PolicyAction("ask", question, p_stop, question))
        return actions

    def generate(self, messages, config):
        return ["A short summary." for _ in messages]


@dataclass
class LiveServer:
    """An in-process server: its URL, service, policy and store path."""

    url: str
    service: object
    policy: ScriptedPolicy
    db: str
    server: object = None
    thread: object = None

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.service.batcher.close()


def start_live_server(db: str, policy, settings_overrides=None, **config_kwargs) -> LiveServer:
    """``build_assistant`` + uvicorn on a free loopback port, in a thread."""
    import uvicorn

    from learn2ask.serving.config import ServerConfig
    from learn2ask.serving.server import build_assistant, load_settings

    domain, settings = load_settings("medical")
    if settings_overrides:
        settings = settings.model_copy(update=settings_overrides)
    port = free_port()
    config = ServerConfig(port=port, db=db, **config_kwargs)
    assistant = build_assistant(config, policy, settings, expert=domain.expert)
    server = uvicorn.Server(
        uvicorn.Config(assistant.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("in-process server did not start")
        time.sleep(0.05)
    return LiveServer(url, assistant.service, policy, db, server, thread)


@pytest.fixture()
def live(tmp_path):
    """A scripted-policy server over a fresh SQLite file."""
    server = start_live_server(str(tmp_path / "sessions.sqlite"), ScriptedPolicy())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def red_flag_cases() -> dict[str, list[str]]:
    return yaml.safe_load(CASES.read_text(encoding="utf-8"))


class ServeProcess:
    """``learn2ask serve`` in a subprocess (stderr to a file), waited on until healthy."""

    def __init__(self, args: list[str], log_path: Path, env: dict | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.log = log_path.open("ab")
        command = [sys.executable, "-m", "learn2ask", "serve", "--port", str(self.port), *args]
        full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
        self.process = subprocess.Popen(
            command, stdout=self.log, stderr=subprocess.STDOUT, env=full_env
        )

    def wait_ready(self, timeout: float = 240) -> ServeProcess:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve not ready in {timeout} s: {self.log_path.read_text()}")
            time.sleep(0.3)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture()
def serve_process(tmp_path):
    """Factory: start ``learn2ask serve ARGS``; every started process is stopped at the end."""
    started: list[ServeProcess] = []

    def start(*args: str, env: dict | None = None) -> ServeProcess:
        proc = ServeProcess(list(args), tmp_path / f"serve-{len(started)}.log", env)
        started.append(proc)
        return proc.wait_ready()

    yield start
    for proc in started:
        proc.stop()


def budget_domain(tmp_path: Path, budget: int) -> Path:
    """The medical domain with another question budget, as a domain file."""
    from learn2ask.domain import domain_path

    data = yaml.safe_load(domain_path("medical").read_text(encoding="utf-8"))
    data["serving"]["question_budget"] = budget
    path = tmp_path / "medical-budget.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def postgres_bin() -> Path | None:
    """The newest Debian PostgreSQL binaries, or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parts[-3])
    return found[-1].parent if found else None


@pytest.fixture(scope="session")
def postgres_url():
    """A throw-away PostgreSQL server (Debian's binaries) in a temp dir on a free port."""
    import pwd
    import shutil
    import tempfile

    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries not found under /usr/lib/postgresql (make setup)")
    root = Path(tempfile.mkdtemp(prefix="l2a-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as Debian's postgres user
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = root / "data"

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    run(str(bin_dir / "initdb"), "-D", str(data), "-U", "l2a", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200"
    run(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(root / "log"),
        "-w",
        "start",
    )
    try:
        yield f"postgresql://l2a@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)
