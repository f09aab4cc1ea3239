"""What a stop decision of a given quality can earn over always-stop, and (diagnostic only) what
the best threshold in hindsight would have earned on an evaluation's own points.

    python -m benchmarks.decision_ceiling [--eval EVAL_DIR]

Table: STOP and CONTINUE scores two unit-variance normals whose separation gives ``auc``; a
right STOP earns ``stop_reward`` (4 under the paper's gating), a right question ``2 + 2 r``
(R_s = 1, P = 1, R_a = r), a wrong decision 0; always-stop earns 4 on STOP points and 0 on
CONTINUE points. For each (auc, r) the best threshold's paired gain over always-stop on a
balanced set, and the STOP / CONTINUE accuracy it needs.

With ``--eval`` (an ``evaluate`` output with the threshold rule's ``rollouts.jsonl``): the
paired gain over always-stop, averaged per dialogue as the metrics are, at the rule's own
decisions and at every threshold on its P(stop); a CONTINUE point where the rule stopped gets
the mean reward of the questions it asked. Never use it to choose a threshold: the points are
test points.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

STOP_REWARD = 4.0


def best_gain(auc: float, r_a: float, steps: int = 2001) -> tuple[float, float, float]:
    """``(gain over always-stop, STOP accuracy, CONTINUE accuracy)`` at the best threshold."""
    import numpy as np
    from scipy.stats import norm

    separation = np.sqrt(2) * norm.ppf(auc)
    cuts = np.linspace(-4, 4, steps)
    asks_right = norm.cdf(cuts)  # CONTINUE ~ N(0, 1) below the cut: asked
    stops_wrongly = norm.cdf(cuts - separation)  # STOP ~ N(d, 1) below the cut: asked
    gain = 0.5 * (asks_right * (2 + 2 * r_a) - stops_wrongly * STOP_REWARD)
    best = int(gain.argmax())
    return float(gain[best]), float(1 - stops_wrongly[best]), float(asks_right[best])


def gain_at(rows: Sequence[dict[str, Any]], threshold: float, ask_reward: float) -> float:
    """Per-dialogue mean of (policy - always-stop) if the rule had cut at ``threshold``."""
    per_dialogue: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        stops = row["p_stop"] >= threshold
        if row["decision"] == "stop":
            gain = 0.0 if stops else -STOP_REWARD
        elif stops:
            gain = 0.0
        else:
            gain = row["reward"] if row["assessment"] != "stop" else ask_reward
        per_dialogue[row["dialogue_id"]].append(gain)
    return sum(sum(v) / len(v) for v in per_dialogue.values()) / len(per_dialogue)


def hindsight(eval_dir: Path) -> dict[str, float]:
    """The rule's gain over always-stop and the best threshold's, on ``eval_dir``'s points."""
    rows = [json.loads(line) for line in (eval_dir / "rollouts.jsonl").open(encoding="utf-8")]
    asked = [r["reward"] for r in rows if r["decision"] == "continue" and r["assessment"] != "stop"]
    ask_reward = sum(asked) / len(asked)
    summary = json.loads((eval_dir / "stop_scores.json").read_text(encoding="utf-8"))["summary"]
    threshold = summary["threshold"]
    cuts = [i / 200 for i in range(40, 161)]
    gains = [gain_at(rows, t, ask_reward) for t in cuts]
    best = max(range(len(cuts)), key=gains.__getitem__)
    return {
        "rule_threshold": threshold,
        "gain_at_rule": round(gain_at(rows, threshold, ask_reward), 3),
        "best_threshold_in_hindsight": cuts[best],
        "gain_at_best": round(gains[best], 3),
    }


def main(argv: list[str] | None = None) -> None:
    """Print the ceiling table, and the hindsight diagnostic with ``--eval``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, default=None, help="an evaluate output directory")
    args = parser.parse_args(argv)
    print("| AUC | R_a where asked | best gain over always-stop | STOP acc | CONTINUE acc |")
    print("|---|---|---|---|---|")
    for auc in (0.70, 0.75, 0.80, 0.85):
        for r_a in (0.2, 0.33, 0.5):
            gain, stop_acc, continue_acc = best_gain(auc, r_a)
            print(f"| {auc} | {r_a} | {gain:+.3f} | {stop_acc:.2f} | {continue_acc:.2f} |")
    if args.eval is not None:
        print(json.dumps(hindsight(args.eval)))


if __name__ == "__main__":
    main()
