"""``learn2ask calibrate``: fit the embedding grader's thresholds (optionally to human labels)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from learn2ask.commands import Command


def add_calibrate_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``learn2ask calibrate``."""
    parser.add_argument(
        "samples",
        type=Path,
        metavar="SAMPLES",
        help="samples JSONL to fit on (use the TRAIN split)",
    )
    parser.add_argument("--out", type=Path, required=True, help="grader file to write (JSON)")
    parser.add_argument(
        "--labels",
        type=Path,
        default=None,
        help='human labels JSONL {"id", "question", "label": 0|0.5|1}: fit '
        "the thresholds that agree best with them",
    )
    parser.add_argument("--version", default="custom", help="version string of the grader file")
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


def load_labels(path: Path, samples: dict) -> list:
    """Read human labels, validating ids and values."""
    from learn2ask.calibration.embedding import LabelledQuestion
    from learn2ask.errors import InputError
    from learn2ask.io import read_jsonl

    labelled = []
    for number, obj in enumerate(read_jsonl(path), start=1):
        if obj.get("id") not in samples:
            raise InputError(path, f"unknown sample id {obj.get('id')!r}", line=number)
        if obj.get("label") not in (0, 0.5, 1) or not isinstance(obj.get("question"), str):
            raise InputError(path, "need 'question' (str) and 'label' in {0, 0.5, 1}", line=number)
        labelled.append(LabelledQuestion(samples[obj["id"]], obj["question"], float(obj["label"])))
    return labelled


def run_calibrate(args: argparse.Namespace) -> int:
    """Fit and write a grader file; print the thresholds (and agreement with labels)."""
    from learn2ask.calibration.embedding import (
        agreement,
        fit_embedding_thresholds,
        fit_thresholds_to_labels,
        write_grader_file,
    )
    from learn2ask.data.samples import load_samples
    from learn2ask.rewards.graders.embedding import EmbeddingGrader

    samples = load_samples(args.samples)
    grader = EmbeddingGrader()
    if args.labels:
        labelled = load_labels(args.labels, {s.id: s for s in samples})
        before = agreement(
            grader, labelled, grader.config.full_threshold, grader.config.half_threshold
        )
        fit, after = fit_thresholds_to_labels(grader, labelled)
        source = f"{len(labelled)} human labels in {args.labels}"
        print(
            json.dumps(
                {
                    "labels": len(labelled),
                    "agreement_bundled_thresholds": before,
                    "agreement_fitted": after,
                },
                indent=2,
            )
        )
    else:
        fit = fit_embedding_thresholds(grader, samples, args.full_fpr, args.half_fpr)
        source = str(args.samples)
    write_grader_file(args.out, fit, args.version, source)
    print(f"thresholds full={fit.full} half={fit.half}; wrote {args.out}")
    return 0


COMMANDS = [
    Command(
        name="calibrate",
        help="fit the embedding grader's thresholds from data or a few human labels",
        add_arguments=add_calibrate_arguments,
        run=run_calibrate,
    )
]
