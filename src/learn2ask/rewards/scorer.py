"""``RewardScorer``: raw policy replies -> parsed -> graded -> fused reward components."""

from __future__ import annotations

from dataclasses import dataclass, field

from learn2ask.data.types import Sample
from learn2ask.models.policy import ParsedResponse, parse_policy_response
from learn2ask.rewards.fusion import (
    FusionConfig,
    RewardComponents,
    needs_content_grade,
    score_components,
)
from learn2ask.rewards.graders.base import ContentGrader


@dataclass
class RewardScorer:
    """Score replies against their samples with one content grader and one fusion.

    Graders run only on right CONTINUE decisions (everything else is gated by the fusion). A
    grading failure yields ``reward=None`` with the reason in ``error``: callers exclude it from
    means and count it; it never becomes a 0.
    """

    grader: ContentGrader
    fusion: FusionConfig = field(default_factory=FusionConfig)

    def parse(self, responses: list[str]) -> list[ParsedResponse]:
        """Parse raw replies with the strict policy parser."""
        return [parse_policy_response(r) for r in responses]

    def score(self, samples: list[Sample], responses: list[str]) -> list[RewardComponents]:
        """One :class:`RewardComponents` per (sample, reply) pair."""
        parsed = self.parse(responses)
        to_grade = [
            i
            for i, (p, s) in enumerate(zip(parsed, samples, strict=True))
            if needs_content_grade(p, s.decision)
        ]
        grades = self.grader(
            [parsed[i].question or "" for i in to_grade], [samples[i] for i in to_grade]
        )
        grade_of = dict(zip(to_grade, grades, strict=True))
        results = []
        for i, (p, sample) in enumerate(zip(parsed, samples, strict=True)):
            grade = grade_of.get(i)
            results.append(
                score_components(
                    p,
                    sample.decision,
                    grade.score if grade else None,
                    self.fusion,
                    grade.error if grade else None,
                )
            )
        return results


def build_grader(kind: str, **options: object) -> ContentGrader:
    """A grader by name: ``embedding`` (offline default) or ``llm`` (needs ``client``)."""
    if kind == "embedding":
        from learn2ask.rewards.graders.embedding import EmbeddingGrader, EmbeddingGraderConfig

        return EmbeddingGrader(EmbeddingGraderConfig.load(options.get("grader_file")))  # type: ignore[arg-type]
    if kind == "llm":
        from learn2ask.rewards.graders.llm import LLMGrader, LLMGraderConfig

        return LLMGrader(LLMGraderConfig(**options))  # type: ignore[arg-type]
    raise ValueError(f"unknown grader '{kind}' (embedding or llm)")
