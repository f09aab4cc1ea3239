"""The fused Learn-to-Ask reward as a TRL reward function (``GRPOTrainer(reward_funcs=[...])``).

TRL calls reward functions with ``prompts``, ``completions`` and every dataset column as a
keyword list; the GRPO dataset carries a ``sample_id`` column that finds each completion's
sample. Components are logged through TRL's ``log_metric`` hook (``r_a``, ``r_s``, ``p``,
``grading_failures``) and kept in ``last_components``.

A grading failure has no honest R_a, so its reward is ``None``. TRL 1.16 turns ``None`` into NaN,
and a completion that every reward function scored NaN is "unscorable": it is left out of its
group's baseline and its advantage is forced to 0, i.e. it teaches nothing (rather than a made-up
R_a = 0 that would push the policy away from a possibly good question). Failures are counted in
the ``grading_failures`` metric so the training log shows them. ``on_failure="zero"`` restores
the R_a = 0 reading for callers that need plain floats.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from learn2ask.data.types import Sample
from learn2ask.rewards.fusion import RewardComponents, fuse
from learn2ask.rewards.scorer import RewardScorer


def completion_text(completion: str | Sequence[dict[str, str]]) -> str:
    """The text of a TRL completion: a plain string or a conversational message list."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content", "") for m in completion if m.get("role") == "assistant")


class LearnToAskReward:
    """TRL reward callable: ``(prompts, completions, sample_id, **kwargs) -> rewards``."""

    def __init__(
        self,
        scorer: RewardScorer,
        samples: Sequence[Sample],
        on_failure: Literal["exclude", "zero"] = "exclude",
    ) -> None:
        if on_failure not in ("exclude", "zero"):
            raise ValueError(f"on_failure must be 'exclude' or 'zero', not {on_failure!r}")
        self.scorer = scorer
        self.samples = {s.id: s for s in samples}
        self.on_failure = on_failure
        self.__name__ = f"learn2ask_{scorer.fusion.mode}"
        self.last_components: list[RewardComponents] = []

    def __call__(
        self,
        prompts: list[Any],
        completions: list[Any],
        sample_id: list[str],
        log_metric: Callable[[str, float], None] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        """Fused reward per completion (``None`` for a grading failure, see the module doc)."""
        unknown = sorted({str(i) for i in sample_id} - self.samples.keys())
        if unknown:
            raise KeyError(f"sample_id not among the reward's samples: {unknown[:3]}")
        samples = [self.samples[str(i)] for i in sample_id]
        texts = [completion_text(c) for c in completions]
        components = self.scorer.score(samples, texts)
        self.last_components = components
        rewards = [self._reward(c) for c in components]
        if log_metric is not None:
            for name, value in summarize_components(components).items():
                log_metric(name, value)
        return rewards

    def _reward(self, components: RewardComponents) -> float | None:
        if components.reward is not None or self.on_failure == "exclude":
            return components.reward
        return fuse(0.0, components.r_s, components.p, self.scorer.fusion)

    @property
    def last_metrics(self) -> dict[str, float]:
        """R_a, R_s, P means and the failure count of the last batch (for per-step logs)."""
        return summarize_components(self.last_components)


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
