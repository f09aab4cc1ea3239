"""Talk to a trained assistant as scripted users and print what it asks: the live checks that
offline metrics cannot make (does it ask what the user already said, take for granted what they
never named, drift off the complaint?).

    python -m benchmarks.probe_assistant --policy demo_out/runs/decision [--script FILE] [--out DIR]
    python -m benchmarks.probe_assistant --policy demo_out/runs/decision --explain 5
    python -m benchmarks.probe_assistant --policy demo_out/runs/decision --anchor-weight 0.5
    python -m benchmarks.probe_assistant --policy runs/helpdesk --script \
        benchmarks/probes/support.yaml

Starts ``learn2ask serve --policy POLICY`` on loopback with a throwaway SQLite file, as a user
would, sends each conversation's messages in order (``benchmarks/probes/medical.yaml`` by
default: ``conversations: [{name, messages: [...]}]``) and prints every reply: the action, the
question or summary, P(stop). A conversation ends at the assistant's first reply that is not a
question. Writes ``DIR/probe.md`` and ``DIR/probe.json`` with ``--out``. With ``--explain K``
(a run with a question memory on this machine) each question comes with the memory's K
best-voted candidates for that context and the check that dropped each one: what a domain's
``synonyms`` and ``shared_referents`` change, seen where it matters.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import conversation, run_memory, start_assistant

DEFAULT_SCRIPT = Path(__file__).resolve().parent / "probes" / "medical.yaml"


def load_script(path: Path) -> list[dict[str, Any]]:
    """The conversations of a probe file; a one-line ``SystemExit`` naming the file if it has
    none or one without messages."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    conversations = data.get("conversations") if isinstance(data, dict) else None
    if not conversations or not all(c.get("messages") for c in conversations):
        raise SystemExit(f"{path}: needs conversations: [{{name, messages: [...]}}]")
    return conversations


def converse(url: str, messages: list[str]) -> list[dict[str, Any]]:
    """Send ``messages`` to a new session at ``url``; each exchange as {user, action, text,
    p_stop}, up to the first reply that is not a question. A refused message is an error."""
    _, turns = conversation(url, messages, timeout=300)
    if len(turns) < len(messages) and (not turns or turns[-1][2]["action"] == "ask"):
        raise SystemExit(f"{url}: the assistant refused message {len(turns) + 1}")
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


def main(argv: list[str] | None = None) -> None:
    """Probe the assistant; print the transcripts (and write them with ``--out``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", required=True, help="a run, a model, or an endpoint URL")
    parser.add_argument("--script", type=Path, default=DEFAULT_SCRIPT)
    parser.add_argument(
        "--domain", help="a domain file, for a run trained on your own (serve reads bundled ones)"
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--explain",
        type=int,
        default=0,
        metavar="K",
        help="under each question, the memory's K best-voted candidates and why each was not "
        "asked (a run with a question memory on this machine)",
    )
    parser.add_argument(
        "--anchor-weight",
        type=float,
        help="serve with this question-memory anchor weight (learn2ask serve --anchor-weight)",
    )
    parser.add_argument(
        "--likelihood-weight",
        type=float,
        help="serve with this likelihood weight (learn2ask serve --likelihood-weight)",
    )
    args = parser.parse_args(argv)
    conversations = load_script(args.script)
    memory = None
    if args.explain:
        memory = run_memory(args.policy, args.anchor_weight, args.likelihood_weight)
    with tempfile.TemporaryDirectory(prefix="l2a-probe-") as tmp:
        flags = ("--domain", args.domain) if args.domain else ()
        for name in ("anchor_weight", "likelihood_weight"):
            if getattr(args, name) is not None:
                flags += ("--" + name.replace("_", "-"), str(getattr(args, name)))
        process, url = start_assistant(Path(tmp) / "sessions.sqlite", args.policy, flags)
        try:
            results = [
                {"name": c["name"], "exchanges": converse(url, c["messages"])}
                for c in conversations
            ]
        finally:
            process.terminate()
            process.wait(timeout=30)
    for r in results if memory is not None else []:
        explain(memory, r["exchanges"], args.explain)
    text = f"# {args.policy}\n\n" + "\n".join(
        transcript(r["name"], r["exchanges"]) for r in results
    )
    print(text, end="", flush=True)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "probe.md").write_text(text, encoding="utf-8")
        (args.out / "probe.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
