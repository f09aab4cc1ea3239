"""What a stop decision of a given quality can earn over always-stop, and (diagnostic only) what
the best threshold in hindsight would have earned on an evaluation's own points.

    python -m benchmarks.decision_ceiling [--eval EVAL_DIR] [--power --auc 0.73 --r-a 0.35]

Table: STOP and CONTINUE scores two unit-variance normals whose separation gives ``auc``; a
right STOP earns ``stop_reward`` (4 under the paper's gating), a right question ``2 + 2 r``
(R_s = 1, P = 1, R_a = r), a wrong decision 0; always-stop earns 4 on STOP points and 0 on
CONTINUE points. For each (auc, r) the best threshold's paired gain over always-stop on a
balanced set, and the STOP / CONTINUE accuracy it needs.

With ``--eval`` (an ``evaluate`` output with the threshold rule's ``rollouts.jsonl``): the
paired gain over always-stop, averaged per dialogue as the metrics are, at the rule's own
decisions and at every threshold on its P(stop); a CONTINUE point where the rule stopped gets
the mean reward of the questions it asked; and the rule's gain with every point weighted alike
(a dialogue-bootstrap CI beside it), since the dialogue weighting moves it. Never use it to
choose a threshold: the points are test points.

With ``--power``: how often a policy of that quality (``--auc``, ``--r-a``: validation
estimates, never test figures) would see its paired CI over always-stop clear 0, if the demo's
MTS-Dialog test split held ``--test-fractions`` of the dialogues and the balanced evaluation
took ``--points``. Only the split's labels and dialogue ids are used (its STOP points cluster in
few dialogues, which is what widens the dialogue-bootstrap CI); scores are simulated: the two
normals above at the best threshold, R_a of a question 1 with probability ``r_a`` else 0 (more
spread than the memory's: power understated on that count), each decision independent of the
others in its dialogue (a real policy's errors correlate within a dialogue: overstated on that
count; at the 0.1 split's 200 points it predicts a CI half-width of 0.31 where the demo's runs
saw 0.34-0.38).
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


def per_point_gain(rows: Sequence[dict[str, Any]]) -> tuple[float, float, float]:
    """``(mean, ci_low, ci_high)`` of the rule's gain over always-stop with every point weighted
    alike: the report's pooled paired difference (``ave_total_reward_pooled``)."""
    from learn2ask.evaluation.metrics import always_stop_rows, paired_difference
    from learn2ask.rewards.fusion import FusionConfig

    reference = always_stop_rows(rows, FusionConfig())
    entry = paired_difference(rows, reference)["ave_total_reward_pooled"]
    return entry["mean"], entry["ci_low"], entry["ci_high"]


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
    point_mean, point_low, point_high = per_point_gain(rows)
    return {
        "rule_threshold": threshold,
        "gain_at_rule": round(gain_at(rows, threshold, ask_reward), 3),
        "best_threshold_in_hindsight": cuts[best],
        "gain_at_best": round(gains[best], 3),
        "gain_at_rule_per_point": round(point_mean, 3),
        "gain_at_rule_per_point_ci": [round(point_low, 3), round(point_high, 3)],
    }


def simulated_gains(
    labels: Sequence[tuple[str, bool]], auc: float, r_a: float, rng: Any
) -> dict[str, float]:
    """One simulated policy's per-dialogue mean gain over always-stop on ``(dialogue, is_stop)``
    points, deciding at the threshold that is best for ``(auc, r_a)``."""
    import numpy as np

    _, stop_acc, continue_acc = best_gain(auc, r_a)
    is_stop = np.array([s for _, s in labels])
    draws = rng.random(len(labels))
    questions = rng.random(len(labels)) < r_a
    right = np.where(is_stop, draws < stop_acc, draws < continue_acc)
    gain = np.where(is_stop, np.where(right, 0.0, -STOP_REWARD), right * (2 + 2 * questions))
    per_dialogue: dict[str, list[float]] = defaultdict(list)
    for (dialogue, _), value in zip(labels, gain, strict=True):
        per_dialogue[dialogue].append(float(value))
    return {d: sum(v) / len(v) for d, v in per_dialogue.items()}


def power(
    labels: Sequence[tuple[str, bool]], auc: float, r_a: float, trials: int = 300, seed: int = 0
) -> dict[str, float]:
    """Share of simulated evaluations whose 95% dialogue-bootstrap CI low is above 0, and the
    mean CI half-width, for a policy of quality ``(auc, r_a)`` on these points."""
    import numpy as np

    rng = np.random.default_rng(seed)
    cleared, widths = 0, []
    for _ in range(trials):
        values = np.array(list(simulated_gains(labels, auc, r_a, rng).values()))
        means = values[rng.integers(0, len(values), (1000, len(values)))].mean(axis=1)
        low, high = np.percentile(means, [2.5, 97.5])
        cleared += bool(low > 0)
        widths.append((high - low) / 2)
    return {"power": round(cleared / trials, 3), "ci_half_width": round(float(np.mean(widths)), 3)}


def split_labels(test_fraction: float, points: int, work: Path) -> list[tuple[str, bool]]:
    """``(dialogue, is_stop)`` of the balanced evaluation points ``evaluate`` would draw from
    the bundled MTS-Dialog test split at ``test_fraction`` (``points`` caps them)."""
    from learn2ask.data.prepare import PrepareConfig, prepare_dataset, preset_paths
    from learn2ask.data.samples import load_samples
    from learn2ask.evaluation.rollouts import EvalConfig, select_eval_samples
    from learn2ask.targets.qa import QAExtractor

    out = work / f"mts-{test_fraction}"
    if not (out / "test.jsonl").is_file():
        config = PrepareConfig(preset_paths("demo"), out, test_fraction=test_fraction)
        prepare_dataset(config, QAExtractor())
    config = EvalConfig(name="power", max_samples=points, balanced=True)
    chosen = select_eval_samples(load_samples(out / "test.jsonl"), config)
    return [(s.dialogue_id, s.decision == "stop") for s in chosen]


def main(argv: list[str] | None = None) -> None:
    """Print the ceiling table, and the hindsight diagnostic with ``--eval``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval", type=Path, default=None, help="an evaluate output directory")
    parser.add_argument("--power", action="store_true", help="simulate the CI's power")
    parser.add_argument("--auc", type=float, default=0.73, help="validation stop AUC")
    parser.add_argument("--r-a", type=float, default=0.35, help="validation R_a where asked")
    parser.add_argument("--test-fractions", type=float, nargs="+", default=[0.1, 0.2, 0.3])
    parser.add_argument("--points", type=int, nargs="+", default=[200, 400, 600, 800])
    parser.add_argument("--work", type=Path, default=Path("/tmp/learn2ask-power"))
    args = parser.parse_args(argv)
    if args.power:
        print("| test fraction | points asked | points drawn | dialogues | power | CI half-width |")
        print("|---|---|---|---|---|---|")
        for fraction in args.test_fractions:
            for points in args.points:
                labels = split_labels(fraction, points, args.work)
                result = power(labels, args.auc, args.r_a)
                dialogues = len({d for d, _ in labels})
                print(
                    f"| {fraction} | {points} | {len(labels)} | {dialogues} | "
                    f"{result['power']} | {result['ci_half_width']} |"
                )
        return
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
