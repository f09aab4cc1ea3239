"""Does the policy know when to stop, whatever the decoding? P(stop) per held-out sample.

Greedy decoding picks the single likeliest first token. A policy that puts 30% on ``<stop />``
and spreads the other 70% over many different question openings ("Do", "How", "Any", ...) stops
under greedy decoding although it would ask 70% of the time when sampled. Scoring the
probability of stopping (the stop tag's first token, one forward pass per sample; the same
P(stop) the threshold decision rule uses, see ``models/decision.py``) separates "the policy
cannot tell STOP from CONTINUE points" (AUC near 0.5) from "it can" (high AUC). Works for local
models and, through ``top_logprobs``, for OpenAI-compatible endpoints.

Output: ``OUT/stop_scores.json`` (per-sample P(stop) and the summary) for the same samples the
per-turn evaluation used.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from learn2ask.data.types import Sample
from learn2ask.evaluation.metrics import ci_entry, mean, roc_auc
from learn2ask.io import write_json_atomic
from learn2ask.models.decision import DecidingPolicy, DecisionRule

STOP_SCORES_FILE = "stop_scores.json"


def stop_auc_ci(
    rows: Sequence[dict[str, Any]], n_boot: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95% bootstrap interval of the AUC, resampling dialogues (samples of one dialogue
    are not independent)."""
    by_dialogue: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_dialogue[row["dialogue_id"]].append(row)
    dialogues = list(by_dialogue)
    rng = random.Random(seed)
    values = []
    for _ in range(n_boot):
        drawn = [r for _ in dialogues for r in by_dialogue[rng.choice(dialogues)]]
        positives = [r["p_stop"] for r in drawn if r["decision"] == "stop"]
        negatives = [r["p_stop"] for r in drawn if r["decision"] == "continue"]
        if positives and negatives:
            values.append(roc_auc(positives, negatives))
    values.sort()
    return values[int(0.025 * len(values))], values[min(len(values) - 1, int(0.975 * len(values)))]


def summarize_stop_scores(
    rows: Sequence[dict[str, Any]], n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Mean P(stop) on STOP and on CONTINUE samples (per dialogue first), the AUC of P(stop)
    as a STOP detector, and the decision accuracy if one stopped whenever P(stop) > 0.5."""
    summary: dict[str, Any] = {
        "n_stop": sum(r["decision"] == "stop" for r in rows),
        "n_continue": sum(r["decision"] == "continue" for r in rows),
    }
    for decision in ("stop", "continue"):
        per_dialogue: dict[str, list[float]] = defaultdict(list)
        for row in rows:
            if row["decision"] == decision:
                per_dialogue[row["dialogue_id"]].append(row["p_stop"])
        values = [mean(v) for v in per_dialogue.values()]
        if values:
            summary[f"p_stop_on_{decision}"] = ci_entry(values, n_boot, seed)
    positives = [r["p_stop"] for r in rows if r["decision"] == "stop"]
    negatives = [r["p_stop"] for r in rows if r["decision"] == "continue"]
    if positives and negatives:
        low, high = stop_auc_ci(rows, n_boot=n_boot, seed=seed)
        summary["stop_auc"] = {
            "mean": round(roc_auc(positives, negatives), 4),
            "ci_low": round(low, 4),
            "ci_high": round(high, 4),
        }
        correct = [(r["p_stop"] > 0.5) == (r["decision"] == "stop") for r in rows]
        summary["decision_accuracy_at_half"] = round(mean([float(c) for c in correct]), 4)
    return summary


def score_stop_probabilities(
    policy: DecidingPolicy,
    samples: Sequence[Sample],
    out: Path,
    n_boot: int = 1000,
    seed: int = 0,
    known: dict[str, float] | None = None,
) -> dict[str, Any]:
    """P(stop) for each sample; writes ``OUT/stop_scores.json`` and returns its summary.

    ``known`` maps sample ids to a P(stop) already computed by this policy (the threshold
    rule's rollouts carry it): those samples are not scored again, so the file holds exactly
    the P(stop) the decisions used, at half the cost."""
    known = known or {}
    missing = [s.context for s in samples if s.id not in known]
    fresh = iter(policy.stop_probabilities(missing) if missing else [])
    p_stop = [known[s.id] if s.id in known else next(fresh) for s in samples]
    rows = [
        {
            "sample_id": sample.id,
            "dialogue_id": sample.dialogue_id,
            "decision": sample.decision,
            "p_stop": p,
        }
        for sample, p in zip(samples, p_stop, strict=True)
    ]
    return write_stop_scores(rows, out, policy.rule, n_boot, seed)


def rule_p_stop(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """The P(stop) the threshold rule decided each rollout row's sample with, by sample id."""
    return {
        r["sample_id"]: r["p_stop"]
        for r in rows
        if r.get("rule") == "threshold" and r.get("p_stop") is not None
    }


def write_stop_scores(
    rows: Sequence[dict[str, Any]], out: Path, rule: DecisionRule, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Summarise per-sample P(stop) rows and write ``OUT/stop_scores.json``."""
    rows = [{k: r[k] for k in ("sample_id", "dialogue_id", "decision", "p_stop")} for r in rows]
    summary = summarize_stop_scores(rows, n_boot=n_boot, seed=seed)
    if rule.rule == "threshold":
        summary.update(threshold_accuracy(rows, rule.threshold))
    write_json_atomic(out / STOP_SCORES_FILE, {"summary": summary, "samples": rows})
    return summary


def threshold_accuracy(rows: Sequence[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """Accuracy and balanced accuracy of ``P(stop) >= threshold`` (the decision rule), the
    shares of STOP and of CONTINUE points it stops at, and the best balanced accuracy any cut
    would reach on these points (hindsight: a diagnostic of the saved cut, never a cut to use)."""
    stops = [r["p_stop"] >= threshold for r in rows if r["decision"] == "stop"]
    asks = [r["p_stop"] < threshold for r in rows if r["decision"] == "continue"]
    result: dict[str, Any] = {"threshold": threshold}
    if stops and asks:
        result["decision_accuracy_at_threshold"] = round((sum(stops) + sum(asks)) / len(rows), 4)
        result["balanced_accuracy_at_threshold"] = round(
            (sum(stops) / len(stops) + sum(asks) / len(asks)) / 2, 4
        )
        result["stops_at_stop"] = round(sum(stops) / len(stops), 4)
        result["stops_at_continue"] = round(1 - sum(asks) / len(asks), 4)
        cut, accuracy = best_balanced_cut(rows)
        result["hindsight_best_cut"] = round(cut, 6)
        result["hindsight_best_balanced_accuracy"] = round(accuracy, 4)
    return result


def best_balanced_cut(rows: Sequence[dict[str, Any]]) -> tuple[float, float]:
    """``(cut, balanced accuracy)`` of the cut ``P(stop) >= cut`` that separates these rows'
    STOP from CONTINUE points best (one sweep over the sorted P(stop))."""
    ranked = sorted((r["p_stop"], r["decision"] == "stop") for r in rows)
    n_stop = sum(stop for _, stop in ranked)
    n_continue = len(ranked) - n_stop
    # Cutting at the lowest value stops everywhere; each step up asks at one more point.
    best = (ranked[0][0], 0.5)
    asked_stop = asked_continue = 0
    for i, (p, stop) in enumerate(ranked):
        if i > 0 and p > ranked[i - 1][0]:
            accuracy = ((n_stop - asked_stop) / n_stop + asked_continue / n_continue) / 2
            if accuracy > best[1]:
                best = (p, accuracy)
        asked_stop += stop
        asked_continue += not stop
    return best


def recut_hint(summary: dict[str, Any], gap: float = 0.05) -> str | None:
    """A line for the person evaluating when the saved cut sits off on these points: some cut
    separates them at least ``gap`` better in balanced accuracy. Re-cutting on these very
    points would tune on the test; the line points to the source's training logs instead."""
    at = summary.get("balanced_accuracy_at_threshold")
    best = summary.get("hindsight_best_balanced_accuracy")
    if at is None or best is None or best - at < gap:
        return None
    return (
        f"the saved cut {summary['threshold']} stops at {summary['stops_at_stop']:.0%} of STOP "
        f"and {summary['stops_at_continue']:.0%} of CONTINUE points here (balanced accuracy "
        f"{at:.3f}; a cut in hindsight would reach {best:.3f}): if these logs come from a source "
        "the policy was not trained on, re-cut it on that source's training logs with "
        "`learn2ask calibrate TRAIN.jsonl --decision RUN` (never on the points you report)"
    )
