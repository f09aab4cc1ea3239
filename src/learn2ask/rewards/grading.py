"""Grading files of replies: read responses, score them, write scores and a summary."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from learn2ask.data.types import Sample
from learn2ask.errors import InputError
from learn2ask.io import (
    is_valid_unicode,
    iter_jsonl,
    staged_outputs,
    write_json_atomic,
    write_jsonl_atomic,
)
from learn2ask.rewards.fusion import RewardComponents
from learn2ask.rewards.scorer import RewardScorer
from learn2ask.targets.base import reference_reply


def load_responses(source: str | Path, samples: list[Sample]) -> list[tuple[str, str]]:
    """``(sample id, reply)`` pairs from a JSONL file, or the expert's own for ``expert``."""
    if str(source) == "expert":
        return [(s.id, reference_reply(s)) for s in samples]
    known = {s.id for s in samples}
    pairs = []
    for number, obj in iter_jsonl(source):
        if not isinstance(obj, dict):
            raise InputError(source, "expected a JSON object", line=number)
        if "id" not in obj or "response" not in obj:
            raise InputError(source, "each line needs 'id' and 'response'", line=number)
        if not isinstance(obj["response"], str):
            raise InputError(source, "'response' must be a string", line=number)
        if not is_valid_unicode(obj["response"]):
            raise InputError(
                source, "'response' holds a lone surrogate (not valid Unicode text)", line=number
            )
        if str(obj["id"]) not in known:
            raise InputError(source, f"unknown sample id '{obj['id']}'", line=number)
        pairs.append((str(obj["id"]), obj["response"]))
    if not pairs:
        raise InputError(source, "no responses in file")
    return pairs


def summarize_scores(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over successfully graded replies, counts, and grading failures."""
    graded = [r for r in rows if r["reward"] is not None]

    def mean(key: str, subset: list[dict[str, Any]]) -> float | None:
        values = [r[key] for r in subset if r[key] is not None]
        return round(sum(values) / len(values), 4) if values else None

    right_continue = [r for r in graded if r["decision"] == "continue" and r["r_s"] == 1.0]
    return {
        "responses": len(rows),
        "graded": len(graded),
        "grading_failures": len(rows) - len(graded),
        "reward": mean("reward", graded),
        "r_s": mean("r_s", graded),
        "p": mean("p", graded),
        "r_a_right_continue": mean("r_a", right_continue),
        "stop_accuracy": mean("r_s", [r for r in graded if r["decision"] == "stop"]),
        "continue_accuracy": mean("r_s", [r for r in graded if r["decision"] == "continue"]),
    }


def grade_responses(
    scorer: RewardScorer, samples: list[Sample], responses: list[tuple[str, str]], out: Path
) -> dict[str, Any]:
    """Score every reply; write ``scores.jsonl`` and ``summary.json`` as one set (both appear
    together or neither does)."""
    by_id = {s.id: s for s in samples}
    ordered = [by_id[i] for i, _ in responses]
    components: list[RewardComponents] = scorer.score(ordered, [r for _, r in responses])
    rows = [
        {"id": sample_id, "response": reply, "decision": by_id[sample_id].decision, **asdict(c)}
        for (sample_id, reply), c in zip(responses, components, strict=True)
    ]
    summary = summarize_scores(rows)
    summary.update(grader=scorer.grader.version, fusion=asdict(scorer.fusion))
    with staged_outputs(out) as stage:
        write_jsonl_atomic(stage / "scores.jsonl", rows)
        write_json_atomic(stage / "summary.json", summary)
    return summary
