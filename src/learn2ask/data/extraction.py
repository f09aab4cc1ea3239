"""The extraction contract the first stage needs: (context, future) -> I*, the information still
to be elicited. Implementations live in :mod:`learn2ask.targets` and register in
``learn2ask.plugins.EXTRACTORS``; ``prepare`` only sees this interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from learn2ask.data.types import Decision, InfoItem, Turn


@dataclass(frozen=True)
class ExtractionFailure:
    """Extraction could not produce I* for a sample; the sample is left out and counted."""

    reason: str


class Extractor(Protocol):
    """Turns decision points into hindsight targets. Implementations: ``qa``, ``llm``."""

    name: str

    def extract(
        self, points: list[tuple[list[Turn], list[Turn]]]
    ) -> list[list[InfoItem] | ExtractionFailure]:
        """For each ``(context, future)`` pair, the items of I* (or why there are none)."""
        ...


def decision_from_items(items: list[InfoItem]) -> Decision:
    """s* = STOP when nothing is left to elicit, else CONTINUE."""
    return "continue" if items else "stop"
