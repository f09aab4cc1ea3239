"""Per-turn metrics under the authors' names, averaged per sample, then per dialogue, with
95% bootstrap confidence intervals over dialogues.

Definitions (one graded rollout has ``r_a``, ``r_s``, ``p``, ``reward``):

- ``ave_continue_content``: mean R_a over CONTINUE samples (R_a = 0 when the reply stopped).
- ``win_continue_content``: share of CONTINUE rollouts whose R_a = 1 (the question targets an
  item of I* directly).
- ``ave_continue_decision``: share of CONTINUE samples where the policy asked (R_s).
- ``ave_stop_decision``: share of STOP samples where the policy stopped (R_s).
- ``ave_total_decision``: R_s over all samples.
- ``ave_total_format``: P over all samples.
- ``ave_total_reward``: the fused reward over all samples.
- ``grading_failures``: rollouts whose grading failed; they are left out of every mean above.

Aggregation: rollouts are averaged within a sample, samples within a dialogue, then dialogues,
so a long dialogue with many decision points does not outweigh short ones. The bootstrap
resamples dialogues.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

Row = dict[str, Any]

METRIC_NAMES: tuple[str, ...] = (
    "ave_continue_content",
    "win_continue_content",
    "ave_continue_decision",
    "ave_stop_decision",
    "ave_total_decision",
    "ave_total_format",
    "ave_total_reward",
)

# metric -> (which samples, value of one graded rollout)
_DEFINITIONS: dict[str, tuple[str | None, Callable[[Row], float]]] = {
    "ave_continue_content": ("continue", lambda r: float(r["r_a"] or 0.0)),
    "win_continue_content": ("continue", lambda r: 1.0 if (r["r_a"] or 0.0) >= 1.0 else 0.0),
    "ave_continue_decision": ("continue", lambda r: float(r["r_s"])),
    "ave_stop_decision": ("stop", lambda r: float(r["r_s"])),
    "ave_total_decision": (None, lambda r: float(r["r_s"])),
    "ave_total_format": (None, lambda r: float(r["p"])),
    "ave_total_reward": (None, lambda r: float(r["reward"])),
}


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean (NaN-free: callers never pass an empty list)."""
    return sum(values) / len(values)


def dialogue_means(rows: Sequence[Row], metric: str) -> dict[str, float]:
    """Per-dialogue value of ``metric``: mean over its samples of the mean over rollouts."""
    population, value = _DEFINITIONS[metric]
    per_sample: dict[tuple[str, str], list[float]] = defaultdict(list)
    for row in rows:
        if row.get("reward") is None:
            continue
        if population is not None and row["decision"] != population:
            continue
        per_sample[(row["dialogue_id"], row["sample_id"])].append(value(row))
    per_dialogue: dict[str, list[float]] = defaultdict(list)
    for (dialogue_id, _), values in per_sample.items():
        per_dialogue[dialogue_id].append(mean(values))
    return {d: mean(v) for d, v in per_dialogue.items()}


def bootstrap_ci(
    values: Sequence[float], n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values``."""
    if len(values) == 1:
        return values[0], values[0]
    rng = random.Random(seed)
    n = len(values)
    means = sorted(mean([values[rng.randrange(n)] for _ in range(n)]) for _ in range(n_boot))
    low_index = int((1 - level) / 2 * n_boot)
    high_index = min(n_boot - 1, int((1 + level) / 2 * n_boot))
    return means[low_index], means[high_index]


def compute_metrics(rows: Sequence[Row], n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """``{name: {"mean", "ci_low", "ci_high", "n_dialogues"}}`` plus grading-failure counts."""
    results: dict[str, Any] = {}
    for name in METRIC_NAMES:
        per_dialogue = list(dialogue_means(rows, name).values())
        if not per_dialogue:
            results[name] = {"mean": None, "ci_low": None, "ci_high": None, "n_dialogues": 0}
            continue
        low, high = bootstrap_ci(per_dialogue, n_boot=n_boot, seed=seed)
        results[name] = {
            "mean": round(mean(per_dialogue), 4),
            "ci_low": round(low, 4),
            "ci_high": round(high, 4),
            "n_dialogues": len(per_dialogue),
        }
    failures = sum(1 for r in rows if r.get("reward") is None)
    results["grading_failures"] = {"mean": failures, "ci_low": failures, "ci_high": failures,
                                   "n_rollouts": len(rows)}
    return results
