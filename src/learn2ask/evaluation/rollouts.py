"""Per-turn offline evaluation: roll the policy out on held-out samples, grade, aggregate.

Outputs in ``OUT``: ``rollouts.jsonl`` (one graded rollout per line, appended as batches finish
so an interrupted run resumes), ``metrics.json`` and ``eval_summary.json`` (written atomically).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from learn2ask.data.sampling import balanced_subset, whole_dialogue_subset
from learn2ask.data.types import Sample
from learn2ask.evaluation.metrics import compute_metrics
from learn2ask.io import (
    append_jsonl,
    read_jsonl_tolerant,
    write_json_atomic,
    write_jsonl_atomic,
)
from learn2ask.models.decision import DecidingPolicy, PolicyAction
from learn2ask.models.generation import GenerationConfig
from learn2ask.models.policy import parse_policy_response
from learn2ask.rewards.scorer import RewardScorer

ROLLOUTS_FILE = "rollouts.jsonl"
METRICS_FILE = "metrics.json"
SUMMARY_FILE = "eval_summary.json"


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate on and how to sample."""

    name: str
    n_rollouts: int = 1
    max_samples: int | None = None
    balanced: bool = False
    # every point of seeded whole dialogues (up to max_samples points): the stop-point metrics
    whole_dialogues: bool = False
    seed: int = 0
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    chunk_size: int = 32
    n_boot: int = 1000


def select_eval_samples(samples: list[Sample], config: EvalConfig) -> list[Sample]:
    """Seeded subset: ``balanced`` takes equal CONTINUE/STOP counts (within each source),
    ``whole_dialogues`` every point of seeded dialogues, ``max_samples`` caps."""
    if config.whole_dialogues:
        return whole_dialogue_subset(samples, config.max_samples, config.seed)
    if config.balanced:
        limit = 2 * ((config.max_samples or len(samples)) // 2)
        return sorted(balanced_subset(samples, 0.5, limit, config.seed), key=lambda s: s.id)
    pool = sorted(samples, key=lambda s: s.id)
    random.Random(config.seed).shuffle(pool)
    if config.max_samples:
        pool = pool[: config.max_samples]
    return sorted(pool, key=lambda s: s.id)


def read_rollouts(path: Path) -> list[dict[str, Any]]:
    """Rows already written; a torn last line from an interrupted run is ignored."""
    return read_jsonl_tolerant(path)


def resume_rollouts(path: Path, n_rollouts: int) -> list[dict[str, Any]]:
    """Rows of samples that already have all ``n_rollouts`` rollouts.

    A sample cut off mid-way (or evaluated with fewer rollouts before) is dropped from the file
    and generated again as a whole, so its rollouts all come from one pass.
    """
    rows = read_rollouts(path)
    counts = Counter(r["sample_id"] for r in rows)
    complete = [r for r in rows if counts[r["sample_id"]] >= n_rollouts]
    # Rewrite also when a torn last line was skipped: appending after it would corrupt a row.
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    if len(complete) != sum(1 for line in lines if line.strip()):
        write_jsonl_atomic(path, complete)
    return complete


def evaluate_policy(
    policy: DecidingPolicy,
    samples: list[Sample],
    scorer: RewardScorer,
    config: EvalConfig,
    out: Path,
    progress: bool = True,
) -> dict[str, Any]:
    """Decide (and ask), grade and aggregate; returns the metrics written to ``metrics.json``.

    Rollout ``k`` of a sample uses generation seed ``seed + k``; under the threshold rule the
    decision itself is deterministic and only the question varies.
    """
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    chosen = select_eval_samples(samples, config)
    path = out / ROLLOUTS_FILE
    rows = resume_rollouts(path, config.n_rollouts)
    done = {r["sample_id"] for r in rows}
    todo = [s for s in chosen if s.id not in done]
    timing = {"decide_seconds": 0.0, "points": 0}
    base_generation = policy.generation
    for start in range(0, len(todo), config.chunk_size):
        chunk = todo[start : start + config.chunk_size]
        flat = []
        for k in range(config.n_rollouts):
            policy.generation = replace(base_generation, seed=base_generation.seed + k)
            tick = time.perf_counter()
            actions = policy.decide([s.context for s in chunk])
            timing["decide_seconds"] += time.perf_counter() - tick
            timing["points"] += len(chunk)
            flat.extend((s, k, a) for s, a in zip(chunk, actions, strict=True))
        flat.sort(key=lambda item: (item[0].id, item[1]))
        replies = [reply_text(a, policy.prompt_config.stop_tag) for _, _, a in flat]
        components = scorer.score([s for s, _, _ in flat], replies)
        for (sample, k, action), reply, c in zip(flat, replies, components, strict=True):
            row = rollout_row(sample, k, reply, c, action, policy.rule.rule)
            append_jsonl(path, row)
            rows.append(row)
        if progress:
            print(
                f"  [{config.name}] {min(start + len(chunk), len(todo))}/{len(todo)} samples "
                f"({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    policy.generation = base_generation
    chosen_ids = {s.id for s in chosen}
    rows = [r for r in rows if r["sample_id"] in chosen_ids]
    metrics = compute_metrics(rows, n_boot=config.n_boot, seed=config.seed)
    write_json_atomic(out / METRICS_FILE, metrics)
    write_json_atomic(
        out / SUMMARY_FILE,
        {
            "name": config.name,
            "model": policy.name,
            "prompt": asdict(policy.prompt_config),
            "decision_rule": asdict(policy.rule),
            "eval": {**asdict(config), "generation": asdict(config.generation)},
            "grader": scorer.grader.version,
            "fusion": asdict(scorer.fusion),
            "samples": len(chosen),
            "stop_samples": sum(s.decision == "stop" for s in chosen),
            "dialogues": len({s.dialogue_id for s in chosen}),
            "rollouts": len(rows),
            "seconds": round(time.perf_counter() - started, 1),
            "points_per_second": round(timing["points"] / timing["decide_seconds"], 3)
            if timing["decide_seconds"]
            else None,
        },
    )
    return metrics


def reply_text(action: PolicyAction, stop_tag: str) -> str:
    """The reply a decision stands for: the stop tag, or the question that was asked."""
    return stop_tag if action.action == "stop" else (action.question or action.raw)


def rollout_row(
    sample: Sample,
    rollout: int,
    reply: str,
    components: Any,
    action: PolicyAction | None = None,
    rule: str | None = None,
) -> dict[str, Any]:
    """One graded rollout as written to ``rollouts.jsonl``."""
    parsed = parse_policy_response(reply)
    return {
        "sample_id": sample.id,
        "dialogue_id": sample.dialogue_id,
        "decision": sample.decision,
        "rollout": rollout,
        "response": reply,
        "assessment": parsed.assessment,
        "violation": parsed.violation,
        "p_stop": None if action is None else action.p_stop,
        "rule": rule,
        **asdict(components),
    }
