"""``RewardScorer``: raw policy replies -> parsed -> graded -> fused reward components."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from learn2ask.data.replies import STOP_TAG
from learn2ask.data.types import Sample
from learn2ask.domain import Domain
from learn2ask.endpoint import EndpointOptions
from learn2ask.models.policy import ParsedResponse, parse_policy_response
from learn2ask.plugins import GRADERS
from learn2ask.rewards.fusion import (
    FusionConfig,
    RewardComponents,
    needs_content_grade,
    score_components,
)
from learn2ask.rewards.graders.base import ContentGrader

if TYPE_CHECKING:
    from learn2ask.models.client import ClientConfig


@dataclass
class RewardScorer:
    """Score replies against their samples with one content grader and one fusion.

    Graders run only on right CONTINUE decisions (everything else is gated by the fusion). A
    grading failure yields ``reward=None`` with the reason in ``error``: callers exclude it from
    means and count it; it never becomes a 0.
    """

    grader: ContentGrader
    fusion: FusionConfig = field(default_factory=FusionConfig)
    stop_tag: str = STOP_TAG

    def parse(self, responses: list[str]) -> list[ParsedResponse]:
        """Parse raw replies with the strict policy parser (the domain's stop tag)."""
        return [parse_policy_response(r, self.stop_tag) for r in responses]

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


@dataclass(frozen=True)
class GraderConfig(EndpointOptions):
    """Which content grader and fusion score replies; one config for every stage.

    ``kind`` is a name in ``learn2ask.plugins.GRADERS`` (``embedding``, ``llm``) or a plug-in's
    dotted path ``package.module:factory``; the factory is called with this config. ``file``:
    the embedding grader's thresholds. The endpoint fields (``base_url``, ``model``, ...): the
    LLM judge's. ``domain`` gives the LLM judge its rubric and the parser its stop tag.
    """

    kind: str = "embedding"
    file: Path | None = None
    cache_path: Path | None = None
    fusion: str = "hierarchical"
    beta: float = 2.0
    domain: Domain | None = None

    def judge_client(self) -> ClientConfig:
        """The judge's endpoint; a ``ConfigError`` when it is not fully given."""
        return self.client(
            f"grader '{self.kind}' needs an endpoint: --base-url and --model (grade), "
            "--grader-base-url and --grader-model (evaluate), or grpo.grader_base_url and "
            "grpo.grader_model (train)"
        )


def build_grader(config: GraderConfig | str = "embedding", **legacy: Any) -> ContentGrader:
    """The content grader ``config.kind`` names (registered, or a plug-in by dotted path).

    The older form ``build_grader("llm", client=..., cache_path=...)`` (or ``grader_file=``)
    still works for callers not yet moved to :class:`GraderConfig`.
    """
    if isinstance(config, str):
        config = legacy_grader_config(config, **legacy)
    return GRADERS.get(config.kind)(config)


def legacy_grader_config(
    kind: str,
    grader_file: str | Path | None = None,
    client: ClientConfig | None = None,
    cache_path: Path | None = None,
) -> GraderConfig:
    """A :class:`GraderConfig` from the keyword options of the older ``build_grader``."""
    endpoint = {}
    if client is not None:
        endpoint = {
            "base_url": client.base_url,
            "model": client.model,
            "timeout_s": client.timeout_s,
            "max_attempts": client.max_attempts,
            "max_concurrency": client.max_concurrency,
        }
    file = Path(grader_file) if grader_file else None
    return GraderConfig(kind=kind, file=file, cache_path=cache_path, **endpoint)


def build_scorer(config: GraderConfig) -> RewardScorer:
    """The one way every stage (grade, train, evaluate) builds its reward scorer."""
    stop_tag = config.domain.stop_tag if config.domain else STOP_TAG
    fusion = FusionConfig(mode=config.fusion, beta=config.beta)
    return RewardScorer(build_grader(config), fusion, stop_tag)


@GRADERS.register("embedding")
def embedding_grader(config: GraderConfig) -> ContentGrader:
    """The offline embedding grader with the thresholds of ``config.file`` (bundled default)."""
    from learn2ask.rewards.graders.embedding import EmbeddingGrader, EmbeddingGraderConfig

    return EmbeddingGrader(EmbeddingGraderConfig.load(config.file))


@GRADERS.register("llm")
def llm_grader(config: GraderConfig) -> ContentGrader:
    """The LLM judge with the domain's rubric (the default rubric without a domain)."""
    from learn2ask.rewards.graders.llm import GraderPrompt, LLMGrader, LLMGraderConfig

    if config.file:  # a calibrated prompt (``calibrate --grader llm``) wins over the rubric
        from learn2ask.calibration.autoprompt import prompt_from_grader_file

        prompt = prompt_from_grader_file(config.file)
    elif config.domain:
        prompt = GraderPrompt(rubric=config.domain.grader.rubric)
    else:
        prompt = GraderPrompt()
    return LLMGrader(
        LLMGraderConfig(client=config.judge_client(), cache_path=config.cache_path, prompt=prompt)
    )
