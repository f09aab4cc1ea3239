"""Evaluation throughput of the decision-first policy on the demo test split: P(stop) alone
(one forward pass per point) against generating a reply (what every point cost before), the
LM's P(stop) fused with a stop head (what a trained run's rule reads), the threshold rule end
to end (generation only where it asks), and the same rule asking from a question memory of the
demo training split instead of generating."""

from __future__ import annotations

import contextlib
import random
import time
from typing import Any
from unittest import mock

from benchmarks.common import demo_samples, row
from learn2ask.data.samples import load_samples
from learn2ask.data.types import Sample
from learn2ask.evaluation import stop_scores
from learn2ask.models.decision import load_deciding_policy
from learn2ask.models.generation import GenerationConfig
from learn2ask.models.question_memory import QuestionMemory, default_grader
from learn2ask.models.stop_head import StopHead
from learn2ask.training.config import DecisionSettings
from learn2ask.training.threshold import balanced_points

POINTS = 48
HEAD_POINTS = DecisionSettings().stop_head_points  # what decision_sft fits the head on


def run() -> list[dict]:
    """Points/s of each way of deciding, side by side on the same points."""
    rows = stop_auc_ci_rows()
    points = balanced_points(load_samples(demo_samples() / "test.jsonl"), POINTS, seed=0)
    contexts = [s.context for s in points]
    policy = load_deciding_policy(
        "smollm2-135m-instruct", generation=GenerationConfig(max_new_tokens=32)
    )
    policy.stop_probabilities(contexts[:4])  # warm-up
    forget_p_stop(policy)
    started = time.perf_counter()
    p_stop = policy.stop_probabilities(contexts)
    rows.append(_row("P(stop) only (decision)", len(points), started))
    rows.extend(_stop_head_rows(policy, points, p_stop))
    policy.rule = policy.rule.__class__(rule="greedy")
    started = time.perf_counter()
    policy.decide(contexts)
    rows.append(_row("greedy reply per point (generation)", len(points), started))
    median = sorted(p_stop)[len(p_stop) // 2]
    policy.rule = policy.rule.__class__(threshold=median, stop_token="<")
    forget_p_stop(policy)
    started = time.perf_counter()
    policy.decide(contexts)
    rows.append(_row("threshold rule, asks at half the points", len(points), started))
    started = time.perf_counter()
    policy.memory = QuestionMemory.build(load_samples(demo_samples() / "train.jsonl"))
    build_seconds = time.perf_counter() - started
    policy.decide(contexts[:4])  # warm-up
    forget_p_stop(policy)
    started = time.perf_counter()
    policy.decide(contexts)
    rows.append(_row("threshold rule, asks from the question memory", len(points), started))
    n_memory = policy.memory.settings.built_from["points"]
    rows.append(
        row(
            "decision",
            "question memory build",
            round(n_memory / build_seconds, 1),
            "points/s",
            f"{n_memory} training points",
        )
    )
    return rows


def _stop_head_rows(policy: Any, points: list[Sample], p_stop: list[float]) -> list[dict]:
    """Fit a stop head as ``decision_sft`` does (fusion on the bench points: only its cost is
    measured here), then time the fused P(stop); the policy is left without the head."""
    train = balanced_points(load_samples(demo_samples() / "train.jsonl"), HEAD_POINTS, seed=0)
    started = time.perf_counter()
    head = StopHead.fit(default_grader(), train, points, p_stop)
    fit_seconds = time.perf_counter() - started
    policy.stop_head = head
    forget_p_stop(policy)
    started = time.perf_counter()
    policy.stop_probabilities([s.context for s in points])
    fused = _row("P(stop) fused with the stop head (decision)", len(points), started)
    policy.stop_head = None
    fit = row(
        "decision",
        "stop head fit (embeddings + logistic regressions)",
        round(len(train) / fit_seconds, 1),
        "points/s",
        f"{len(train)} training points",
    )
    return [fused, fit]


def forget_p_stop(policy: Any) -> None:
    """Empty the policy's memo of P(stop) per prompt, so that a row times the model on points
    an earlier row decided (with the memo the fused and memory rows timed a dict look-up:
    5,905 and 80 points/s)."""
    policy.p_stop_memo = {}


def _row(metric: str, n: int, started: float) -> dict:
    seconds = time.perf_counter() - started
    return row("decision", metric, round(n / seconds, 2), "points/s", f"{n} test points")


def pairwise_roc_auc(positives: list[float], negatives: list[float]) -> float:
    """The AUC as it was counted before: every positive-negative pair in Python."""
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def stop_auc_ci_rows(n_dialogues: int = 220, n_boot: int = 1000) -> list[dict]:
    """The stop AUC's dialogue bootstrap on rows shaped like the demo's balanced test (444
    points, 220 dialogues, P(stop) on a 0.001 grid so some pairs tie), with the AUC counted
    pair by pair (before) and by binary search (now); both give the same interval."""
    rng = random.Random(0)
    rows = []
    for i in range(2 * n_dialogues + 4):
        stop = i % 2 == 1
        p_stop = min(1.0, max(0.0, rng.gauss(0.54 if stop else 0.41, 0.15)))
        rows.append(
            {
                "dialogue_id": f"d{i % n_dialogues}",
                "decision": "stop" if stop else "continue",
                "p_stop": round(p_stop, 3),
            }
        )
    results = []
    intervals = []
    for label, counting in (
        ("pair by pair", mock.patch.object(stop_scores, "roc_auc", pairwise_roc_auc)),
        ("binary search", contextlib.nullcontext()),
    ):
        started = time.perf_counter()
        with counting:
            intervals.append(stop_scores.stop_auc_ci(rows, n_boot=n_boot))
        seconds = time.perf_counter() - started
        results.append(
            row(
                "decision",
                f"stop AUC bootstrap ({n_boot} draws), AUC counted {label}",
                round(seconds, 2),
                "s",
                f"{len(rows)} points, {n_dialogues} dialogues; interval {intervals[-1]}",
            )
        )
    assert intervals[0] == intervals[1], intervals
    return results
