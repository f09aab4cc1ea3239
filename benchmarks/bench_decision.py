"""Evaluation throughput of the decision-first policy on the demo test split: P(stop) alone
(one forward pass per point) against generating a reply (what every point cost before), and
the threshold rule end to end (generation only where it asks), and the same rule asking from a
question memory of the demo training split instead of generating."""

from __future__ import annotations

import time

from benchmarks.common import demo_samples, row
from learn2ask.data.samples import load_samples
from learn2ask.models.decision import load_deciding_policy
from learn2ask.models.generation import GenerationConfig
from learn2ask.models.question_memory import QuestionMemory
from learn2ask.training.threshold import balanced_points

POINTS = 48


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


def _row(metric: str, n: int, started: float) -> dict:
    seconds = time.perf_counter() - started
    return row("decision", metric, round(n / seconds, 2), "points/s", f"{n} test points")
