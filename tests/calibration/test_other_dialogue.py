"""Negative pairs for threshold fitting come from other dialogues, and always terminate."""

from __future__ import annotations

import random
import threading

from learn2ask.calibration.embedding import other_dialogue_questions
from learn2ask.data.types import InfoItem, Sample, Turn


def sample(dialogue: str, index: int, question: str | None) -> Sample:
    items = [InfoItem(text=question, question=question)] if question else []
    return Sample(
        id=f"{dialogue}_{index}",
        dialogue_id=dialogue,
        index=index,
        context=[Turn(role="user", content="It broke.")],
        future=[],
        info_set=[i.text for i in items],
        decision="continue" if items else "stop",
        items=items,
    )


def run_with_timeout(samples: list[Sample], seconds: float = 5.0) -> list | None:
    """The pairs, or None when the call did not return in time (the old endless loop)."""
    result: list = []
    worker = threading.Thread(
        target=lambda: result.append(other_dialogue_questions(samples, random.Random(0))),
        daemon=True,
    )
    worker.start()
    worker.join(seconds)
    return result[0] if result else None


def test_one_dialogue_returns_no_pairs_instead_of_looping():
    samples = [sample("d1", 0, "Which version?"), sample("d1", 1, "When did it start?")]
    assert run_with_timeout(samples) == []


def test_pairs_only_take_questions_from_other_dialogues():
    samples = [
        sample("d1", 0, "Which version?"),
        sample("d1", 1, "When did it start?"),
        sample("d2", 0, "Which printer?"),
        sample("d2", 1, None),
    ]
    pairs = run_with_timeout(samples)
    assert pairs is not None and len(pairs) == 3
    for question, paired in pairs:
        owner = next(s.dialogue_id for s in samples if s.items and s.items[0].text == question)
        assert owner != paired.dialogue_id
