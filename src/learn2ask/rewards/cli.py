"""``learn2ask grade``: score any set of replies against prepared samples."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from learn2ask.commands import Command


def add_grade_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``learn2ask grade``."""
    parser.add_argument("samples", type=Path, metavar="SAMPLES", help="samples JSONL (prepare)")
    parser.add_argument(
        "--responses",
        required=True,
        help='JSONL of {"id": sample id, "response": str} (several per id '
        "allowed), or the word 'expert' to grade the expert's own next action "
        "(its next question, or <stop /> where s* = STOP)",
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="output directory for scores.jsonl and summary.json"
    )
    parser.add_argument(
        "--grader", choices=("embedding", "llm"), default="embedding", help="content grader for R_a"
    )
    parser.add_argument(
        "--grader-file",
        type=Path,
        default=None,
        help="embedding grader thresholds (default: bundled embedding-v1.json)",
    )
    parser.add_argument(
        "--fusion",
        choices=("hierarchical", "sum", "ra_only", "rs_only"),
        default="hierarchical",
        help="how R_a, R_s and P combine",
    )
    parser.add_argument("--beta", type=float, default=2.0, help="weight of R_a in the fusion")
    group = parser.add_argument_group("llm grader")
    group.add_argument(
        "--base-url",
        default=os.environ.get("LEARN2ASK_BASE_URL"),
        help="OpenAI-compatible endpoint (env LEARN2ASK_BASE_URL)",
    )
    group.add_argument(
        "--model",
        default=os.environ.get("LEARN2ASK_MODEL"),
        help="judge model name (env LEARN2ASK_MODEL)",
    )
    group.add_argument("--max-concurrency", type=int, default=8, help="parallel requests")
    group.add_argument("--max-attempts", type=int, default=3, help="hard cap per request")
    group.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    group.add_argument(
        "--cache", type=Path, default=None, help="SQLite grade cache (default: OUT/grades.sqlite)"
    )


def grader_from_args(args: argparse.Namespace):  # noqa: ANN201 - ContentGrader protocol
    """The content grader the options ask for."""
    from learn2ask.errors import ConfigError
    from learn2ask.rewards.scorer import build_grader

    if args.grader == "embedding":
        return build_grader("embedding", grader_file=args.grader_file)
    if not args.base_url or not args.model:
        raise ConfigError("--grader llm needs --base-url and --model")
    from learn2ask.models.client import ClientConfig

    client = ClientConfig(
        base_url=args.base_url,
        model=args.model,
        timeout_s=args.timeout,
        max_attempts=args.max_attempts,
        max_concurrency=args.max_concurrency,
    )
    return build_grader("llm", client=client, cache_path=args.cache or args.out / "grades.sqlite")


def run_grade(args: argparse.Namespace) -> int:
    """Grade and write scores.jsonl + summary.json."""
    import json

    from learn2ask.data.samples import load_samples
    from learn2ask.rewards.fusion import FusionConfig
    from learn2ask.rewards.grading import grade_responses, load_responses
    from learn2ask.rewards.scorer import RewardScorer

    samples = load_samples(args.samples)
    responses = load_responses(args.responses, samples)
    scorer = RewardScorer(grader_from_args(args), FusionConfig(args.fusion, args.beta))
    summary = grade_responses(scorer, samples, responses, args.out)
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.out / 'scores.jsonl'} and {args.out / 'summary.json'}")
    return 0


COMMANDS = [
    Command(
        name="grade",
        help="score replies (a model's, or the expert's) with R_a, R_s, P and the fused reward",
        add_arguments=add_grade_arguments,
        run=run_grade,
    )
]
