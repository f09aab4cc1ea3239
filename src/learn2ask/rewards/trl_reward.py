"""The fused Learn-to-Ask reward as a TRL reward function (``GRPOTrainer(reward_funcs=[...])``).

TRL calls reward functions with ``prompts``, ``completions`` and every dataset column as a
keyword list; the GRPO dataset carries a ``sample_id`` column that finds each completion's
sample. Components are logged through TRL's ``log_metric`` hook (``r_a``, ``r_s``, ``p``,
``grading_failures``) and kept in ``last_components``.

A grading failure has no honest R_a. For the policy gradient it counts as R_a = 0 (TRL would
turn ``None`` into 0 silently anyway), and it is counted in the ``grading_failures`` metric so
the training log shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from learn2ask.data.types import Sample
from learn2ask.rewards.fusion import RewardComponents, fuse
from learn2ask.rewards.scorer import RewardScorer


def completion_text(completion: str | Sequence[dict[str, str]]) -> str:
    """The text of a TRL completion: a plain string or a conversational message list."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content", "") for m in completion if m.get("role") == "assistant")


class LearnToAskReward:
    """Callable TRL reward: ``(prompts, completions, sample_id, **kwargs) -> list[float]``."""

    def __init__(self, scorer: RewardScorer, samples: Sequence[Sample]) -> None:
        self.scorer = scorer
        self.samples = {s.id: s for s in samples}
        self.__name__ = f"learn2ask_{scorer.fusion.mode}"
        self.last_components: list[RewardComponents] = []

    def __call__(
        self,
        prompts: list[Any],
        completions: list[Any],
        sample_id: list[str],
        log_metric: Callable[[str, float], None] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        """Fused reward per completion."""
        samples = [self.samples[i] for i in sample_id]
        texts = [completion_text(c) for c in completions]
        components = self.scorer.score(samples, texts)
        self.last_components = components
        rewards = [
            c.reward if c.reward is not None else fuse(0.0, c.r_s, c.p, self.scorer.fusion)
            for c in components
        ]
        if log_metric is not None:
            for name, value in summarize_components(components).items():
                log_metric(name, value)
        return rewards


def summarize_components(components: Sequence[RewardComponents]) -> dict[str, float]:
    """Batch means of R_a, R_s, P (over graded replies) and the count of grading failures."""
    graded = [c for c in components if c.reward is not None]
    n = max(len(graded), 1)
    return {
        "r_a": sum(c.r_a or 0.0 for c in graded) / n,
        "r_s": sum(c.r_s for c in graded) / n,
        "p": sum(c.p for c in graded) / n,
        "grading_failures": float(len(components) - len(graded)),
    }
