"""The content-grader interface shared by the embedding and LLM graders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from learn2ask.data.types import Sample


@dataclass(frozen=True)
class GradeResult:
    """R_a for one question: a score in [0, 1], or ``None`` with the reason grading failed."""

    score: float | None
    error: str | None = None


class ContentGrader(Protocol):
    """Scores how well each question targets an item of its sample's I*."""

    version: str

    def __call__(self, questions: list[str], samples: list[Sample]) -> list[GradeResult]:
        """One result per (question, sample) pair, in order."""
        ...
