"""Choose how the stop head is fused with the LM's P(stop), on validation only: AUC of s* on the
run's own validation dialogues (in source) and on a source the run never saw (transfer).

    python -m benchmarks.tune_stop_fusion --model RUN --train-file TRAIN.jsonl \
        [--transfer-file OTHER_SOURCE_TRAIN.jsonl] --out DIR

``RUN`` is a ``decision_sft`` run with a stop head, ``TRAIN.jsonl`` the file it was trained on:
its validation dialogues are carved again exactly as training carved them (the run's seed and
``validation_fraction``). The LM's and the head's log-odds are computed once per point; every
fusion (``models/stop_head.py``: ``fusion_weights``) is fitted on in-source validation points.
In source, the fusion is fitted on one half of the validation dialogues and scored on the other,
both ways (no point scores a fusion fitted on it); transfer, fitted on all of them and scored on
``--transfer-file`` (e.g. ACI-Bench's *training* dialogues for a run trained on MTS-Dialog
alone; never a test split). Writes ``DIR/tune_stop_fusion.json``; prints one line per variant.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Sequence
from pathlib import Path

from learn2ask.data.samples import load_samples
from learn2ask.data.types import Sample
from learn2ask.models.decision import load_deciding_policy
from learn2ask.models.stop_head import HEAD_FUSIONS, fused_log_odds, fusion_weights, logit
from learn2ask.training.threshold import balanced_points, split_validation, stop_auc

Scores = tuple[list[float], list[float], list[bool]]  # LM log-odds, head log-odds, s* = STOP


def auc(scores: Sequence[float], is_stop: Sequence[bool]) -> float:
    """AUC of ``scores`` (any monotone score of STOP) for s* = STOP, to 4 places."""
    return round(stop_auc(scores, is_stop), 4)


def log_odds(policy: object, points: Sequence[Sample]) -> Scores:
    """The LM's and the head's log-odds of STOP at each point, and its s*."""
    contexts = [s.context for s in points]
    lm = [logit(p) for p in policy.p_stop(policy.messages(contexts))]  # type: ignore[attr-defined]
    head = policy.stop_head.classifier.logits(contexts)  # type: ignore[attr-defined]
    return lm, head, [s.decision == "stop" for s in points]


def subset(scores: Scores, keep: Sequence[bool]) -> Scores:
    """The rows of ``scores`` where ``keep``."""
    lm, head, stop = scores
    rows = [(x, z, s) for x, z, s, k in zip(lm, head, stop, keep, strict=True) if k]
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def variant_scores(fit_on: Scores, scored: Scores) -> dict[str, list[float]]:
    """Each variant's log-odds on ``scored``: the LM alone, the head alone, each fusion."""
    result = {"lm": scored[0], "head": scored[1]}
    for fusion in HEAD_FUSIONS:
        weights = fusion_weights(fit_on[:2], fit_on[2], fusion)
        result[fusion] = fused_log_odds(weights, scored[:2])
    return result


def cross_fitted(scores: Scores, dialogues: Sequence[str], seed: int) -> dict[str, float]:
    """In-source AUC per variant, each fusion fitted on the other half of the dialogues."""
    ids = sorted(set(dialogues))
    random.Random(seed).shuffle(ids)
    first = set(ids[: len(ids) // 2])
    halves = [[d in first for d in dialogues], [d not in first for d in dialogues]]
    pooled: dict[str, list[float]] = {}
    labels: list[bool] = []
    for fit_half, score_half in (halves, halves[::-1]):
        held = subset(scores, score_half)
        for name, values in variant_scores(subset(scores, fit_half), held).items():
            pooled.setdefault(name, []).extend(values)
        labels.extend(held[2])
    # pooled across the two folds: each fold's fused scale differs a little, as a deployed
    # head's would from another calibration sample
    return {name: auc(values, labels) for name, values in pooled.items()}


def main(argv: list[str] | None = None) -> None:
    """Score every fusion variant; print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a decision_sft run directory")
    parser.add_argument("--train-file", type=Path, required=True)
    parser.add_argument("--transfer-file", type=Path, default=None)
    parser.add_argument("--points", type=int, default=400, help="balanced points per set")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    summary = json.loads((args.model / "training_summary.json").read_text(encoding="utf-8"))
    config = summary["config"]
    _, validation = split_validation(
        load_samples(args.train_file), config["decision"]["validation_fraction"], config["seed"]
    )
    in_source = balanced_points(validation, args.points, config["seed"] + 1)
    policy = load_deciding_policy(str(args.model))
    if policy.stop_head is None:
        raise SystemExit(f"{args.model}: the run has no stop head")
    scores = log_odds(policy, in_source)
    result: dict[str, object] = {
        "model": str(args.model),
        "train_file": str(args.train_file),
        "in_source_points": len(in_source),
        "in_source_dialogues": len({s.dialogue_id for s in in_source}),
        "in_source_auc_cross_fitted": cross_fitted(
            scores, [s.dialogue_id for s in in_source], config["seed"]
        ),
    }
    print(f"in source ({len(in_source)} points): {result['in_source_auc_cross_fitted']}")
    if args.transfer_file is not None:
        other = balanced_points(load_samples(args.transfer_file), args.points, config["seed"] + 1)
        transfer = log_odds(policy, other)
        result["transfer_file"] = str(args.transfer_file)
        result["transfer_points"] = len(other)
        result["transfer_auc"] = {
            name: auc(values, transfer[2])
            for name, values in variant_scores(scores, transfer).items()
        }
        result["weights"] = {f: fusion_weights(scores[:2], scores[2], f) for f in HEAD_FUSIONS}
        print(f"transfer ({len(other)} points): {result['transfer_auc']}")
    result["seconds"] = round(time.perf_counter() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tune_stop_fusion.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out / 'tune_stop_fusion.json'} ({result['seconds']} s)")


if __name__ == "__main__":
    main()
