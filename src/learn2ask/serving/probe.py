"""``learn2ask probe``: talk to a trained assistant as scripted users before people do.

Starts ``learn2ask serve --policy POLICY`` on loopback with a throwaway SQLite file, as a user
would, sends each conversation's messages in order (a probe file: ``conversations: [{name,
messages: [...]}]``; the shipped ``medical`` and ``support`` by name) and prints every reply:
the action, the question or summary, P(stop). A conversation ends at the assistant's first
reply that is not a question. With ``explain`` (a run with a question memory on this machine)
each question comes with the memory's best-voted candidates for that context and the check
that dropped each one: what a domain's ``synonyms`` and ``shared_referents`` change, seen
where it matters. These are the live checks offline metrics cannot make: does it ask what the
user already said, take for granted what they never named, drift off the complaint?
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from learn2ask.domain import bundled_yaml, read_yaml_mapping
from learn2ask.errors import ConfigError, Learn2AskError

BUNDLED_PROBES = "resources/probes"


class AssistantError(Learn2AskError):
    """The assistant under probe did not start, or refused a scripted message."""


@dataclass(frozen=True)
class ProbeConfig:
    """What to probe and how: ``policy`` as ``learn2ask serve --policy`` takes it."""

    policy: str
    script: str = "medical"
    domain: str | None = None
    explain: int = 0
    anchor_weight: float | None = None
    likelihood_weight: float | None = None


def script_path(name_or_file: str | Path) -> Path:
    """A shipped probe file's name (``medical``, ``support``), else the path given."""
    return bundled_yaml(name_or_file, BUNDLED_PROBES, "probe script")


def load_script(path: Path) -> list[dict[str, Any]]:
    """The conversations of a probe file; a ``ConfigError`` naming the file if it has none or
    one without messages."""
    conversations = read_yaml_mapping(path, "probe script").get("conversations")
    if (
        not isinstance(conversations, list)
        or not conversations
        or not all(isinstance(c, dict) and c.get("messages") for c in conversations)
    ):
        raise ConfigError(f"{path}: needs conversations: [{{name, messages: [...]}}]")
    return conversations


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
            raise AssistantError(f"learn2ask serve exited: {lines[-1] if lines else 'no output'}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise AssistantError("learn2ask serve did not start within 300 s")


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def converse(url: str, messages: list[str]) -> list[dict[str, Any]]:
    """Send ``messages`` to a new session at ``url``; each exchange as {user, action, text,
    p_stop}, up to the first reply that is not a question. A refused message is an error."""
    _, turns = conversation(url, messages, timeout=300)
    if len(turns) < len(messages) and (not turns or turns[-1][2]["action"] == "ask"):
        raise AssistantError(f"{url}: the assistant refused message {len(turns) + 1}")
    exchanges = []
    for message, _, body in turns:
        text = body.get("question") or body.get("summary") or body.get("message") or ""
        exchanges.append(
            {"user": message, "action": body["action"], "text": text, "p_stop": body["p_stop"]}
        )
    return exchanges


def transcript(name: str, exchanges: list[dict[str, Any]]) -> str:
    """One conversation as markdown (with each question's ``why`` rows, when explained)."""
    lines = [f"## {name}", ""]
    for e in exchanges:
        p_stop = "" if e["p_stop"] is None else f" (P(stop) {e['p_stop']:.2f})"
        lines += [f"- user: {e['user']}", f"  - {e['action']}{p_stop}: {e['text']}"]
        for row in e.get("why", []):
            lines.append(f"    - {row['vote']:.1f} {verdict(row)}: {row['question']}")
    return "\n".join(lines) + "\n"


def verdict(row: dict[str, Any]) -> str:
    """What became of one candidate (a row of ``QuestionMemory.explain``), in words."""
    if row["asked"] == "reworded":
        return "won, asked in a more fluent wording"
    if row["asked"] == "narrowed":
        return "asked without what the user already named"
    if row["asked"]:
        return "asked"
    return f"skipped: {row['skipped']}" if row["skipped"] else "outvoted"


def explain(memory: Any, exchanges: list[dict[str, Any]], top: int) -> None:
    """Add to each question of a conversation the memory's ``top`` candidates for the
    context it was asked in (``why``: question, vote, skipped, asked), as the assistant saw
    it: the user's messages and its own questions so far."""
    from learn2ask.data.types import Turn

    context: list[Turn] = []
    for e in exchanges:
        context.append(Turn("user", e["user"]))
        if e["action"] == "ask":
            e["why"] = memory.explain(list(context), top)
            context.append(Turn("expert", e["text"]))


def probe(config: ProbeConfig) -> list[dict[str, Any]]:
    """Talk to the assistant serving ``config.policy``: ``[{name, exchanges}]``, one per
    conversation of the script, each question explained when ``config.explain`` is above 0.
    The script and the memory are read before the assistant starts, so a bad one costs no
    model load."""
    from learn2ask.models.decision import load_run_memory

    conversations = load_script(script_path(config.script))
    memory = None
    if config.explain:
        memory = load_run_memory(config.policy, config.anchor_weight, config.likelihood_weight)
    flags: tuple[str, ...] = ("--domain", config.domain) if config.domain else ()
    for name in ("anchor_weight", "likelihood_weight"):
        if getattr(config, name) is not None:
            flags += ("--" + name.replace("_", "-"), str(getattr(config, name)))
    with tempfile.TemporaryDirectory(prefix="l2a-probe-") as tmp:
        process, url = start_assistant(Path(tmp) / "sessions.sqlite", config.policy, flags)
        try:
            results = [
                {
                    "name": c.get("name", f"conversation {i + 1}"),
                    "exchanges": converse(url, c["messages"]),
                }
                for i, c in enumerate(conversations)
            ]
        finally:
            process.terminate()
            process.wait(timeout=30)
    for result in results if memory is not None else []:
        explain(memory, result["exchanges"], config.explain)
    return results


def report(policy: str, results: list[dict[str, Any]]) -> str:
    """Every conversation's transcript under the policy's name, as markdown."""
    return f"# {policy}\n\n" + "\n".join(transcript(r["name"], r["exchanges"]) for r in results)
