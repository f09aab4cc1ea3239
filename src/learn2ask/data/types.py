"""Typed records that flow between stages: dialogues, turns, hindsight samples."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Role = Literal["user", "expert"]
Decision = Literal["continue", "stop"]
ROLES: tuple[str, ...] = ("user", "expert")
DECISIONS: tuple[str, ...] = ("continue", "stop")


@dataclass(frozen=True)
class Turn:
    """One message of a dialogue. Consecutive turns may share a role (IM-style logs)."""

    role: Role
    content: str
    # The speaker as the log named them ("Dr Lee", "agent_2"; "" where not recorded): what
    # `prepare` reports its role choices by. Not written to samples, not compared.
    speaker: str = field(default="", compare=False, repr=False)

    def to_dict(self) -> dict[str, str]:
        """The on-disk form ``{"role", "content"}``."""
        return {"role": self.role, "content": self.content}

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Turn:
        """Inverse of :meth:`to_dict`."""
        return cls(role=obj["role"], content=obj["content"])


@dataclass
class Dialogue:
    """A whole logged conversation between a user and an expert."""

    id: str
    turns: list[Turn]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class InfoItem:
    """One piece of information the expert goes on to elicit (an element of I*).

    ``text`` is what graders compare a policy question against; ``question`` and ``answer``
    keep the logged exchange it came from (used by SFT targets and the replay user).
    """

    text: str
    question: str | None = None
    answer: str | None = None
    attribute: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The on-disk form (``None`` fields kept, so the schema is stable)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> InfoItem:
        """Inverse of :meth:`to_dict`."""
        return cls(
            text=obj["text"],
            question=obj.get("question"),
            answer=obj.get("answer"),
            attribute=obj.get("attribute"),
        )


def _shared_turn(obj: dict[str, Any], turns: dict[tuple[str, str], Turn]) -> Turn:
    """The turn ``obj`` describes, from ``turns`` when an equal one was built before (a Turn
    is frozen, so sharing it is safe)."""
    key = (obj["role"], obj["content"])
    turn = turns.get(key)
    if turn is None:
        turn = turns[key] = Turn.from_dict(obj)
    return turn


@dataclass
class Sample:
    """One decision point: the expert is about to speak after ``context``.

    ``context`` is the FULL history up to this point, ``future`` the rest of the log.
    ``info_set`` (I*) lists the texts of ``items``; ``decision`` is s*.
    """

    id: str
    dialogue_id: str
    index: int
    context: list[Turn]
    future: list[Turn]
    info_set: list[str]
    decision: Decision
    items: list[InfoItem] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSONL line written by ``learn2ask prepare``."""
        return {
            "id": self.id,
            "dialogue_id": self.dialogue_id,
            "index": self.index,
            "context": [t.to_dict() for t in self.context],
            "future": [t.to_dict() for t in self.future],
            "info_set": list(self.info_set),
            "decision": self.decision,
            "items": [i.to_dict() for i in self.items],
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(
        cls, obj: dict[str, Any], turns: dict[tuple[str, str], Turn] | None = None
    ) -> Sample:
        """Inverse of :meth:`to_dict`. ``turns``: equal turns seen before, shared rather than
        built again (every sample of a dialogue repeats its turns: a file of n points of one
        visit holds about n^2 turns, most of a training file's load time and memory)."""
        if turns is None:
            turns = {}
        return cls(
            id=str(obj["id"]),
            dialogue_id=str(obj["dialogue_id"]),
            index=int(obj.get("index", 0)),
            context=[_shared_turn(t, turns) for t in obj["context"]],
            future=[_shared_turn(t, turns) for t in obj["future"]],
            info_set=list(obj["info_set"]),
            decision=obj["decision"],
            items=[InfoItem.from_dict(i) for i in obj.get("items", [])],
            meta=dict(obj.get("meta", {})),
        )

    def expert_next_turn(self) -> str:
        """The expert's real next message(s): the leading expert turns of ``future``, joined."""
        parts = []
        for turn in self.future:
            if turn.role != "expert":
                break
            parts.append(turn.content)
        return "\n".join(parts)
