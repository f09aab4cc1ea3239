"""Samples and a shared embedding grader for the reward tests."""

from __future__ import annotations

import pytest

from learn2ask.data.types import InfoItem, Sample, Turn


def make_sample(
    sample_id: str,
    questions: list[str],
    complaint: str = "I have a headache.",
    decision: str | None = None,
) -> Sample:
    """A sample whose I* holds ``questions``."""
    items = [InfoItem(text=q, question=q, answer="yes") for q in questions]
    return Sample(
        id=sample_id,
        dialogue_id=sample_id.rsplit("_", 1)[0],
        index=0,
        context=[Turn("user", complaint)],
        future=[Turn("expert", q) for q in questions],
        info_set=[i.text for i in items],
        decision=decision or ("continue" if items else "stop"),
        items=items,
    )


@pytest.fixture(scope="session")
def embedding_grader():
    from learn2ask.rewards.graders.embedding import EmbeddingGrader

    return EmbeddingGrader()


@pytest.fixture()
def headache_sample() -> Sample:
    return make_sample(
        "h_0",
        [
            "When did the headache start?",
            "Do you have any nausea?",
            "Is the pain on one side of your head?",
        ],
    )
