"""Where the policy stops along a logged conversation: a stop *point*, not a stop *rate*.

Per-turn metrics score each decision on its own. A policy that has only learned how often to
stop (a rate) can do well there on a balanced set and still stop anywhere in a conversation.
Evaluated on whole dialogues (``evaluate --whole-dialogues``: every decision point of each
chosen dialogue), each dialogue is walked in order as the live assistant would meet it:

- the expert's stop point is its first point with s* = STOP (nothing was left to elicit; every
  later point is STOP too), ``n`` when the log ends before one;
- the policy's stop point is its first STOP decision (``n``: it never stops);
- ``on_time``: at the expert's point; ``early``: before it (items were left); ``late``: after it
  (never stopping where the expert stopped is late);
- ``coverage``: the share of the dialogue's I* (the items its first point still had to come)
  that the expert had elicited before the policy's stop point (1 when it never stops);
- ``extra_questions``: decision points between the expert's stop point and the policy's;
- ``offset``: (policy's point - expert's point) / points in the dialogue.

Two references on the same dialogues say what the figures are worth:

- ``random_same_rate``: stopping at each point with the policy's own STOP rate, independently
  (the expectation, computed exactly): what a policy that learned only a rate would score;
- ``fixed_count``: the one-line rule "ask k times, then stop", with k the median stop point of
  the training dialogues (when they are given).

Means are per dialogue with bootstrap CIs over dialogues; ``policy - random_same_rate`` is the
paired difference.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from learn2ask.data.sampling import samples_by_dialogue
from learn2ask.data.types import Sample
from learn2ask.evaluation.metrics import bootstrap_ci, mean

STOP_POINT_FILE = "stop_point.json"
POINT_METRICS = ("on_time", "early", "late", "coverage", "extra_questions", "offset")


@dataclass(frozen=True)
class DialoguePath:
    """One dialogue's decision points in order: their ids, what was left to elicit, and s*."""

    dialogue_id: str
    ids: tuple[str, ...]  # sample ids in order of position
    remaining: tuple[int, ...]  # I* size at each point
    expert_stop: int  # first point with s* = STOP; len(remaining) when none

    @property
    def points(self) -> int:
        return len(self.remaining)


def dialogue_paths(samples: Sequence[Sample]) -> dict[str, DialoguePath]:
    """Each dialogue's points ordered by position."""
    paths = {}
    for dialogue_id, points in samples_by_dialogue(samples).items():
        stops = [i for i, s in enumerate(points) if s.decision == "stop"]
        paths[dialogue_id] = DialoguePath(
            dialogue_id,
            tuple(s.id for s in points),
            tuple(len(s.items) for s in points),
            stops[0] if stops else len(points),
        )
    return paths


def outcome_at(path: DialoguePath, stop: int) -> dict[str, float]:
    """The metrics of stopping first at point ``stop`` (``path.points``: never)."""
    total = path.remaining[0] if path.points else 0
    left = path.remaining[stop] if stop < path.points else 0
    return {
        "on_time": float(stop == path.expert_stop),
        "early": float(stop < path.expert_stop),
        "late": float(stop > path.expert_stop),
        "coverage": 1.0 if total == 0 else 1.0 - left / total,
        "extra_questions": float(max(0, stop - path.expert_stop)),
        "offset": (stop - path.expert_stop) / max(path.points, 1),
    }


def walk_reward(path: DialoguePath, stop: int, ask: float, stop_reward: float) -> float:
    """The mean Learn-to-Ask per-turn reward of the turns a live conversation has when the
    policy first stops at ``stop``: ``ask`` for each question before the expert's stop point,
    nothing for a question after it, ``stop_reward`` for a STOP with nothing left and nothing
    for a premature one; never stopping ends with the log. An early STOP forfeits the
    questions after it, a late one dilutes the mean with a question per point it is late."""
    asked_rightly = min(stop, path.expert_stop)
    stopped_rightly = path.expert_stop <= stop < path.points
    total = ask * asked_rightly + (stop_reward if stopped_rightly else 0.0)
    return total / max(min(stop + 1, path.points), 1)


def stop_chances(path: DialoguePath, rate_continue: float, rate_stop: float) -> list[float]:
    """The chance that the first STOP falls at each point (the last entry: never), stopping
    independently with ``rate_continue`` at CONTINUE points and ``rate_stop`` at STOP points."""
    chances, reach = [], 1.0  # reach: the chance of not having stopped before this point
    for point in range(path.points):
        rate = rate_continue if point < path.expert_stop else rate_stop
        chances.append(reach * rate)
        reach *= 1.0 - rate
    return [*chances, reach]


def expected_at_rate(path: DialoguePath, rate: float) -> dict[str, float]:
    """The expected metrics of stopping at each point with probability ``rate``."""
    expected = dict.fromkeys(POINT_METRICS, 0.0)
    for stop, chance in enumerate(stop_chances(path, rate, rate)):
        for key, value in outcome_at(path, stop).items():
            expected[key] += chance * value
    return expected


def expected_walk_reward(
    paths: Sequence[DialoguePath],
    rate_continue: float,
    rate_stop: float,
    ask: float,
    stop_reward: float,
) -> float:
    """:func:`walk_reward` expected over ``paths`` (mean per dialogue) when the policy stops
    independently at each point with its class-conditional STOP rates."""
    total = 0.0
    for path in paths:
        chances = stop_chances(path, rate_continue, rate_stop)
        rewards = (walk_reward(path, stop, ask, stop_reward) for stop in range(len(chances)))
        total += sum(c * r for c, r in zip(chances, rewards, strict=True))
    return total / max(len(paths), 1)


def policy_stop_points(paths: dict[str, DialoguePath], stops: dict[str, bool]) -> dict[str, int]:
    """The first point at which the policy stops (``stops``: sample id -> STOP?) in each
    dialogue (``points``: never)."""
    first = {}
    for dialogue_id, path in paths.items():
        decided = [i for i, sample_id in enumerate(path.ids) if stops.get(sample_id)]
        first[dialogue_id] = decided[0] if decided else path.points
    return first


def training_stop_count(train: Sequence[Sample]) -> int:
    """The median stop point (CONTINUE points before the first STOP) of training dialogues."""
    return int(statistics.median(p.expert_stop for p in dialogue_paths(train).values()))


def summarize_stop_point(
    samples: Sequence[Sample],
    stops: dict[str, bool],
    train: Sequence[Sample] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Stop-point metrics of the policy whose decision at each sample id is ``stops`` (True:
    STOP), over the whole dialogues of ``samples``, with the two references."""
    paths = dialogue_paths(samples)
    rate = mean([float(stops[s.id]) for s in samples]) if samples else 0.0
    first = policy_stop_points(paths, stops)
    ids = sorted(paths)
    policy = [outcome_at(paths[d], first[d]) for d in ids]
    chance = [expected_at_rate(paths[d], rate) for d in ids]

    def stat(rows: list[dict[str, float]], key: str) -> dict[str, float]:
        values = [r[key] for r in rows]
        low, high = bootstrap_ci(values, n_boot=n_boot, seed=seed)
        return {"mean": round(mean(values), 4), "ci_low": round(low, 4), "ci_high": round(high, 4)}

    diffs = [{k: p[k] - r[k] for k in POINT_METRICS} for p, r in zip(policy, chance, strict=True)]
    summary: dict[str, Any] = {
        "dialogues": len(ids),
        "points": len(samples),
        "policy_stop_rate": round(rate, 4),
        "expert_stop_point": round(mean([paths[d].expert_stop / paths[d].points for d in ids]), 4)
        if ids
        else None,
        "policy": {k: stat(policy, k) for k in POINT_METRICS},
        "random_same_rate": {k: stat(chance, k) for k in POINT_METRICS},
        "policy_minus_random_same_rate": {k: stat(diffs, k) for k in POINT_METRICS},
    }
    if train:
        k = training_stop_count(train)
        fixed = [outcome_at(paths[d], min(k, paths[d].points)) for d in ids]
        summary["fixed_count"] = {"k": k, **{m: stat(fixed, m) for m in POINT_METRICS}}
    summary["per_dialogue"] = [
        {
            "dialogue_id": d,
            "points": paths[d].points,
            "expert_stop": paths[d].expert_stop,
            "policy_stop": first[d],
        }
        for d in ids
    ]
    return summary
