"""``learn2ask serve`` and ``learn2ask export-sessions``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from learn2ask.cli_options import add_question_memory_arguments
from learn2ask.commands import Command
from learn2ask.errors import ConfigError
from learn2ask.models.decision import QUESTION_SOURCES, RULES

if TYPE_CHECKING:
    from learn2ask.serving.config import ServerConfig


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``learn2ask serve``."""
    parser.add_argument(
        "--policy",
        required=True,
        help="a training run / model dir, the bundled 'smollm2-135m-instruct', or the "
        "http(s) URL of an OpenAI-compatible endpoint (serve-model, vLLM)",
    )
    parser.add_argument(
        "--policy-model", default=None, help="model name at the endpoint (with a URL --policy)"
    )
    parser.add_argument(
        "--decision",
        choices=RULES,
        default=None,
        help="decision rule (default: the one the model carries; greedy for untrained models)",
    )
    parser.add_argument(
        "--threshold", type=float, default=None, help="override the carried STOP threshold"
    )
    parser.add_argument(
        "--questions",
        choices=QUESTION_SOURCES,
        default=None,
        help="where questions come from: generate, memory (the logged expert question with the "
        "best hindsight R_a in similar contexts) or memory+generated; default: the model's own",
    )
    add_question_memory_arguments(parser)
    parser.add_argument(
        "--db", default="sessions.sqlite", help="SQLite file (default) or postgresql://... URL"
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (loopback default)")
    parser.add_argument("--port", type=int, default=8080, help="port")
    parser.add_argument(
        "--domain",
        default=None,
        help="domain name or YAML file (default: the bundled domain the policy was trained on, "
        "else medical)",
    )
    parser.add_argument(
        "--api-key-file",
        type=Path,
        default=None,
        help="file with API keys, one per line (or env LEARN2ASK_API_KEY); required beyond "
        "loopback",
    )
    parser.add_argument(
        "--retention-days", type=float, default=30.0, help="purge sessions idle this long"
    )
    parser.add_argument("--max-message-chars", type=int, default=2000, help="per message")
    parser.add_argument("--max-user-turns", type=int, default=40, help="user messages/session")
    parser.add_argument("--rate-limit", type=int, default=120, help="requests/minute per key")
    parser.add_argument(
        "--llm-summary",
        action="store_true",
        help="also ask the policy model for a short summary at hand-over (stored beside the "
        "extractive one)",
    )
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning"))


def _server_config(args: argparse.Namespace, domain: str) -> ServerConfig:
    from learn2ask.serving.config import Limits, ServerConfig, read_api_keys

    if not 0 < args.port < 65536:
        raise ConfigError(f"--port must be in 1..65535, got {args.port}")
    for name in ("max_message_chars", "max_user_turns", "rate_limit"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1")
    return ServerConfig(
        host=args.host,
        port=args.port,
        db=args.db,
        domain=domain,
        api_keys=read_api_keys(args.api_key_file),
        limits=Limits(
            max_body_bytes=max(16_384, args.max_message_chars * 8),
            max_message_chars=args.max_message_chars,
            max_user_turns=args.max_user_turns,
            rate_per_minute=args.rate_limit,
        ),
        retention_days=args.retention_days,
        llm_summary=args.llm_summary,
    )


def run_serve(args: argparse.Namespace) -> int:
    """Load the domain, the policy (once) and the store, then serve until interrupted."""
    import uvicorn

    from learn2ask.serving.server import (
        apply_domain_memory,
        build_assistant,
        default_domain,
        describe_memory,
        load_policy,
        load_settings,
    )
    from learn2ask.serving.store import open_store, redact_url

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    domain_name = args.domain or default_domain(args.policy, args.policy_model)
    config = _server_config(args, domain_name)
    domain, settings = load_settings(domain_name)
    store = open_store(config.db)  # a bad --db fails before the model loads
    policy = load_policy(
        args.policy,
        args.policy_model,
        domain,
        args.decision,
        args.threshold,
        args.questions,
        args.anchor_weight,
        args.likelihood_weight,
    )
    apply_domain_memory(
        policy,
        settings.anchor_weight if args.anchor_weight is None else None,
        settings.likelihood_weight if args.likelihood_weight is None else None,
    )
    assistant = build_assistant(config, policy, settings, expert=domain.expert, store=store)
    log = logging.getLogger("learn2ask.serving")
    log.info(
        "serving domain %s with policy %s (rule %s), store %s, red flags v%s, on http://%s:%d",
        domain.name,
        policy.name,
        policy.rule.rule,
        redact_url(config.db),
        settings.red_flags.version,
        config.host,
        config.port,
    )
    memory = getattr(policy, "memory", None)
    if memory is not None:
        log.info(
            "questions from the run's memory (%d logged questions), %s; %d blocked by operators",
            len(memory.items),
            describe_memory(memory),
            len(store.blocked_questions()),
        )
    try:
        uvicorn.run(assistant.app, host=config.host, port=config.port, log_level=args.log_level)
    finally:
        assistant.shutdown()
    return 0


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``learn2ask export-sessions``."""
    parser.add_argument("--db", required=True, help="SQLite file or postgresql://... URL")
    parser.add_argument("--out", type=Path, required=True, help="RealMedConv JSONL to write")
    parser.add_argument("--all", action="store_true", help="every session, not only finished ones")
    parser.add_argument(
        "--ratings",
        type=Path,
        help="also write the operators' ratings of the assistant's questions as relevance labels "
        "(learn2ask question-relevance --labels FILE)",
    )


def run_export(args: argparse.Namespace) -> int:
    """Write sessions as RealMedConv JSONL that ``learn2ask prepare`` reads."""
    from learn2ask.serving.export import export_sessions
    from learn2ask.serving.store import open_store

    if not args.db.startswith(("postgresql://", "postgres://")) and not Path(args.db).is_file():
        raise ConfigError(f"--db {args.db}: no such SQLite file")
    store = open_store(args.db)
    written, skipped, rated = export_sessions(store, args.out, args.all, args.ratings)
    which = "sessions" if args.all else "finished sessions"
    print(f"wrote {written} {which} to {args.out} ({skipped} without a user message skipped)")
    if args.ratings is not None:
        print(f"wrote {rated} rated questions to {args.ratings}")
    return 0


def add_probe_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``learn2ask probe``."""
    from learn2ask.domain import bundled_names
    from learn2ask.serving.probe import BUNDLED_PROBES

    parser.add_argument("--policy", required=True, help="a run, a model, or an endpoint URL")
    parser.add_argument(
        "--script",
        default="medical",
        help="a probe file (conversations: [{name, messages: [...]}]) or a shipped one by name "
        f"({', '.join(bundled_names(BUNDLED_PROBES))})",
    )
    parser.add_argument(
        "--domain", help="a domain file, for a run trained on your own (serve reads bundled ones)"
    )
    parser.add_argument("--out", type=Path, help="also write DIR/probe.md and DIR/probe.json")
    parser.add_argument(
        "--explain",
        type=int,
        default=0,
        metavar="K",
        help="under each question, the memory's K best-voted candidates and why each was not "
        "asked (a run with a question memory on this machine)",
    )
    parser.add_argument(
        "--anchor-weight", type=float, help="serve with this question-memory anchor weight"
    )
    parser.add_argument("--likelihood-weight", type=float, help="serve with this likelihood weight")


def run_probe(args: argparse.Namespace) -> int:
    """Talk to the assistant as the script's users; print (and write) the transcripts."""
    from learn2ask.io import write_json_atomic, write_text_atomic
    from learn2ask.serving.probe import ProbeConfig, probe, report

    results = probe(
        ProbeConfig(
            policy=args.policy,
            script=args.script,
            domain=args.domain,
            explain=args.explain,
            anchor_weight=args.anchor_weight,
            likelihood_weight=args.likelihood_weight,
        )
    )
    text = report(args.policy, results)
    print(text, end="", flush=True)
    if args.out is not None:
        write_text_atomic(args.out / "probe.md", text)
        write_json_atomic(args.out / "probe.json", results)
    return 0


COMMANDS = [
    Command(
        name="serve",
        help="serve the intake assistant (sessions API, chat page, operator view)",
        add_arguments=add_serve_arguments,
        run=run_serve,
        description="Serve a policy as a proactive intake assistant: it asks what the expert "
        "needs, escalates red flags, and hands over with a summary. OpenAPI at /docs, "
        "Prometheus metrics at /metrics.",
    ),
    Command(
        name="probe",
        help="talk to a trained assistant as scripted users and print its replies",
        add_arguments=add_probe_arguments,
        run=run_probe,
        description="Start `learn2ask serve` on loopback, send each scripted conversation "
        "and print every reply (with --explain, the question memory's candidates and why each "
        "was or was not asked): the live checks before the assistant meets people.",
    ),
    Command(
        name="export-sessions",
        help="export served sessions as RealMedConv JSONL for learn2ask prepare",
        add_arguments=add_export_arguments,
        run=run_export,
    ),
]
