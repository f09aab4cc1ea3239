"""Segmentation: a dialogue -> decision points, each with the FULL history as context.

A decision point is every turn where the expert speaks right after user input. Its context is
every turn before it (the whole history, not just the current round as the authors' splitter
kept), its future every turn from it on.
"""

from __future__ import annotations

from dataclasses import dataclass

from learn2ask.data.types import Dialogue, Turn


@dataclass(frozen=True)
class DecisionPoint:
    """One place where the expert is about to speak: ``context + future == dialogue.turns``."""

    dialogue_id: str
    index: int
    turn_index: int
    context: list[Turn]
    future: list[Turn]

    @property
    def id(self) -> str:
        """Stable sample id ``{dialogue_id}_{index}``."""
        return f"{self.dialogue_id}_{self.index}"


def decision_turn_indices(turns: list[Turn]) -> list[int]:
    """Indices of expert turns that directly follow a user turn."""
    return [
        i for i in range(1, len(turns)) if turns[i].role == "expert" and turns[i - 1].role == "user"
    ]


def segment_dialogue(dialogue: Dialogue) -> list[DecisionPoint]:
    """Every decision point of a dialogue, in order, numbered from 0."""
    return [
        DecisionPoint(
            dialogue_id=dialogue.id,
            index=index,
            turn_index=turn_index,
            context=dialogue.turns[:turn_index],
            future=dialogue.turns[turn_index:],
        )
        for index, turn_index in enumerate(decision_turn_indices(dialogue.turns))
    ]
