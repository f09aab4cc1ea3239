"""How many logged conversations of a new source does a re-cut need? A learning curve of
``calibrate --decision RUN --write`` from P(stop) an evaluation already stored (no model call).

    python -m benchmarks.recut_curve --stop-scores EVAL/stop_scores.json --rule RUN/model \
        --out DIR [--sizes 5 10 20 40 80] [--draws 200]

The scored points' dialogues are split in two halves (seeded). For each size n and each draw,
n dialogues of the first half play the new source's logs (a draw with fewer than
``MIN_PER_DECISION`` points of either kind is refused, as ``calibrate`` refuses it): the Platt
cut that ``calibrate`` computes (``training/threshold.py``; their points balanced, the ask
reward of the saved rule's calibration unless ``--ask-reward``) is cut on them and scored on
every point of the other half, against the saved cut on the same points: balanced accuracy and
the expected per-point reward that chooses the cut (a right STOP earns 4, a right question
the ask reward). Per size also: how often the cross-fitted gain that ``calibrate`` reports from
the logs alone has the sign of the gain on the other half, and the mean gain of saving every
re-cut against saving it only where that check says it earns more.
Writes ``DIR/recut_curve.json`` and prints one line per size.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from learn2ask.calibration.decision import (
    MIN_PER_DECISION,
    cross_fitted_gain,
    cut_figures,
    platt_recut,
)

STOP_REWARD = 4.0  # a right <stop />: R_s (1 + beta R_a) + P = 1 x (1 + 2 x 1) + 1


def read_scores(path: Path) -> list[dict[str, Any]]:
    """The scored points of a ``stop_scores.json``: dialogue, s* and P(stop) of each."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        {"dialogue": s["dialogue_id"], "stop": s["decision"] == "stop", "p": float(s["p_stop"])}
        for s in data["samples"]
    ]


def saved_rule(model_dir: Path) -> tuple[float, float]:
    """``(balanced threshold, ask reward estimate)`` of a run's saved decision rule."""
    policy = json.loads((model_dir / "learn2ask_policy.json").read_text(encoding="utf-8"))
    decision = policy["decision"]
    return float(decision["threshold"]), float(
        decision["calibration"]["ask_reward_estimate"]["ask_reward"]
    )


def halves(points: Sequence[dict], seed: int) -> tuple[list[str], list[dict]]:
    """The first half's dialogues (the logs to re-cut on) and the second half's points."""
    dialogues = sorted({p["dialogue"] for p in points})
    random.Random(seed).shuffle(dialogues)
    held = set(dialogues[len(dialogues) // 2 :])
    return dialogues[: len(dialogues) // 2], [p for p in points if p["dialogue"] in held]


def balanced(points: Sequence[dict], rng: random.Random) -> list[dict]:
    """As many STOP as CONTINUE points, drawn from ``points`` (calibration balances so)."""
    stops = [p for p in points if p["stop"]]
    asks = [p for p in points if not p["stop"]]
    n = min(len(stops), len(asks))
    return rng.sample(stops, n) + rng.sample(asks, n)


def recut(points: Sequence[dict], ask_reward: float) -> float | None:
    """The Platt cut ``calibrate --decision`` would save for these points (None: no fit)."""
    return platt_recut(
        [p["p"] for p in points], [p["stop"] for p in points], ask_reward, STOP_REWARD
    )


def logs_verdict(points: Sequence[dict], saved_cut: float, ask_reward: float) -> float | None:
    """The cross-fitted gain ``calibrate --decision`` reports for these logs (None: none)."""
    from types import SimpleNamespace

    samples = [
        SimpleNamespace(dialogue_id=p["dialogue"], decision="stop" if p["stop"] else "continue")
        for p in points
    ]
    gain = cross_fitted_gain(
        samples,  # type: ignore[arg-type]
        [p["p"] for p in points],
        ask_reward,
        STOP_REWARD,
        saved_cut,
    )
    return None if gain is None else gain["expected_reward_gain"]


def score(points: Sequence[dict], cut: float, ask_reward: float) -> dict[str, float]:
    """Balanced accuracy and expected per-point reward of ``P(stop) >= cut`` on ``points``."""
    return cut_figures(
        [p["p"] for p in points], [p["stop"] for p in points], cut, ask_reward, STOP_REWARD
    )


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median and the 10th and 90th percentiles, rounded."""
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"median": round(statistics.median(ordered), 3), "p10": at(0.1), "p90": at(0.9)}


def curve(
    points: Sequence[dict],
    saved_cut: float,
    ask_reward: float,
    sizes: Sequence[int],
    draws: int,
    seed: int,
    balance_scored: bool = False,
) -> dict[str, Any]:
    """The saved cut's scores on the second half (its points balanced first when
    ``balance_scored``: P(stop) stored for every point of whole dialogues), and per size the
    re-cuts' spread there."""
    logs, held = halves(points, seed)
    if balance_scored:
        held = balanced(held, random.Random(seed))
    by_dialogue: dict[str, list[dict]] = {}
    for p in points:
        by_dialogue.setdefault(p["dialogue"], []).append(p)
    saved = score(held, saved_cut, ask_reward)
    rng = random.Random(seed + 1)
    rows = []
    for size in sizes:
        if size > len(logs):
            continue
        cuts, accuracy, gain, no_fit, refused = [], [], [], 0, 0
        agree, checked, followed = 0, 0, []
        for _ in range(draws):
            chosen = rng.sample(logs, size)
            drawn = balanced([p for d in chosen for p in by_dialogue[d]], rng)
            if len(drawn) < 2 * MIN_PER_DECISION:  # ``calibrate`` refuses so few points
                refused += 1
                continue
            cut = recut(drawn, ask_reward)
            if cut is None:
                no_fit += 1
                continue
            scored = score(held, cut, ask_reward)
            predicted = logs_verdict(drawn, saved_cut, ask_reward)
            true_gain = scored["expected_reward"] - saved["expected_reward"]
            if predicted is not None:
                checked += 1
                agree += (predicted > 0) == (true_gain > 0)
            # Saving the re-cut only where the check says it earns more: what that earns.
            followed.append(true_gain if predicted is not None and predicted > 0 else 0.0)
            cuts.append(cut)
            accuracy.append(scored["balanced_accuracy"])
            gain.append(scored["expected_reward"] - saved["expected_reward"])
        rows.append(
            {
                "dialogues": size,
                "draws_refused": refused,
                "draws_without_fit": no_fit,
                "cut": spread(cuts) if cuts else None,
                "balanced_accuracy": spread(accuracy) if cuts else None,
                "reward_gain_over_saved_cut": spread(gain) if cuts else None,
                "share_of_draws_better_than_saved": round(
                    sum(g > 0 for g in gain) / max(1, len(gain)), 3
                ),
                "draws_with_a_cross_fitted_check": checked,
                "check_agrees_with_the_other_half": round(agree / max(1, checked), 3),
                "mean_gain_always_saving": round(statistics.fmean(gain), 4) if gain else None,
                "mean_gain_saving_where_the_check_says": (
                    round(statistics.fmean(followed), 4) if followed else None
                ),
            }
        )
    return {
        "logs_dialogues": len(logs),
        "scored_points": len(held),
        "scored_dialogues": len({p["dialogue"] for p in held}),
        "saved_cut": saved_cut,
        "ask_reward": ask_reward,
        "saved": {k: round(v, 4) for k, v in saved.items()},
        "sizes": rows,
    }


def main(argv: list[str] | None = None) -> None:
    """Print and save the learning curve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stop-scores", type=Path, required=True)
    parser.add_argument("--rule", type=Path, required=True, help="the run's model directory")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 10, 20, 40, 80])
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ask-reward", type=float, help="default: the saved rule's estimate")
    parser.add_argument(
        "--balance-scored",
        action="store_true",
        help="score on balanced points of the other half (for stop scores of whole dialogues)",
    )
    args = parser.parse_args(argv)
    saved_cut, ask_reward = saved_rule(args.rule)
    result = curve(
        read_scores(args.stop_scores),
        saved_cut,
        args.ask_reward if args.ask_reward is not None else ask_reward,
        args.sizes,
        args.draws,
        args.seed,
        balance_scored=args.balance_scored,
    )
    result = {"stop_scores": str(args.stop_scores), "rule": str(args.rule), **result}
    print(json.dumps({k: v for k, v in result.items() if k != "sizes"}))
    for row in result["sizes"]:
        print(json.dumps(row))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "recut_curve.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
