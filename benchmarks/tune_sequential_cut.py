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
would decide. With ``--persistence`` it compares the single cut with rules that ask for the
evidence to persist before handing over (``PERSISTENCE_RULES``: two points in a row above a cut,
a moving average of the log-odds above it), each at a grid of settings, by the same walk reward.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Callable
from functools import partial
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
from learn2ask.models.stop_head import logit

CUTS = (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
STOP_REWARD = 4.0  # a right STOP: 2 + beta at the recipe's beta 2
StopRule = Callable[[list[float]], int]


def first_above(p_stop: list[float], cut: float) -> int:
    """The saved rule: the first point with P(stop) >= ``cut`` (``len``: never)."""
    return next((i for i, p in enumerate(p_stop) if p >= cut), len(p_stop))


def first_twice_above(p_stop: list[float], cut: float, first_cut: float) -> int:
    """The first point where this and the previous P(stop) are >= ``cut``; at the first point
    one P(stop) >= ``first_cut`` suffices (1.01: never at the first point)."""
    for i, p in enumerate(p_stop):
        if (i == 0 and p >= first_cut) or (i > 0 and p >= cut and p_stop[i - 1] >= cut):
            return i
    return len(p_stop)


def first_average_above(p_stop: list[float], cut: float, weight: float) -> int:
    """The first point where the moving average of the log-odds (new point's ``weight``)
    reaches logit(``cut``)."""
    average = None
    for i, p in enumerate(p_stop):
        z = logit(p)
        average = z if average is None else weight * z + (1 - weight) * average
        if average >= logit(cut):
            return i
    return len(p_stop)


def persistence_rules() -> dict[str, StopRule]:
    """The rules ``--persistence`` compares, by name."""
    rules: dict[str, StopRule] = {}
    for cut in (0.5, 0.6, 0.7, 0.75, 0.8, 0.85):
        rules[f"single {cut}"] = partial(first_above, cut=cut)
    for cut in (0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7):
        for first_cut in (cut, 0.75, 0.9, 1.01):
            rules[f"twice {cut} (first point {first_cut})"] = partial(
                first_twice_above, cut=cut, first_cut=first_cut
            )
    for cut in (0.5, 0.6, 0.7, 0.75):
        for weight in (0.3, 0.5, 0.7):
            rules[f"average {cut} (weight {weight})"] = partial(
                first_average_above, cut=cut, weight=weight
            )
    return rules


def scores_of_rule(
    paths: dict[str, DialoguePath],
    p_stop: dict[str, float],
    rule: StopRule,
    ask: float,
    stop_reward: float,
) -> dict[str, Any]:
    """Stop-point metrics and walk reward of a rule on the P(stop) along each path."""
    rows = []
    for path in paths.values():
        stop = rule([p_stop[i] for i in path.ids])
        rows.append(
            {**outcome_at(path, stop), "walk_reward": walk_reward(path, stop, ask, stop_reward)}
        )
    keys = ("early", "on_time", "late", "coverage", "extra_questions", "walk_reward")
    return {"dialogues": len(rows), **{k: round(mean([r[k] for r in rows]), 4) for k in keys}}


def compare_persistence(
    samples: list[Any], p_stop: dict[str, float], ask: float, stop_reward: float, out: Path | None
) -> None:
    """Print (and write) every persistence rule's walk figures per source, best first."""
    groups = groups_by_source(samples)
    paths_of = {name: dialogue_paths(group) for name, group in groups}
    table = [
        {
            "rule": name,
            **{
                g: scores_of_rule(paths, p_stop, rule, ask, stop_reward)
                for g, paths in paths_of.items()
            },
        }
        for name, rule in persistence_rules().items()
    ]
    table.sort(key=lambda row: -row["all"]["walk_reward"])
    for row in table:
        print(
            f"{row['rule']:>32} "
            + "  ".join(
                f"{g}: walk reward {row[g]['walk_reward']:.3f} early {row[g]['early']:.2f} "
                f"late {row[g]['late']:.2f} cov {row[g]['coverage']:.2f}"
                for g, _ in groups
            )
        )
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps({"ask_reward": ask, "stop_reward": stop_reward, "rules": table}, indent=1)
            + "\n"
        )


def groups_by_source(samples: list[Any]) -> list[tuple[str, list[Any]]]:
    """("all", samples) then one group per source, sorted."""
    by_source: dict[str, list[Any]] = defaultdict(list)
    for sample in samples:
        by_source[source_of(sample)].append(sample)
    return [("all", samples), *sorted(by_source.items())]


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
    parser.add_argument(
        "--persistence",
        action="store_true",
        help="instead: the single cut against rules that wait for P(stop) to persist",
    )
    args = parser.parse_args(argv)
    rule = json.loads((args.model / "model" / "learn2ask_policy.json").read_text())["decision"]
    ask = rule["calibration"]["ask_reward_estimate"]["ask_reward"]
    stop_reward = STOP_REWARD
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
    if args.persistence:
        compare_persistence(samples, p_stop, ask, stop_reward, args.out)
        return
    saved = {
        rule["threshold"]: "balanced cut",
        rule.get("natural_threshold"): "natural cut",
        rule.get("sequential_threshold"): "sequential cut",
    }
    cuts = sorted({*CUTS, *(c for c in saved if c is not None)})
    groups = groups_by_source(samples)
    paths_of = {name: dialogue_paths(group) for name, group in groups}
    table = []
    for cut in cuts:
        row: dict[str, Any] = {"cut": round(cut, 6), "saved": saved.get(cut, "")}
        for name, paths in paths_of.items():
            rule_at_cut = partial(first_above, cut=cut)
            row[name] = scores_of_rule(paths, p_stop, rule_at_cut, ask, stop_reward)
        table.append(row)
        print(
            f"cut {cut:.3f} {row['saved']:>12} "
            + "  ".join(
                f"{name}: early {row[name]['early']:.2f} late {row[name]['late']:.2f} "
                f"cov {row[name]['coverage']:.2f} extra {row[name]['extra_questions']:.1f} "
                f"walk reward {row[name]['walk_reward']:.3f}"
                for name, _ in groups
            )
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        result = {"eval": str(args.eval), "ask_reward": ask, "stop_reward": stop_reward}
        args.out.write_text(json.dumps({**result, "cuts": table}, indent=1) + "\n")


if __name__ == "__main__":
    main()
