"""Command-line options that several stages share, declared once: an OpenAI-compatible
endpoint, the reward (grader + fusion) with the :class:`GraderConfig` it describes, and the
question memory's settings.

Choices are read from the registries, so a plug-in name or ``package.module:object`` works
wherever a built-in does, and a typo gets a "did you mean" when the config is built.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from learn2ask.plugins import FUSIONS, GRADERS


def add_endpoint_arguments(group: Any, prefix: str = "", what: str = "model") -> None:
    """``--{prefix}base-url``, ``--{prefix}model``, ``--{prefix}max-concurrency``,
    ``--{prefix}max-attempts``, ``--{prefix}timeout`` (URL and model default to
    ``$LEARN2ASK_BASE_URL``/``$LEARN2ASK_MODEL``)."""
    group.add_argument(
        f"--{prefix}base-url",
        default=os.environ.get("LEARN2ASK_BASE_URL"),
        help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (env LEARN2ASK_BASE_URL)",
    )
    group.add_argument(
        f"--{prefix}model",
        default=os.environ.get("LEARN2ASK_MODEL"),
        help=f"{what} name at the endpoint (env LEARN2ASK_MODEL)",
    )
    group.add_argument(f"--{prefix}max-concurrency", type=int, default=8, help="parallel requests")
    group.add_argument(f"--{prefix}max-attempts", type=int, default=3, help="hard cap per request")
    group.add_argument(f"--{prefix}timeout", type=float, default=60.0, help="seconds per request")


def endpoint_options(args: argparse.Namespace, prefix: str = "") -> dict[str, Any]:
    """The options :func:`add_endpoint_arguments` added, as :class:`EndpointOptions` fields."""
    key = prefix.replace("-", "_")
    return {
        "base_url": getattr(args, f"{key}base_url"),
        "model": getattr(args, f"{key}model"),
        "max_concurrency": getattr(args, f"{key}max_concurrency"),
        "max_attempts": getattr(args, f"{key}max_attempts"),
        "timeout_s": getattr(args, f"{key}timeout"),
    }


def add_reward_arguments(parser: argparse.ArgumentParser, endpoint_prefix: str = "") -> None:
    """``--grader``, ``--grader-file``, ``--fusion``, ``--beta`` and the LLM grader's endpoint
    (``--{endpoint_prefix}base-url`` ...)."""
    parser.add_argument(
        "--grader",
        default="embedding",
        help=f"content grader for R_a: {', '.join(GRADERS.names())} or a plug-in "
        "package.module:factory",
    )
    parser.add_argument(
        "--grader-file",
        type=Path,
        default=None,
        help="embedding grader thresholds (default: bundled embedding-v1.json)",
    )
    parser.add_argument(
        "--fusion",
        default="hierarchical",
        help=f"how R_a, R_s and P combine: {', '.join(FUSIONS.names())} or a plug-in "
        "package.module:function",
    )
    parser.add_argument("--beta", type=float, default=2.0, help="weight of R_a in the fusion")
    add_endpoint_arguments(
        parser.add_argument_group("llm grader"), endpoint_prefix, what="judge model"
    )


def grader_config_from_args(
    args: argparse.Namespace,
    cache_path: Path | None,
    endpoint_prefix: str = "",
    domain: Any = None,
) -> Any:
    """The :class:`~learn2ask.rewards.scorer.GraderConfig` the reward options describe;
    ``domain`` (a :class:`~learn2ask.domain.Domain`) gives the LLM judge its rubric."""
    from learn2ask.rewards.scorer import GraderConfig

    return GraderConfig(
        kind=GRADERS.check(args.grader),
        file=args.grader_file,
        cache_path=cache_path,
        fusion=FUSIONS.check(args.fusion),
        beta=args.beta,
        domain=domain,
        **endpoint_options(args, endpoint_prefix),
    )


def add_question_memory_arguments(parser: Any) -> None:
    """``--anchor-weight W`` and ``--likelihood-weight W`` (``evaluate`` and ``serve``):
    override a run's question-memory settings (models/question_memory.py); default None, the
    run's own."""
    parser.add_argument(
        "--anchor-weight",
        type=_non_negative,
        default=None,
        help="how much the user's first message weighs in the question memory's similarity key "
        "(default: the run's; 0.5 keeps typed intakes nearer their complaint, README)",
    )
    parser.add_argument(
        "--likelihood-weight",
        type=_non_negative,
        default=None,
        help="how much the policy's own likelihood of a question weighs against the memory's "
        "vote among its 5 best-voted (default: the run's; through an endpoint it needs "
        "vLLM's prompt_logprobs, which serve-model returns; README)",
    )


def _non_negative(text: str) -> float:
    """argparse type: a number >= 0 (argparse names the option in its one-line error)."""
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value
