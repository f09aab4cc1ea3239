"""Which STOP cut suits a conversation walked in order (the live assistant)? On validation only.

    learn2ask evaluate --model RUN --samples VALIDATION.jsonl --whole-dialogues --out EVAL
    python -m benchmarks.tune_sequential_cut --eval EVAL --samples VALIDATION.jsonl --model RUN

The live assistant hands over at its first STOP, so a false STOP early in a long conversation
costs every question after it, and a per-turn cut (balanced or natural) says nothing about
that. Re-deciding the same P(stop) (``p_stop`` in ``rollouts.jsonl``) at a grid of cuts, this
prints, per cut and per source, the stop-point metrics of ``evaluation/stop_point.py`` and the
walk's mean per-turn reward (``stop_point.walk_reward``: the Learn-to-Ask rewards of the turns
the live conversation has, so an early STOP forfeits the questions after it and a late one pays
for each question after the expert's stop point), the criterion of the sequential cut that
``training/threshold.py`` estimates from the calibration points alone. The rows for
the run's saved balanced and natural cuts are marked. VALIDATION must be dialogues the run
never trained on (``training.threshold.split_validation`` of its training file and seed).
Writes ``--out`` (JSON) when given. With ``--cut X`` it instead writes the whole
``stop_point.json`` summary (bootstrap CIs, references) and the walk reward at that one cut:
the same P(stop) re-decided, exactly what ``evaluate --whole-dialogues`` with that threshold
would decide.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from learn2ask.data.samples import load_samples
from learn2ask.data.sampling import source_of
from learn2ask.evaluation.metrics import bootstrap_ci, mean
from learn2ask.evaluation.rollouts import ROLLOUTS_FILE, read_rollouts
from learn2ask.evaluation.stop_point import (
    DialoguePath,
    dialogue_paths,
    outcome_at,
    policy_stop_points,
    summarize_stop_point,
    walk_reward,
)

CUTS = (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def scores_at_cut(
    paths: dict[str, DialoguePath],
    p_stop: dict[str, float],
    cut: float,
    ask: float,
    stop_reward: float,
) -> dict[str, Any]:
    """Stop-point metrics and the walk's mean per-turn reward of deciding STOP where
    P(stop) >= ``cut``."""
    first = policy_stop_points(paths, {k: p >= cut for k, p in p_stop.items()})
    rows = [
        {
            **outcome_at(path, first[d]),
            "walk_reward": walk_reward(path, first[d], ask, stop_reward),
        }
        for d, path in paths.items()
    ]
    keys = ("early", "on_time", "late", "coverage", "extra_questions", "walk_reward")
    return {"dialogues": len(rows), **{k: round(mean([r[k] for r in rows]), 4) for k in keys}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, required=True, help="a --whole-dialogues evaluation")
    parser.add_argument("--samples", type=Path, required=True, help="the samples it evaluated")
    parser.add_argument("--model", type=Path, required=True, help="the run (its saved rule)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--cut",
        type=float,
        default=None,
        help="instead: the full stop_point.json summary (CIs, references) at this one cut",
    )
    args = parser.parse_args(argv)
    rule = json.loads((args.model / "model" / "learn2ask_policy.json").read_text())["decision"]
    ask = rule["calibration"]["ask_reward_estimate"]["ask_reward"]
    stop_reward = 4.0  # 2 + beta at the recipe's beta 2
    rows = [r for r in read_rollouts(args.eval / ROLLOUTS_FILE) if r["rollout"] == 0]
    p_stop = {r["sample_id"]: r["p_stop"] for r in rows}
    samples = [s for s in load_samples(args.samples) if s.id in p_stop]
    if args.cut is not None:
        stops = {k: p >= args.cut for k, p in p_stop.items()}
        summary = {"cut": args.cut, **summarize_stop_point(samples, stops)}
        paths = dialogue_paths(samples)
        first = policy_stop_points(paths, stops)
        rewards = [walk_reward(paths[d], first[d], ask, stop_reward) for d in sorted(paths)]
        low, high = bootstrap_ci(rewards)
        summary["walk_reward"] = {"mean": round(mean(rewards), 4), "ci_low": low, "ci_high": high}
        print(json.dumps({k: v for k, v in summary.items() if k != "per_dialogue"}, indent=1))
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(summary, indent=1) + "\n")
        return
    by_source: dict[str, list[Any]] = defaultdict(list)
    for sample in samples:
        by_source[source_of(sample)].append(sample)
    saved = {
        rule["threshold"]: "balanced cut",
        rule.get("natural_threshold"): "natural cut",
        rule.get("sequential_threshold"): "sequential cut",
    }
    cuts = sorted({*CUTS, *(c for c in saved if c is not None)})
    groups = [("all", samples), *sorted(by_source.items())]
    paths_of = {name: dialogue_paths(group) for name, group in groups}
    table = []
    for cut in cuts:
        row: dict[str, Any] = {"cut": round(cut, 6), "saved": saved.get(cut, "")}
        for name, paths in paths_of.items():
            row[name] = scores_at_cut(paths, p_stop, cut, ask, stop_reward)
        table.append(row)
        print(
            f"cut {cut:.3f} {row['saved']:>12} "
            + "  ".join(
                f"{name}: early {row[name]['early']:.2f} late {row[name]['late']:.2f} "
                f"cov {row[name]['coverage']:.2f} extra {row[name]['extra_questions']:.1f} "
                f"walk reward {row[name]['walk_reward']:.3f}"
                for name in ["all", *sorted(by_source)]
            )
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        result = {"eval": str(args.eval), "ask_reward": ask, "stop_reward": stop_reward}
        args.out.write_text(json.dumps({**result, "cuts": table}, indent=1) + "\n")


if __name__ == "__main__":
    main()
