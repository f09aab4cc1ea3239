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
- ``ave_continue_content_if_correct`` / ``win_continue_content_if_correct``: the two content
  metrics over CONTINUE rollouts that did ask (the authors' "... if correct" variants), so a
  policy that rarely asks is judged on the questions it did ask.
- ``grading_failures``: rollouts whose grading failed; they are left out of every mean above.

The names, populations and gating follow the authors' ``compute_score`` (Trinity-RFT
``examples/learn2ask``): a wrong decision scores R_a = P = 0; a right STOP scores R_a = 1.

Aggregation: rollouts are averaged within a sample, samples within a dialogue, then dialogues,
so a long dialogue with many decision points does not outweigh short ones. The bootstrap
resamples dialogues. ``ave_total_reward_pooled`` is the total reward the authors' way, every
sample weighted alike (still a bootstrap over dialogues, the ratio of resampled sums): on a
balanced test where many short dialogues contribute only STOP points the two can differ by
more than their CIs (docs/evaluation.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from learn2ask.rewards.fusion import FusionConfig, fuse

Row = dict[str, Any]

METRIC_NAMES: tuple[str, ...] = (
    "ave_continue_content",
    "win_continue_content",
    "ave_continue_decision",
    "ave_stop_decision",
    "ave_total_decision",
    "ave_total_format",
    "ave_total_reward",
    "ave_continue_content_if_correct",
    "win_continue_content_if_correct",
)


def _content(row: Row) -> float:
    return float(row["r_a"] or 0.0)


def _content_win(row: Row) -> float:
    return 1.0 if _content(row) >= 1.0 else 0.0


def _asked(row: Row) -> bool:
    return float(row["r_s"]) == 1.0


# metric -> (which samples, which of their rollouts, value of one graded rollout)
_Definition = tuple[str | None, Callable[[Row], bool] | None, Callable[[Row], float]]
_DEFINITIONS: dict[str, _Definition] = {
    "ave_continue_content": ("continue", None, _content),
    "win_continue_content": ("continue", None, _content_win),
    "ave_continue_decision": ("continue", None, lambda r: float(r["r_s"])),
    "ave_stop_decision": ("stop", None, lambda r: float(r["r_s"])),
    "ave_total_decision": (None, None, lambda r: float(r["r_s"])),
    "ave_total_format": (None, None, lambda r: float(r["p"])),
    "ave_total_reward": (None, None, lambda r: float(r["reward"])),
    "ave_continue_content_if_correct": ("continue", _asked, _content),
    "win_continue_content_if_correct": ("continue", _asked, _content_win),
}


# Metrics also reported pooled over samples (the authors' aggregation), as ``NAME_pooled``.
POOLED_METRICS: tuple[str, ...] = ("ave_total_reward",)
REPORTED_METRICS: tuple[str, ...] = (*METRIC_NAMES, *(f"{n}_pooled" for n in POOLED_METRICS))


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean (NaN-free: callers never pass an empty list)."""
    return sum(values) / len(values)


def sample_means(rows: Sequence[Row], metric: str) -> dict[tuple[str, str], float]:
    """``{(dialogue_id, sample_id): mean of metric over the sample's graded rollouts}``."""
    population, keep, value = _DEFINITIONS[metric]
    per_sample: dict[tuple[str, str], list[float]] = defaultdict(list)
    for row in rows:
        if row.get("reward") is None:
            continue
        if population is not None and row["decision"] != population:
            continue
        if keep is not None and not keep(row):
            continue
        per_sample[(row["dialogue_id"], row["sample_id"])].append(value(row))
    return {key: mean(values) for key, values in per_sample.items()}


def dialogue_means(rows: Sequence[Row], metric: str) -> dict[str, float]:
    """Per-dialogue value of ``metric``: mean over its samples of the mean over rollouts."""
    per_dialogue: dict[str, list[float]] = defaultdict(list)
    for (dialogue_id, _), value in sample_means(rows, metric).items():
        per_dialogue[dialogue_id].append(value)
    return {d: mean(v) for d, v in per_dialogue.items()}


def dialogue_sums(per_sample: dict[tuple[str, str], float]) -> dict[str, tuple[float, int]]:
    """``{dialogue_id: (sum over its samples, how many)}``: what a pooled mean resamples."""
    sums: dict[str, tuple[float, int]] = {}
    for (dialogue_id, _), value in per_sample.items():
        total, count = sums.get(dialogue_id, (0.0, 0))
        sums[dialogue_id] = (total + value, count + 1)
    return sums


def roc_auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """Probability that a positive outscores a negative (ties count half).

    Counted by binary search over the sorted negatives, not pair by pair: the bootstrap calls
    this a thousand times on hundreds of points (pair by pair: 7 s for the demo's 444)."""
    import numpy as np

    sorted_negatives = np.sort(np.asarray(negatives, dtype=float))
    scores = np.asarray(positives, dtype=float)
    below = np.searchsorted(sorted_negatives, scores, side="left")
    tied = np.searchsorted(sorted_negatives, scores, side="right") - below
    wins = float(below.sum()) + 0.5 * float(tied.sum())
    return wins / (len(positives) * len(negatives))


def bootstrap_ci(
    values: Sequence[float], n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values``."""
    import numpy as np

    if len(values) == 1:
        return values[0], values[0]
    # numpy draws every resample at once: the pure-Python loop took ~10 s per evaluation's
    # hundred intervals of 200+ dialogues.
    array = np.asarray(values, dtype=float)
    draws = np.random.default_rng(seed).integers(0, len(array), size=(n_boot, len(array)))
    return percentile_bounds(np.sort(array[draws].mean(axis=1)).tolist(), n_boot, level)


def percentile_bounds(
    sorted_stats: Sequence[float], n_boot: int, level: float = 0.95
) -> tuple[float, float]:
    """The percentile interval's two ends from ``n_boot`` sorted bootstrap statistics."""
    low_index = int((1 - level) / 2 * n_boot)
    high_index = min(n_boot - 1, int((1 + level) / 2 * n_boot))
    return sorted_stats[low_index], sorted_stats[high_index]


def ci_entry(values: Sequence[float], n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """``{"mean", "ci_low", "ci_high", "n_dialogues"}`` of per-dialogue ``values`` (a
    percentile bootstrap over them); all None when there are none."""
    if not values:
        return {"mean": None, "ci_low": None, "ci_high": None, "n_dialogues": 0}
    low, high = bootstrap_ci(values, n_boot=n_boot, seed=seed)
    return {
        "mean": round(mean(values), 4),
        "ci_low": round(low, 4),
        "ci_high": round(high, 4),
        "n_dialogues": len(values),
    }


def pooled_ci_entry(
    sums: dict[str, tuple[float, int]], n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Like :func:`ci_entry` for a mean pooled over samples: ``sums`` per dialogue (from
    :func:`dialogue_sums`); the bootstrap resamples dialogues and takes the ratio of the
    resampled sums, so samples of one dialogue stay together."""
    import numpy as np

    if not sums:
        return {"mean": None, "ci_low": None, "ci_high": None, "n_dialogues": 0}
    totals = np.array([s for s, _ in sums.values()], dtype=float)
    counts = np.array([c for _, c in sums.values()], dtype=float)
    draws = np.random.default_rng(seed).integers(0, len(totals), size=(n_boot, len(totals)))
    ratios = np.sort(totals[draws].sum(axis=1) / counts[draws].sum(axis=1))
    low, high = percentile_bounds(ratios.tolist(), n_boot)
    return {
        "mean": round(float(totals.sum() / counts.sum()), 4),
        "ci_low": round(low, 4),
        "ci_high": round(high, 4),
        "n_dialogues": len(sums),
    }


def compute_metrics(rows: Sequence[Row], n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """``{name: {"mean", "ci_low", "ci_high", "n_dialogues"}}`` for every reported metric
    (``REPORTED_METRICS``: the pooled ones too) plus grading-failure counts."""
    results: dict[str, Any] = {}
    for name in METRIC_NAMES:
        results[name] = ci_entry(list(dialogue_means(rows, name).values()), n_boot, seed)
    for name in POOLED_METRICS:
        sums = dialogue_sums(sample_means(rows, name))
        results[f"{name}_pooled"] = pooled_ci_entry(sums, n_boot, seed)
    failures = sum(1 for r in rows if r.get("reward") is None)
    results["grading_failures"] = {
        "mean": failures,
        "ci_low": failures,
        "ci_high": failures,
        "n_rollouts": len(rows),
    }
    return results


def paired_difference(
    rows_new: Sequence[Row], rows_old: Sequence[Row], n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """``new - old`` per metric over the dialogues both runs evaluated, with a paired 95%
    bootstrap CI (dialogues resampled, each keeping both runs' values)."""
    results: dict[str, Any] = {}
    for name in METRIC_NAMES:
        new, old = dialogue_means(rows_new, name), dialogue_means(rows_old, name)
        diffs = [new[d] - old[d] for d in sorted(set(new) & set(old))]
        results[name] = ci_entry(diffs, n_boot, seed)
    for name in POOLED_METRICS:
        new_samples, old_samples = sample_means(rows_new, name), sample_means(rows_old, name)
        both = sorted(set(new_samples) & set(old_samples))
        sums = dialogue_sums({k: new_samples[k] - old_samples[k] for k in both})
        results[f"{name}_pooled"] = pooled_ci_entry(sums, n_boot, seed)
    return results


def always_stop_rows(rows: Sequence[Row], fusion: FusionConfig) -> list[Row]:
    """What a policy that always replies ``<stop />`` would score on the same samples.

    A reference point for the table: on a balanced set such a policy already earns a high
    ``ave_total_reward`` (a right STOP scores R_a = 1 by the authors' gating), so a trained
    policy must beat it, not only the base model, to show it learned *when* to stop.
    """
    reference = []
    for row in rows:
        if row.get("rollout", 0) != 0:
            continue
        right = 1.0 if row["decision"] == "stop" else 0.0
        reference.append(
            {
                "sample_id": row["sample_id"],
                "dialogue_id": row["dialogue_id"],
                "decision": row["decision"],
                "rollout": 0,
                "r_a": right,
                "r_s": right,
                "p": right,
                "reward": fuse(right, right, right, fusion),
            }
        )
    return reference
