"""Reading and writing sample files (the hand-off between ``prepare`` and later stages)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from learn2ask.data.types import DECISIONS, ROLES, Sample, Turn
from learn2ask.errors import InputError
from learn2ask.io import iter_jsonl, write_jsonl_atomic


def load_samples(path: str | Path) -> list[Sample]:
    """Load a samples JSONL file written by ``learn2ask prepare``, validating every line."""
    samples = []
    shared: dict[tuple[str, str], Turn] = {}  # equal turns built once per file
    for number, obj in iter_jsonl(path):
        samples.append(_sample_from_line(path, number, obj, shared))
    if not samples:
        raise InputError(path, "no samples in file")
    return samples


def save_samples(path: str | Path, samples: Iterable[Sample]) -> int:
    """Write samples atomically, one JSON object per line; returns how many."""
    return write_jsonl_atomic(path, (s.to_dict() for s in samples))


def _sample_from_line(
    path: str | Path, number: int, obj: object, shared: dict[tuple[str, str], Turn]
) -> Sample:
    if not isinstance(obj, dict):
        raise InputError(path, "expected a JSON object", line=number)
    if "messages" in obj and "context" not in obj:
        # A RealMedConv or OpenAI chat log passed where prepared samples belong.
        raise InputError(
            path,
            "a conversation log, not decision-point samples: run `learn2ask prepare "
            f"{path} --out DIR` and pass DIR/test.jsonl",
            line=number,
        )
    for key in ("id", "dialogue_id", "context", "future", "info_set", "decision"):
        if key not in obj:
            raise InputError(path, f"sample is missing field '{key}'", line=number)
    if obj["decision"] not in DECISIONS:
        raise InputError(
            path, f"decision must be one of {DECISIONS}, got {obj['decision']!r}", line=number
        )
    for key in ("context", "future"):
        turns = obj[key]
        if not isinstance(turns, list):
            raise InputError(path, f"'{key}' must be a list of turns", line=number)
        for turn in turns:
            if not isinstance(turn, dict) or turn.get("role") not in ROLES:
                raise InputError(
                    path, f"'{key}' has a turn whose role is not one of {ROLES}", line=number
                )
            if not isinstance(turn.get("content"), str):
                raise InputError(path, f"'{key}' has a turn without text content", line=number)
    try:
        return Sample.from_dict(obj, shared)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(path, f"malformed sample ({exc})", line=number) from None
