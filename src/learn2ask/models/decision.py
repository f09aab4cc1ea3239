"""Decision-first policy: decide STOP vs ASK from the policy's own P(stop), then ask.

WORK IN PROGRESS (lead, issue #10): the interface below is stable, the implementation is being
filled in. Consumers (evaluation, serving) call :meth:`DecidingPolicy.decide`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from learn2ask.data.types import Turn
from learn2ask.models.policy import PolicyPromptConfig

Action = Literal["ask", "stop"]


@dataclass(frozen=True)
class PolicyAction:
    """What the policy does at one decision point.

    ``p_stop`` is the policy's probability of stopping (None when the backend cannot give it),
    ``question`` the question when ``action == "ask"``, ``raw`` the generated text.
    """

    action: Action
    question: str | None
    p_stop: float | None
    raw: str


class DecidingPolicy(Protocol):
    """A policy that returns one action per conversation history."""

    name: str
    prompt_config: PolicyPromptConfig

    def decide(self, contexts: Sequence[list[Turn]]) -> list[PolicyAction]:
        """One action per context (each a full history, user and expert turns), in order."""
        ...


def action_from_reply(raw: str, stop_tag: str, p_stop: float | None = None) -> PolicyAction:
    """Read an action from a raw reply (the fallback rule when no P(stop) is available)."""
    from learn2ask.models.policy import parse_policy_response

    parsed = parse_policy_response(raw, stop_tag)
    if parsed.assessment == "stop":
        return PolicyAction("stop", None, p_stop, raw)
    return PolicyAction("ask", parsed.question, p_stop, raw)


@dataclass
class ReplyParsingPolicy:
    """Decide by parsing a generated reply (greedy by default). Any backend works."""

    backend: object  # a learn2ask.models.backends.PolicyBackend
    max_new_tokens: int = 40

    @property
    def name(self) -> str:  # noqa: D102 - Protocol attribute
        return self.backend.name  # type: ignore[attr-defined]

    @property
    def prompt_config(self) -> PolicyPromptConfig:  # noqa: D102 - Protocol attribute
        return self.backend.prompt_config  # type: ignore[attr-defined]

    def decide(self, contexts: Sequence[list[Turn]]) -> list[PolicyAction]:
        """Generate one reply per context and parse it."""
        from learn2ask.models.generation import GenerationConfig
        from learn2ask.models.policy import build_policy_messages

        messages = [build_policy_messages(c, self.prompt_config) for c in contexts]
        replies = self.backend.generate_n(  # type: ignore[attr-defined]
            messages, 1, GenerationConfig(max_new_tokens=self.max_new_tokens)
        )
        return [action_from_reply(r[0], self.prompt_config.stop_tag) for r in replies]


def load_deciding_policy(model: str, base_url: str | None = None) -> DecidingPolicy:
    """The policy a consumer should use: a local run/bundled name, or a model at an endpoint."""
    from learn2ask.evaluation.pipeline import build_policy

    return ReplyParsingPolicy(build_policy(model, base_url))
