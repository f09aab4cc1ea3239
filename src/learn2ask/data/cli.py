"""``learn2ask prepare``: command-line front of :mod:`learn2ask.data.prepare`."""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict
from pathlib import Path

from learn2ask.cli_options import add_endpoint_arguments, endpoint_options
from learn2ask.commands import Command
from learn2ask.data.readers import DEFAULT_SPEAKER_MAP, ReaderConfig, parse_speaker_map
from learn2ask.domain import DEFAULT_DOMAIN, bundled_domain_names, load_domain
from learn2ask.errors import ConfigError
from learn2ask.io import ensure_output_dir
from learn2ask.plugins import EXTRACTORS, READERS
from learn2ask.targets.build import ExtractorConfig, build_extractor


def add_prepare_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``learn2ask prepare``."""
    parser.add_argument(
        "inputs",
        nargs="*",
        type=Path,
        metavar="INPUT",
        help="log files (CSV, TSV, JSON, JSONL, TextGrid, .txt transcripts; one row per turn or "
        "one record per conversation) or a folder of TextGrid or .txt transcripts; or use --preset",
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
        help="bundled data: mts-dialog, aci-bench, all, demo, realmedconv-sample, support",
    )
    parser.add_argument(
        "--domain",
        default=DEFAULT_DOMAIN,
        metavar="NAME|FILE",
        help=f"domain: {', '.join(bundled_domain_names())} or a domain YAML file (gives the llm "
        "extractor its description and attributes)",
    )
    parser.add_argument(
        "--format",
        default=None,
        help=f"input format: {', '.join(READERS.names())} or a plug-in package.module:reader "
        "(default: detected from suffix and first record)",
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
        default="qa",
        help=f"how I* is derived: {', '.join(EXTRACTORS.names())} (offline question/answer "
        "rules, or an LLM) or a plug-in package.module:factory",
    )
    parser.add_argument(
        "--action-pattern",
        default=None,
        help="regex of expert actions that are not questions (qa extractor; "
        "default matches tags such as <med_search>)",
    )
    group = parser.add_argument_group("llm extractor")
    add_endpoint_arguments(group)
    group.add_argument(
        "--attributes",
        default=None,
        help="comma-separated attribute list (default: the domain's)",
    )
    group.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="extraction cache (default: OUT/.extract-cache)",
    )


def check_regex(option: str, pattern: str | None) -> None:
    """A ``ConfigError`` naming ``option`` when ``pattern`` is not a valid regular expression."""
    if pattern is None:
        return
    try:
        re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ConfigError(f"{option} {pattern!r}: not a valid regular expression ({exc})") from None


def extractor_config(args: argparse.Namespace) -> ExtractorConfig:
    """The typed extractor config the options describe."""
    attributes = tuple(a.strip().lower() for a in (args.attributes or "").split(",") if a.strip())
    return ExtractorConfig(
        kind=EXTRACTORS.check(args.extractor),
        domain=load_domain(args.domain),
        attributes=attributes,
        action_pattern=args.action_pattern,
        cache_dir=args.cache_dir or args.out / ".extract-cache",
        **endpoint_options(args),
    )


def run_prepare(args: argparse.Namespace) -> int:
    """Run ``prepare`` and print the statistics."""
    from learn2ask.data.prepare import PrepareConfig, prepare_dataset, preset_paths

    check_regex("--action-pattern", args.action_pattern)
    ensure_output_dir(args.out, create=False)
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
            format=READERS.check(args.format) if args.format else None,
            speaker_map=speaker_map,
            skip_invalid=args.skip_invalid,
        ),
        test_fraction=args.test_fraction,
        seed=args.seed,
    )
    stats = prepare_dataset(config, build_extractor(extractor_config(args)))
    summary = {k: v for k, v in asdict(stats).items() if not k.endswith("reasons")}
    print(json.dumps(summary, indent=2))
    if stats.unpunctuated_dialogues:
        print(
            f"note: {stats.unpunctuated_dialogues} of {stats.dialogues} dialogues have no '?' in "
            "any expert turn (speech-recognition transcripts?): their questions were found by "
            "their openings (qa rule 4, docs/data.md)",
            file=sys.stderr,
        )
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
