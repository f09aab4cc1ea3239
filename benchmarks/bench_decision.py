"""Evaluation throughput of the decision-first policy on the demo test split: P(stop) alone
(one forward pass per point) against generating a reply (what every point cost before), the
LM's P(stop) fused with a stop head (what a trained run's rule reads), the threshold rule end
to end (generation only where it asks), and the same rule asking from a question memory of the
demo training split instead of generating."""

from __future__ import annotations

import time
from typing import Any

from benchmarks.common import demo_samples, row
from learn2ask.data.samples import load_samples
from learn2ask.data.types import Sample
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
    points = balanced_points(load_samples(demo_samples() / "test.jsonl"), POINTS, seed=0)
    contexts = [s.context for s in points]
    policy = load_deciding_policy(
        "smollm2-135m-instruct", generation=GenerationConfig(max_new_tokens=32)
    )
    policy.stop_probabilities(contexts[:4])  # warm-up
    rows = []
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
    started = time.perf_counter()
    policy.decide(contexts)
    rows.append(_row("threshold rule, asks at half the points", len(points), started))
    started = time.perf_counter()
    policy.memory = QuestionMemory.build(load_samples(demo_samples() / "train.jsonl"))
    build_seconds = time.perf_counter() - started
    policy.decide(contexts[:4])  # warm-up
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


def _row(metric: str, n: int, started: float) -> dict:
    seconds = time.perf_counter() - started
    return row("decision", metric, round(n / seconds, 2), "points/s", f"{n} test points")
