"""Per-turn reward: format score P, decision reward R_s and their fusion with R_a.

Hierarchical fusion (the paper's default, beta = 2 in the authors' code)::

    R = R_s * (1 + beta * R_a) + P

Variants: ``sum`` = R_s + R_a + P, ``ra_only`` = beta * R_a + P, ``rs_only`` = (1 + beta) * R_s + P.
Gating as in the authors' code: a wrong decision gets R_a = 0 and P = 0; a right STOP gets
R_a = 1, and P = 1 only for a clean ``<stop />``. A reply that neither asks a question nor
stops makes no decision, so it gets R_s = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from learn2ask.data.types import Decision
from learn2ask.models.policy import ParsedResponse
from learn2ask.plugins import FUSIONS

# A name in ``learn2ask.plugins.FUSIONS`` or a plug-in's ``package.module:function``.
FusionMode = str
# The built-in modes (CLIs list these).
FUSION_MODES: tuple[str, ...] = FUSIONS.names()


@dataclass(frozen=True)
class FusionConfig:
    """Which fusion to use and its weight on R_a."""

    mode: FusionMode = "hierarchical"
    beta: float = 2.0

    def __post_init__(self) -> None:
        FUSIONS.check(self.mode)


@dataclass(frozen=True)
class RewardComponents:
    """One graded reply. ``reward`` is None exactly when grading failed (``error`` says why)."""

    r_a: float | None
    r_s: float
    p: float
    reward: float | None
    error: str | None = None


def format_score(parsed: ParsedResponse) -> float:
    """P: 1.0 for exactly one question, 0.5 for two, 0 for none or three and more.

    A STOP reply scores 1.0 only when it is the clean stop tag alone.
    """
    if parsed.assessment == "stop":
        return 1.0 if parsed.clean_stop else 0.0
    return {1: 1.0, 2: 0.5}.get(parsed.n_questions, 0.0)


def made_decision(parsed: ParsedResponse) -> Decision | None:
    """The decision a reply actually makes: STOP (stop tag), CONTINUE (it asks at least one
    question), or None for text that does neither. Such text is not read as "continue": that
    guess would pay a policy for rambling instead of asking (GRPO finds it quickly)."""
    if parsed.assessment == "stop":
        return "stop"
    return "continue" if parsed.n_questions >= 1 else None


def decision_score(parsed: ParsedResponse, target: Decision) -> float:
    """R_s: 1 when the decision the reply makes equals s*, else 0."""
    return 1.0 if made_decision(parsed) == target else 0.0


def fuse(r_a: float, r_s: float, p: float, config: FusionConfig) -> float:
    """Combine the three components into the scalar reward with the configured fusion."""
    return float(FUSIONS.get(config.mode)(r_a, r_s, p, config.beta))


@FUSIONS.register("hierarchical")
def fuse_hierarchical(r_a: float, r_s: float, p: float, beta: float) -> float:
    """R = R_s * (1 + beta * R_a) + P (the paper's default)."""
    return r_s * (1.0 + beta * r_a) + p


@FUSIONS.register("sum")
def fuse_sum(r_a: float, r_s: float, p: float, beta: float) -> float:
    """R = R_s + R_a + P (``beta`` unused)."""
    return r_s + r_a + p


@FUSIONS.register("ra_only")
def fuse_ra_only(r_a: float, r_s: float, p: float, beta: float) -> float:
    """R = beta * R_a + P."""
    return beta * r_a + p


@FUSIONS.register("rs_only")
def fuse_rs_only(r_a: float, r_s: float, p: float, beta: float) -> float:
    """R = (1 + beta) * R_s + P."""
    return (1.0 + beta) * r_s + p


def needs_content_grade(parsed: ParsedResponse, target: Decision) -> bool:
    """Only a right CONTINUE decision is graded for content; everything else is gated."""
    return target == "continue" and made_decision(parsed) == "continue"


def score_components(
    parsed: ParsedResponse,
    target: Decision,
    r_a: float | None,
    config: FusionConfig,
    error: str | None = None,
) -> RewardComponents:
    """Gate and fuse. ``r_a`` is the content grade for a right CONTINUE (ignored otherwise)."""
    r_s = decision_score(parsed, target)
    if r_s == 0.0:
        return RewardComponents(r_a=0.0, r_s=0.0, p=0.0, reward=fuse(0.0, 0.0, 0.0, config))
    p = format_score(parsed)
    if target == "stop":
        return RewardComponents(r_a=1.0, r_s=1.0, p=p, reward=fuse(1.0, 1.0, p, config))
    if r_a is None:
        return RewardComponents(
            r_a=None, r_s=1.0, p=p, reward=None, error=error or "content grade missing"
        )
    return RewardComponents(r_a=r_a, r_s=1.0, p=p, reward=fuse(r_a, 1.0, p, config))
