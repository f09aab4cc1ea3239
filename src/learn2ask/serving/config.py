"""Typed settings of the deployed assistant.

Two sources: the domain file's ``serving:`` section (:class:`ServingSettings`: disclaimer,
question budget, hand-over and urgent-care texts, the versioned red-flag rule set) and the
command line (:class:`ServerConfig`: bind address, store URL, API keys, limits, retention).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from learn2ask.errors import ConfigError

API_KEY_ENV = "LEARN2ASK_API_KEY"


class RedFlagRule(BaseModel):
    """One urgent pattern: every group in ``all_of`` must match, un-negated, in one message.

    Each group is a list of synonymous phrases (any one matches). A one-group rule is a plain
    synonym list; ``chest pain`` + ``breathlessness`` is a two-group rule.
    """

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    all_of: list[list[str]] = Field(min_length=1)

    @field_validator("all_of")
    @classmethod
    def _groups_not_empty(cls, groups: list[list[str]]) -> list[list[str]]:
        if any(not group or any(not p.strip() for p in group) for group in groups):
            raise ValueError("every group needs at least one non-empty phrase")
        return groups


class RedFlagSet(BaseModel):
    """A versioned rule set; ``negations`` are cues that cancel a phrase after them."""

    model_config = ConfigDict(extra="forbid")
    version: str = Field(min_length=1)
    negations: list[str] = Field(default_factory=list)
    negation_window: int = Field(default=5, ge=0, le=20)
    rules: list[RedFlagRule] = Field(default_factory=list)


# English; a domain in another language lists its own (or [] to leave them to the policy).
FINISH_PHRASES = (
    "that's all",
    "that is all",
    "that's it",
    "that is it",
    "that's everything",
    "that is everything",
    "that's all i have",
    "that's all i wanted to say",
    "nothing else",
    "nothing more",
    "nothing else to add",
    "nothing more to add",
    "i have nothing else",
    "i have nothing more",
    "i have nothing else to add",
    "i have nothing more to add",
    "i'm done",
    "i am done",
    "no more",
)


class ServingSettings(BaseModel):
    """The ``serving:`` section of a domain file."""

    model_config = ConfigDict(extra="forbid")
    disclaimer: str = ""
    greeting: str = "Hello. What brings you here today?"
    question_budget: int = Field(default=8, ge=1, le=100)
    # Questions the assistant asks before the policy's STOP may end the intake (0: the policy
    # alone decides). A policy trained on short snippets can rate a bare opening complaint as
    # finished; experts almost always ask first.
    min_questions: int = Field(default=0, ge=0, le=100)
    # The question memory's anchor weight in live conversations (None: the run's own): how
    # much what the user came with weighs in finding similar logged contexts
    # (models/question_memory.py). A run whose memory predates anchors is served without.
    anchor_weight: float | None = Field(default=None, ge=0.0)
    # How much the policy's likelihood of a question weighs against the memory's vote among its
    # best-voted (None: the run's own; a local policy only; models/question_memory.py).
    likelihood_weight: float | None = Field(default=None, ge=0.0)
    handover_message: str = "Thank you. An expert will now read this summary and take over."
    operator_message: str = "An expert has joined the conversation."
    urgent_message: str = "This may be urgent. Please seek urgent help now."
    red_flags: RedFlagSet = Field(default_factory=lambda: RedFlagSet(version="none"))
    # A message made only of these (and fillers such as "no", "thanks") hands over as the
    # user's own "That's all" does (serving/closing.py); [] leaves every message to the policy.
    finish_phrases: list[str] = Field(default_factory=lambda: list(FINISH_PHRASES))

    @model_validator(mode="after")
    def _min_within_budget(self) -> ServingSettings:
        if self.min_questions > self.question_budget:
            raise ValueError(
                f"min_questions ({self.min_questions}) exceeds question_budget "
                f"({self.question_budget})"
            )
        return self


def serving_settings(raw: dict, source: str) -> ServingSettings:
    """Validate a domain's raw ``serving`` mapping; problems name their key path."""
    try:
        return ServingSettings.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(
            ".".join(["serving", *(str(p) for p in err["loc"])]) + f": {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"{source}: {problems}") from None


@dataclass(frozen=True)
class Limits:
    """Request limits; every one answers 4xx with the limit named."""

    max_body_bytes: int = 16_384
    max_message_chars: int = 2_000
    max_user_turns: int = 40
    rate_per_minute: int = 120


@dataclass(frozen=True)
class ServerConfig:
    """How ``learn2ask serve`` runs (built from the command line, passed in)."""

    host: str = "127.0.0.1"
    port: int = 8080
    db: str = "sessions.sqlite"
    domain: str = "medical"
    api_keys: frozenset[str] = field(default_factory=frozenset)
    limits: Limits = field(default_factory=Limits)
    retention_days: float = 30.0
    purge_interval_s: float = 3600.0
    llm_summary: bool = False
    batch_wait_s: float = 0.005

    def __post_init__(self) -> None:
        if not is_loopback(self.host) and not self.api_keys:
            raise ConfigError(
                f"binding to {self.host} (beyond loopback) needs an API key: set {API_KEY_ENV} "
                "or pass --api-key-file FILE"
            )
        if self.retention_days <= 0:
            raise ConfigError(f"--retention-days must be > 0, got {self.retention_days:g}")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_api_keys(key_file: Path | None) -> frozenset[str]:
    """API keys from ``LEARN2ASK_API_KEY`` (comma-separated) and/or a file (one per line)."""
    keys = {k.strip() for k in os.environ.get(API_KEY_ENV, "").split(",") if k.strip()}
    if key_file is not None:
        try:
            text = key_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{key_file}: cannot read API key file ({exc.strerror})") from None
        keys |= {line.strip() for line in text.splitlines() if line.strip()}
        if not keys:
            raise ConfigError(f"{key_file}: API key file holds no key")
    return frozenset(keys)
