"""``learn2ask grade``: score any set of replies against prepared samples."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from learn2ask.cli_options import add_reward_arguments, grader_config_from_args
from learn2ask.commands import Command
from learn2ask.runs import GRADE_CACHE

if TYPE_CHECKING:
    from learn2ask.rewards.scorer import GraderConfig


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
    add_reward_arguments(parser)
    parser.add_argument(
        "--domain",
        default=None,
        metavar="NAME|FILE",
        help="domain of the samples: its stop tag, and the llm grader's rubric (default: medical)",
    )
    parser.add_argument(
        "--max-failure-rate",
        type=float,
        default=0.0,
        help="share of replies that may fail to grade; above it the command exits 3",
    )
    parser.add_argument(
        "--cache", type=Path, default=None, help="SQLite grade cache (default: OUT/grades.sqlite)"
    )


def grader_config(args: argparse.Namespace) -> GraderConfig:
    """The grader, fusion and domain the options ask for."""
    from learn2ask.domain import DEFAULT_DOMAIN, load_domain

    domain = load_domain(args.domain or DEFAULT_DOMAIN)
    return grader_config_from_args(args, args.cache or args.out / GRADE_CACHE, domain=domain)


def run_grade(args: argparse.Namespace) -> int:
    """Grade and write scores.jsonl + summary.json."""
    import json

    from learn2ask.calibration.report import warn_if_no_agreement
    from learn2ask.data.samples import load_samples
    from learn2ask.errors import check_failure_rate, check_max_failure_rate
    from learn2ask.io import ensure_output_dir
    from learn2ask.rewards.grading import grade_responses, load_responses
    from learn2ask.rewards.scorer import build_scorer

    check_max_failure_rate(args.max_failure_rate)
    ensure_output_dir(args.out, create=False)
    samples = load_samples(args.samples)
    responses = load_responses(args.responses, samples)
    config = grader_config(args)
    warn_if_no_agreement(config.file, config.kind)  # issue 14: unverified R_a
    scorer = build_scorer(config)
    summary = grade_responses(scorer, samples, responses, args.out)
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.out / 'scores.jsonl'} and {args.out / 'summary.json'}")
    check_failure_rate(
        summary["grading_failures"], summary["responses"], args.max_failure_rate, "grading"
    )
    return 0


COMMANDS = [
    Command(
        name="grade",
        help="score replies (a model's, or the expert's) with R_a, R_s, P and the fused reward",
        add_arguments=add_grade_arguments,
        run=run_grade,
    )
]
