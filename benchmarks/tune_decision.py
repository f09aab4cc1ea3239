"""Tune the decision_sft demo recipe on a validation split carved from the TRAINING file.

    python -m benchmarks.tune_decision --train-file demo_out/data/train_mix.jsonl \
        --out /tmp/tune [--model DIR] [--variants baseline per_source ...]

Every variant trains ``decision_sft`` from the same start model with the demo config plus its
overrides, holding out the same ``--validation-fraction`` of the training dialogues, and is
scored there (never on the test split): STOP/CONTINUE AUC of P(stop), overall and per data
source, and the balanced accuracy and expected fused reward of the best threshold (a right stop
earns 2 + beta, a right question ``--ask-reward``, the demo's measured estimate). Results go to
``OUT/tune.json`` as each variant finishes; a rerun skips finished variants. docs/results.md says
which choice this run made and on which machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from learn2ask.data.samples import load_samples
from learn2ask.data.sampling import source_of
from learn2ask.models.decision import stop_token_of
from learn2ask.models.generation import LocalGenerator
from learn2ask.models.loading import load_policy
from learn2ask.models.policy import build_policy_messages
from learn2ask.training import decision_sft
from learn2ask.training.config import TrainConfig, load_train_config
from learn2ask.training.threshold import (
    auc_by_source,
    balanced_accuracy,
    balanced_points,
    best_threshold,
    split_validation,
    stop_auc,
)

DEMO_CONFIG = "demo_decision"  # the shipped config, by name

# name -> --set overrides on the demo config. Costs on 2 CPU cores scale with points x layers.
VARIANTS: dict[str, list[str]] = {
    "baseline": [],
    "pooled_balance": ["balance_per_source=false"],
    "progress": ["prompt.show_progress=true"],
    "context_500": ["prompt.max_context_chars=500"],
    "progress_context_500": ["prompt.show_progress=true", "prompt.max_context_chars=500"],
    "points_2000": ["max_samples=2000"],
    # the demo's time budget (docs/results.md, "640 training examples")
    "points_640": ["max_samples=640"],
    # full right-padded batches of 8 instead of equal-length ones (3.1 examples a step)
    "sorted_batches_640": ["max_samples=640", "decision.batch_grouping=sorted"],
    "layers_12": ["decision.top_layers=12"],
    "loss_weight_3": ["decision.loss_weight=3.0"],
    "epochs_2": ["epochs=2"],
    "lr_5e-4": ["learning_rate=0.0005"],
    # GPU shape: every layer, every balanced point, 3 epochs (not a CPU budget).
    "full_all_points": ["decision.top_layers=30", "max_samples=100000", "epochs=3"],
}


def validation_scores(model_dir: str, config: TrainConfig, points: list, ask_reward: float) -> dict:
    """P(stop) of a model on the validation points and what the best threshold makes of it."""
    model, tokenizer = load_policy(model_dir)
    generator = LocalGenerator(model, tokenizer)
    prompt = config.prompt.to_policy_config()
    stop_id, _ = stop_token_of(tokenizer, prompt.stop_tag)
    started = time.perf_counter()
    p_stop = generator.next_token_probs(
        [build_policy_messages(s.context, prompt) for s in points], stop_id
    )
    seconds = time.perf_counter() - started
    is_stop = [s.decision == "stop" for s in points]
    beta = config.grpo.fusion_beta
    threshold, reward = best_threshold(p_stop, is_stop, 2.0 + beta, ask_reward)
    result = {
        "stop_auc": round(stop_auc(p_stop, is_stop), 4),
        "threshold": round(threshold, 4),
        "expected_reward": round(reward, 4),
        "balanced_accuracy": round(balanced_accuracy(p_stop, is_stop, threshold), 4),
        "points_per_second": round(len(points) / seconds, 1),
    }
    for source, value in auc_by_source(points, p_stop).items():
        result[f"stop_auc[{source}]"] = value
        rows = [
            (p, st)
            for p, st, s in zip(p_stop, is_stop, points, strict=True)
            if source_of(s) == source
        ]
        result[f"balanced_accuracy[{source}]"] = round(
            balanced_accuracy([p for p, _ in rows], [st for _, st in rows], threshold), 4
        )
    return result


def peak_gpu_gib() -> float | None:
    """Peak GPU memory since the last call (None on a CPU)."""
    import torch

    if not torch.cuda.is_available():
        return None
    peak = torch.cuda.max_memory_allocated() / 2**30
    torch.cuda.reset_peak_memory_stats()
    return round(peak, 2)


def main() -> None:
    """Train and score each variant; print one line per variant and keep ``tune.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-file", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--config", default=DEMO_CONFIG)
    parser.add_argument("--variants", nargs="*", default=["base", *VARIANTS])
    parser.add_argument("--validation-fraction", type=float, default=0.2)
    parser.add_argument("--validation-points", type=int, default=600)
    parser.add_argument("--ask-reward", type=float, default=2.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], help="override for every variant")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "tune.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    _, validation = split_validation(
        load_samples(args.train_file), args.validation_fraction, args.seed
    )
    points = balanced_points(validation, args.validation_points, args.seed)
    print(f"validation: {len(points)} balanced points of {len(validation)}", flush=True)
    for name in args.variants:
        if name in results:
            print(name, results[name], flush=True)
            continue
        overrides = [
            *VARIANTS.get(name, []),
            f"decision.validation_fraction={args.validation_fraction}",
            "decision.calibrate=false",
            f"seed={args.seed}",
            *args.set,
        ]
        config = load_train_config(
            args.config,
            overrides,
            model=args.model,
            train_file=args.train_file,
            output_dir=str(args.out / name),
        )
        if name == "base":
            row = {"train": None}
            model_dir = args.model
        else:
            model_dir = str(decision_sft.run(config))
            summary = json.loads((args.out / name / "training_summary.json").read_text())
            row = {
                "overrides": VARIANTS[name],
                "train": {
                    k: summary.get(k)
                    for k in (
                        "train_samples",
                        "steps",
                        "cache_seconds",
                        "train_seconds",
                        "examples_per_second",
                        "wall_seconds",
                    )
                },
            }
        row.update(validation_scores(model_dir, config, points, args.ask_reward))
        row["peak_gpu_gib"] = peak_gpu_gib()
        results[name] = row
        results_path.write_text(json.dumps(results, indent=1))
        print(name, json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
