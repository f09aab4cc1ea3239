"""Content graders R_a: a plain callable ``grader(questions, samples) -> list[GradeResult]``."""

from learn2ask.rewards.graders.base import ContentGrader, GradeResult

__all__ = ["ContentGrader", "GradeResult"]
