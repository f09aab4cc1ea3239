"""``learn2ask prepare``: command-line front of :mod:`learn2ask.data.prepare`."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path

from learn2ask.commands import Command
from learn2ask.data.readers import DEFAULT_SPEAKER_MAP, FORMATS, ReaderConfig, parse_speaker_map
from learn2ask.errors import ConfigError


def add_prepare_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``learn2ask prepare``."""
    parser.add_argument(
        "inputs",
        nargs="*",
        type=Path,
        metavar="INPUT",
        help="log files (CSV, JSON, JSONL); or use --preset",
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output directory for train.jsonl, test.jsonl, stats.json",
    )
    parser.add_argument(
        "--preset",
        default=None,
        help="bundled data: mts-dialog, aci-bench, all, demo, realmedconv-sample",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="input format (default: detected from suffix and first record)",
    )
    parser.add_argument(
        "--speaker-map",
        default=None,
        metavar="LABEL=ROLE,...",
        help="extra speaker label -> role (user|expert) entries for transcripts, "
        "added to the defaults " + ",".join(f"{k}={v}" for k, v in DEFAULT_SPEAKER_MAP.items()),
    )
    parser.add_argument(
        "--test-fraction",
        type=float,
        default=0.1,
        help="share of DIALOGUES held out as test (never split by sample)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/test split")
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip invalid records (counted in stats.json) instead of failing",
    )
    parser.add_argument(
        "--extractor",
        choices=("qa", "llm"),
        default="qa",
        help="how I* is derived: offline question/answer rules, or an LLM",
    )
    parser.add_argument(
        "--action-pattern",
        default=None,
        help="regex of expert actions that are not questions (qa extractor; "
        "default matches tags such as <med_search>)",
    )
    group = parser.add_argument_group("llm extractor")
    group.add_argument(
        "--base-url",
        default=os.environ.get("LEARN2ASK_BASE_URL"),
        help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (env LEARN2ASK_BASE_URL)",
    )
    group.add_argument(
        "--model",
        default=os.environ.get("LEARN2ASK_MODEL"),
        help="model name at the endpoint (env LEARN2ASK_MODEL)",
    )
    group.add_argument(
        "--attributes",
        default=None,
        help="comma-separated attribute list (default: symptom, quality, ...)",
    )
    group.add_argument("--domain", default=None, help="one-line description of the domain")
    group.add_argument("--max-concurrency", type=int, default=8, help="parallel requests")
    group.add_argument("--max-attempts", type=int, default=3, help="hard cap per request")
    group.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="extraction cache (default: OUT/.extract-cache)",
    )


def build_extractor(args: argparse.Namespace):  # noqa: ANN201 - Extractor protocol
    """The extractor the options ask for."""
    if args.extractor == "qa":
        from learn2ask.targets.qa import QAExtractor, QAExtractorConfig

        if args.action_pattern:
            return QAExtractor(QAExtractorConfig(action_pattern=args.action_pattern))
        return QAExtractor()
    if not args.base_url or not args.model:
        raise ConfigError("--extractor llm needs --base-url and --model")
    from learn2ask.models.client import ClientConfig
    from learn2ask.targets.llm import LLMExtractor, LLMExtractorConfig

    kwargs = {}
    if args.attributes:
        kwargs["attributes"] = tuple(a.strip().lower() for a in args.attributes.split(","))
    if args.domain:
        kwargs["domain"] = args.domain
    return LLMExtractor(
        LLMExtractorConfig(
            client=ClientConfig(
                base_url=args.base_url,
                model=args.model,
                max_concurrency=args.max_concurrency,
                max_attempts=args.max_attempts,
            ),
            cache_dir=args.cache_dir or args.out / ".extract-cache",
            **kwargs,
        )
    )


def run_prepare(args: argparse.Namespace) -> int:
    """Run ``prepare`` and print the statistics."""
    from learn2ask.data.prepare import PrepareConfig, prepare_dataset, preset_paths

    inputs = list(args.inputs)
    if args.preset:
        inputs.extend(preset_paths(args.preset))
    if not inputs:
        raise ConfigError("give INPUT files or --preset")
    speaker_map = dict(DEFAULT_SPEAKER_MAP)
    if args.speaker_map:
        try:
            speaker_map.update(parse_speaker_map(args.speaker_map))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    config = PrepareConfig(
        inputs=tuple(inputs),
        out=args.out,
        reader=ReaderConfig(
            format=args.format, speaker_map=speaker_map, skip_invalid=args.skip_invalid
        ),
        test_fraction=args.test_fraction,
        seed=args.seed,
    )
    stats = prepare_dataset(config, build_extractor(args))
    summary = {k: v for k, v in asdict(stats).items() if not k.endswith("reasons")}
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.out / 'train.jsonl'}, {args.out / 'test.jsonl'}, {args.out / 'stats.json'}")
    return 0


COMMANDS = [
    Command(
        name="prepare",
        help="logs -> samples with hindsight targets (I*, s*), split by dialogue",
        description="Read expert conversation logs, cut a sample wherever the expert speaks after "
        "user input (context = full history, future = the rest), derive I* and s* from the "
        "future, split by dialogue and write train.jsonl, test.jsonl and stats.json.",
        add_arguments=add_prepare_arguments,
        run=run_prepare,
    )
]
