"""``learn2ask calibrate`` (graders and the extractor against human labels) and ``learn2ask
label`` (the labelling page that collects those labels)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from learn2ask.commands import Command

if TYPE_CHECKING:
    from learn2ask.calibration.embedding import LabelledQuestion
    from learn2ask.rewards.graders.embedding import EmbeddingGrader


def add_calibrate_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``learn2ask calibrate``."""
    parser.add_argument(
        "samples",
        type=Path,
        nargs="?",
        default=None,
        metavar="SAMPLES",
        help="samples JSONL: to fit on without labels (use the TRAIN split), or that label ids "
        "refer to (not needed when the labels embed their samples, as exports of "
        "`learn2ask label` do)",
    )
    parser.add_argument(
        "--grader", choices=("embedding", "llm"), default="embedding", help="grader to calibrate"
    )
    parser.add_argument(
        "--extractor",
        choices=("qa", "llm"),
        default=None,
        help="calibrate an extractor instead: precision/recall of I* items against extraction "
        "labels (--labels); llm also tries prompt variants through --base-url/--model",
    )
    parser.add_argument("--out", type=Path, default=None, help="grader file to write (JSON)")
    parser.add_argument(
        "--labels",
        type=Path,
        default=None,
        help='human labels JSONL {"id", "question", "label": 0|0.5|1} (or extraction labels '
        "with --extractor)",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="print weighted kappa before/after calibration with bootstrap CIs",
    )
    parser.add_argument("--version", default="custom", help="version string of the grader file")
    parser.add_argument(
        "--held-out", type=float, default=0.5, help="share of labelled DIALOGUES held out"
    )
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and variants")
    parser.add_argument(
        "--full-fpr",
        type=float,
        default=0.01,
        help="without labels: share of unrelated questions allowed to score 1",
    )
    parser.add_argument(
        "--half-fpr",
        type=float,
        default=0.10,
        help="without labels: share of unrelated questions allowed to score 0.5+",
    )
    decision = parser.add_argument_group("decision rule (a trained policy on a new source)")
    decision.add_argument(
        "--decision",
        type=Path,
        default=None,
        metavar="RUN",
        help="re-cut RUN's STOP threshold on SAMPLES: prepared logs of the source it will decide "
        "on (their train split), labelled by hindsight; prints the rule and, on stderr, whether "
        "the re-cut earns more than the saved cut on halves of the logs it was not cut on "
        "(save it / keep it); --write saves it",
    )
    decision.add_argument(
        "--points", type=int, default=200, help="balanced points to cut the threshold on"
    )
    decision.add_argument(
        "--write",
        action="store_true",
        help="save the re-cut rule in RUN's learn2ask_policy.json (the old one is kept in it)",
    )
    group = parser.add_argument_group("llm grader (Auto-Prompt)")
    group.add_argument(
        "--base-url",
        default=os.environ.get("LEARN2ASK_BASE_URL"),
        help="OpenAI-compatible endpoint (env LEARN2ASK_BASE_URL)",
    )
    group.add_argument(
        "--model", default=os.environ.get("LEARN2ASK_MODEL"), help="judge model (env)"
    )
    group.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="step log + grade cache, for resuming (default: OUT with .steps suffix)",
    )
    group.add_argument(
        "--domain",
        default=None,
        metavar="NAME|FILE",
        help="domain whose grader rubric is the starting prompt (default: medical)",
    )
    group.add_argument("--max-variants", type=int, default=8, help="prompt variants to try")
    group.add_argument(
        "--max-labels", type=int, default=None, help="use at most this many labels (cost cap)"
    )
    group.add_argument("--max-tokens", type=int, default=128, help="judge reply token cap")
    group.add_argument("--max-concurrency", type=int, default=4, help="parallel requests")
    group.add_argument("--timeout", type=float, default=120.0, help="seconds per request")


def _samples_by_id(path: Path | None) -> dict:
    from learn2ask.data.samples import load_samples

    return {s.id: s for s in load_samples(path)} if path else {}


def _check_args(args: argparse.Namespace) -> None:
    from learn2ask.errors import ConfigError

    if args.report and not args.labels:
        raise ConfigError("--report needs --labels (agreement is measured against human labels)")
    if args.extractor and not args.labels:
        raise ConfigError("--extractor needs --labels (extraction labels JSONL)")
    if args.extractor == "llm" and (not args.base_url or not args.model):
        raise ConfigError("--extractor llm needs --base-url and --model (or the env variables)")
    if args.grader == "llm" and not args.extractor:
        if not args.labels:
            raise ConfigError("--grader llm needs --labels")
        if not args.base_url or not args.model:
            raise ConfigError("--grader llm needs --base-url and --model (or the env variables)")
    if not args.labels and (args.samples is None or args.out is None):
        raise ConfigError("without --labels, give SAMPLES (train split) and --out")
    if not 0.0 < args.held_out < 1.0:
        raise ConfigError(f"--held-out must be in (0, 1), got {args.held_out}")


def run_calibrate(args: argparse.Namespace) -> int:
    """Calibrate one grader (or the extractor, or a policy's decision); write its file; print
    the figures."""
    if args.decision is not None:
        return _run_decision(args)
    _check_args(args)
    if args.extractor:
        return _run_extractor(args)
    if args.grader == "llm":
        return _run_llm(args)
    return _run_embedding(args)


def _run_decision(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from learn2ask.calibration.decision import (
        decision_points,
        recalibrate_decision,
        recut_verdict,
    )
    from learn2ask.data.samples import load_samples
    from learn2ask.errors import ConfigError
    from learn2ask.evaluation.stop_point import dialogue_paths
    from learn2ask.io import write_json_atomic
    from learn2ask.models.decision import load_deciding_policy, save_decision_rule
    from learn2ask.models.registry import resolve_local_model_dir

    if args.samples is None:
        raise ConfigError("--decision needs SAMPLES: prepared logs of the new source")
    model_dir = resolve_local_model_dir(str(args.decision))
    if model_dir is None:
        raise ConfigError(f"{args.decision}: not a training run or model directory")
    # Bad lines and too few points are refused before any model loads.
    samples = load_samples(args.samples)
    chosen = decision_points(samples, str(args.samples), args.points, args.seed)
    share = sum(s.decision == "stop" for s in samples) / len(samples)
    policy = load_deciding_policy(str(model_dir))  # a GPU when one is visible
    paths = list(dialogue_paths(samples).values())
    rule = recalibrate_decision(policy, chosen, share, len(samples), str(args.samples), paths=paths)
    if args.out is not None:  # first: an --out that cannot be written leaves the run as it was
        write_json_atomic(args.out, asdict(rule))
    if args.write:
        save_decision_rule(model_dir, rule)
    print(json.dumps(asdict(rule), indent=2))
    print(recut_verdict(rule), file=sys.stderr)
    return 0


def _run_embedding(args: argparse.Namespace) -> int:
    from learn2ask.calibration.embedding import fit_embedding_thresholds, write_grader_file
    from learn2ask.data.samples import load_samples
    from learn2ask.rewards.graders.embedding import EmbeddingGrader

    grader = EmbeddingGrader()
    if not args.labels:
        fit = fit_embedding_thresholds(
            grader, load_samples(args.samples), args.full_fpr, args.half_fpr
        )
        write_grader_file(args.out, fit, args.version, str(args.samples))
        print(f"thresholds full={fit.full} half={fit.half}; wrote {args.out}")
        return 0
    from learn2ask.calibration.labels import load_grade_labels

    labelled = load_grade_labels(args.labels, _samples_by_id(args.samples))
    result = calibrate_embedding(grader, labelled, args)
    if args.out:
        write_grader_file(
            args.out, result["fit"], args.version, result["source"], result["agreement"]
        )
    _print_result("embedding", result, args)
    return 0


def calibrate_embedding(
    grader: EmbeddingGrader, labelled: list[LabelledQuestion], args: argparse.Namespace
) -> dict:
    """Fit thresholds by kappa on the calibration split; measure both settings on held-out."""
    from learn2ask.calibration.embedding import fit_thresholds_to_labels, threshold_agreement
    from learn2ask.calibration.labels import split_labels
    from learn2ask.calibration.report import agreement_block
    from learn2ask.errors import ConfigError

    try:
        calibration, held_out = split_labels(labelled, args.held_out)
    except ValueError as exc:
        raise ConfigError(f"{args.labels}: {exc}") from None
    fit, _ = fit_thresholds_to_labels(grader, calibration, objective="kappa")
    config = grader.config
    before = threshold_agreement(
        grader, held_out, config.full_threshold, config.half_threshold, args.bootstrap, args.seed
    )
    after = threshold_agreement(grader, held_out, fit.full, fit.half, args.bootstrap, args.seed)
    source = f"{len(calibration)} human labels (calibration split) in {args.labels}"
    block = agreement_block(
        before, after, len(labelled), len(calibration), len(held_out), str(args.labels)
    )
    block["before"]["setting"] = f"{grader.version} full={config.full_threshold} " + (
        f"half={config.half_threshold}"
    )
    block["after"]["setting"] = f"full={fit.full} half={fit.half}"
    return {
        "fit": fit,
        "before": before,
        "after": after,
        "agreement": block,
        "source": source,
    }


def _print_result(name: str, result: dict, args: argparse.Namespace) -> None:
    from learn2ask.calibration.report import report_lines

    if args.report:
        print("\n".join(report_lines(name, result["before"], result["after"])))
    else:
        print(json.dumps(result["agreement"], indent=2))
    if args.out:
        print(f"wrote {args.out}")
    else:
        print("no --out given: nothing written")


def _run_llm(args: argparse.Namespace) -> int:
    from learn2ask.calibration.autoprompt import AutoPromptConfig, run_autoprompt
    from learn2ask.calibration.labels import load_grade_labels
    from learn2ask.domain import DEFAULT_DOMAIN, load_domain
    from learn2ask.models.client import ClientConfig

    rubric = load_domain(args.domain or DEFAULT_DOMAIN).grader.rubric
    labelled = load_grade_labels(args.labels, _samples_by_id(args.samples))
    if args.max_labels:
        labelled = labelled[: args.max_labels]
    out = args.out or Path(f"grader-llm-{args.version}.json")
    config = AutoPromptConfig(
        client=ClientConfig(
            base_url=args.base_url,
            model=args.model,
            timeout_s=args.timeout,
            max_concurrency=args.max_concurrency,
        ),
        work_dir=args.work_dir or out.with_suffix(".steps"),
        held_out=args.held_out,
        max_variants=args.max_variants,
        max_tokens=args.max_tokens,
        bootstrap=args.bootstrap,
        seed=args.seed,
        version=args.version,
        base_rubric=rubric,
    )
    result = run_autoprompt(config, labelled, str(args.labels), out)
    args.out = out
    _print_result("llm", result, args)
    return 0


def _run_extractor(args: argparse.Namespace) -> int:
    from learn2ask.calibration.extraction import calibrate_llm_extractor, calibrate_qa_extractor

    if args.extractor == "llm":
        from learn2ask.models.client import ClientConfig

        client = ClientConfig(
            base_url=args.base_url,
            model=args.model,
            timeout_s=args.timeout,
            max_concurrency=args.max_concurrency,
        )
        work_dir = args.work_dir or (args.out or Path("extractor-llm.json")).with_suffix(".steps")
        result = calibrate_llm_extractor(
            args.labels, client, work_dir, args.held_out, args.max_variants
        )
    else:
        result = calibrate_qa_extractor(args.labels, args.bootstrap, args.seed)
    print("\n".join(result["lines"]))
    if args.out:
        from learn2ask.io import write_json_atomic

        write_json_atomic(args.out, result["file"])
        print(f"wrote {args.out}")
    return 0


def add_label_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``learn2ask label``."""
    parser.add_argument(
        "--samples", type=Path, required=True, help="samples JSONL (e.g. data/test.jsonl)"
    )
    parser.add_argument(
        "--responses",
        default="expert",
        help='JSONL of {"id", "response"} to label (as for `grade`), or `expert`',
    )
    parser.add_argument("--out", type=Path, required=True, help="SQLite file of the labels")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on")
    parser.add_argument("--max-cards", type=int, default=300, help="grade cards to queue")
    parser.add_argument(
        "--extraction-cards", type=int, default=30, help="extraction cards to queue"
    )
    parser.add_argument(
        "--random-share",
        type=float,
        default=0.2,
        help="share of grade cards drawn at random (the rest: most informative first)",
    )
    parser.add_argument(
        "--scores",
        type=Path,
        default=None,
        help="scores.jsonl of another grader (`grade --grader llm`) on the same responses: "
        "questions where it disagrees with the embedding grader are queued first",
    )
    parser.add_argument(
        "--export", type=Path, default=None, help="write the labels as JSONL here and exit"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random share")


def run_label(args: argparse.Namespace) -> int:
    """Queue informative cards and serve the labelling page (or export labels)."""
    from learn2ask.calibration.labelling import (
        LabelStore,
        build_cards,
        create_app,
        export_labels,
        load_other_scores,
    )
    from learn2ask.errors import ConfigError

    store = LabelStore(args.out)
    if args.export:
        count = export_labels(store, args.export)
        print(f"wrote {count} labels to {args.export}")
        return 0
    if not 0.0 <= args.random_share <= 1.0:
        raise ConfigError(f"--random-share must be in [0, 1], got {args.random_share}")
    from learn2ask.data.samples import load_samples
    from learn2ask.rewards.grading import load_responses

    samples = load_samples(args.samples)
    responses = load_responses(args.responses, samples)
    other = load_other_scores(args.scores) if args.scores else None
    added = build_cards(
        store,
        samples,
        responses,
        max_cards=args.max_cards,
        extraction_cards=args.extraction_cards,
        random_share=args.random_share,
        seed=args.seed,
        other_scores=other,
    )
    import uvicorn

    print(f"{added} new cards; labelling page on http://{args.host}:{args.port}/")
    uvicorn.run(create_app(store), host=args.host, port=args.port, log_level="warning")
    return 0


COMMANDS = [
    Command(
        name="calibrate",
        help="calibrate a grader (embedding thresholds, LLM prompt) or the extractor against a "
        "few human labels; --report prints kappa before/after",
        add_arguments=add_calibrate_arguments,
        run=run_calibrate,
    ),
    Command(
        name="label",
        help="labelling page: a person grades questions and checks I* items, one card at a time",
        add_arguments=add_label_arguments,
        run=run_label,
    ),
]
