"""How to choose the STOP threshold from ~200 validation points: the empirical argmax of the
expected reward against the Platt-fitted cut, on a trained run's own validation dialogues.

    python -m benchmarks.tune_threshold --run RUN --train-file TRAIN.jsonl --out DIR

Re-creates the run's validation split (the same seeded dialogues ``decision_sft`` held out),
computes P(stop) on up to ``--points`` balanced points of it, then ``--draws`` times picks a
third of the validation dialogues (about the calibration's 200 points), chooses a threshold by
each method and scores it on the points of the other two thirds (all sources, and MTS-Dialog
alone). A method whose thresholds vary less and earn more on the points left out is the better
way to calibrate.

Then the same for conversations in their natural course (``--natural-points`` validation points
drawn at random, about one STOP in seven): on each draw the balanced Platt cut against the same
fit moved to the STOP share of the chosen third's points (``platt_threshold(prior=...)``), both
scored on the natural points of the other two thirds. Writes ``DIR/tune_threshold.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path

from learn2ask.data.samples import load_samples
from learn2ask.data.sampling import source_of
from learn2ask.models.decision import load_deciding_policy
from learn2ask.runs import TrainRun
from learn2ask.training.threshold import (
    balanced_accuracy,
    balanced_points,
    best_threshold,
    mean_reward,
    platt_threshold,
    split_validation,
)

STOP_REWARD = 4.0  # 2 + beta with beta = 2


def main(argv: list[str] | None = None) -> None:
    """Run the comparison; print and save it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a decision_sft run directory")
    parser.add_argument("--train-file", type=Path, required=True, help="the run's training file")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--points", type=int, default=800)
    parser.add_argument("--natural-points", type=int, default=800)
    parser.add_argument("--draws", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0, help="the run's seed (its split)")
    args = parser.parse_args(argv)
    run = TrainRun(args.run)
    summary = json.loads(run.summary.read_text())
    fraction = summary["config"]["decision"]["validation_fraction"]
    ask_reward = summary["decision_rule"]["calibration"]["ask_reward_estimate"]["ask_reward"]
    _, validation = split_validation(load_samples(args.train_file), fraction, args.seed)
    points = balanced_points(validation, args.points, args.seed + 1)
    natural = random.Random(args.seed + 2).sample(
        validation, min(args.natural_points, len(validation))
    )
    policy = load_deciding_policy(str(run.model))
    p_by_id = _stop_probabilities(policy, [*points, *natural])
    rows, natural_rows = _rows(points, p_by_id), _rows(natural, p_by_id)
    methods = {
        "argmax": lambda fit, _: best_threshold(*_xy(fit), STOP_REWARD, ask_reward)[0],
        "platt": lambda fit, _: platt_threshold(*_xy(fit), STOP_REWARD, ask_reward),
        # the same cut fitted on one source's points: what calibrating on the deployment's own
        # logs would give, where the training mix pools sources of different difficulty
        "platt, MTS-Dialog points only": lambda fit, _: platt_threshold(
            *_xy([r for r in fit if r["source"] == "mts-dialog"]), STOP_REWARD, ask_reward
        ),
    }
    draws = _compare(rows, rows, methods, ask_reward, args.draws, args.seed)
    result = {
        "run": str(args.run),
        "validation_points": len(rows),
        "ask_reward": ask_reward,
        "methods": draws,
        "natural_mix": _natural_mix(rows, natural_rows, ask_reward, args),
        "rows": rows,  # every balanced point's P(stop): later comparisons need no model
    }
    print("natural mix", json.dumps(result["natural_mix"]), flush=True)
    for name, values in result["methods"].items():
        print(name, json.dumps(values), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tune_threshold.json").write_text(json.dumps(result, indent=2) + "\n")


def _stop_probabilities(policy, samples: list) -> dict[str, float]:
    unique = list({s.id: s for s in samples}.values())
    p_stop = policy.stop_probabilities([s.context for s in unique])
    return {s.id: p for s, p in zip(unique, p_stop, strict=True)}


def _rows(samples: list, p_by_id: dict[str, float]) -> list[dict]:
    return [
        {
            "dialogue": s.dialogue_id,
            "source": source_of(s),
            "stop": s.decision == "stop",
            "p": p_by_id[s.id],
        }
        for s in samples
    ]


def _xy(rows: list[dict]) -> tuple[list[float], list[bool]]:
    return [r["p"] for r in rows], [r["stop"] for r in rows]


def _compare(
    rows: list[dict], scored: list[dict], methods: dict, ask_reward: float, n: int, seed: int
) -> dict:
    """``n`` draws: each method picks a threshold from the balanced ``rows`` (and the ``scored``
    rows) of a third of the dialogues; it is scored on the ``scored`` rows of the rest."""
    dialogues = sorted({r["dialogue"] for r in rows} | {r["dialogue"] for r in scored})
    rng = random.Random(seed)
    draws: dict[str, list[dict]] = {name: [] for name in methods}
    for _ in range(n):
        rng.shuffle(dialogues)
        chosen = set(dialogues[: len(dialogues) // 3])
        fit = [r for r in rows if r["dialogue"] in chosen]
        fit_scored = [r for r in scored if r["dialogue"] in chosen]
        rest = [r for r in scored if r["dialogue"] not in chosen]
        if not fit_scored or not rest:
            continue
        mts = [r for r in rest if r["source"] == "mts-dialog"]
        for name, choose in methods.items():
            threshold = choose(fit, fit_scored)
            if threshold is not None:
                draws[name].append(
                    {
                        "threshold": threshold,
                        "held_out_reward": _reward(rest, threshold, ask_reward),
                        "mts_reward": _reward(mts, threshold, ask_reward) if mts else None,
                        "mts_balanced_accuracy": balanced_accuracy(*_xy(mts), threshold)
                        if mts
                        else None,
                    }
                )
    return {name: _summary(values) for name, values in draws.items()}


def _natural_mix(rows: list[dict], natural: list[dict], ask_reward: float, args) -> dict:
    """Balanced Platt cut vs the same fit moved to the natural STOP share, on held-out
    natural points (dialogues drawn as in the balanced comparison)."""

    def prior(fit_natural: list[dict]) -> float:
        return sum(r["stop"] for r in fit_natural) / len(fit_natural)

    methods = {
        "platt balanced cut": lambda fit, _: platt_threshold(*_xy(fit), STOP_REWARD, ask_reward),
        "platt at the natural prior": lambda fit, fit_natural: platt_threshold(
            *_xy(fit), STOP_REWARD, ask_reward, prior=prior(fit_natural)
        ),
        "always ask": lambda fit, _: 1.0001,
        "always stop": lambda fit, _: 0.0,
    }
    return {
        "natural_points": len(natural),
        "stop_share": round(sum(r["stop"] for r in natural) / max(1, len(natural)), 4),
        "methods": _compare(rows, natural, methods, ask_reward, args.draws, args.seed + 3),
    }


def _reward(rows: list[dict], threshold: float, ask_reward: float) -> float:
    ps, ys = [r["p"] for r in rows], [r["stop"] for r in rows]
    return mean_reward(ps, ys, threshold, STOP_REWARD, ask_reward)


def _summary(values: list[dict]) -> dict:
    def stats(key: str) -> dict:
        xs = [v[key] for v in values if v[key] is not None]
        return {"mean": round(statistics.mean(xs), 4), "sd": round(statistics.pstdev(xs), 4)}

    return {
        "draws": len(values),
        **{
            k: stats(k)
            for k in ("threshold", "held_out_reward", "mts_reward", "mts_balanced_accuracy")
        },
    }


if __name__ == "__main__":
    main()
