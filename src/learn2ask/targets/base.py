"""The extractor interface: (context, future) -> I*, the information still to be elicited."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from learn2ask.data.types import Decision, InfoItem, Sample, Turn


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


def reference_reply(sample: Sample) -> str:
    """What the expert's own next action means for the policy: the stop tag when s* = STOP,
    else the next question the expert really went on to ask (the first item of I*).

    Used as the SFT target and as the "expert" response set that ``grade`` can score.
    """
    from learn2ask.models.policy import STOP_TAG

    if sample.decision == "stop" or not sample.items:
        return STOP_TAG
    first = sample.items[0]
    return first.question or first.text
