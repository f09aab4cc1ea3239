"""Request and response bodies of the sessions API (what the OpenAPI page documents)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from learn2ask.serving.service import NextAction
from learn2ask.serving.store import BlockedQuestion, SessionRecord


class CreateSession(BaseModel):
    """``POST /v1/sessions``: the domain (default: the server's) and an optional first message."""

    model_config = ConfigDict(extra="forbid")
    domain: str | None = None
    content: str | None = Field(default=None, min_length=1)


class UserMessage(BaseModel):
    """``POST /v1/sessions/{id}/messages`` and the operator's answer."""

    model_config = ConfigDict(extra="forbid")
    content: str = Field(min_length=1)


class NextActionOut(BaseModel):
    """The assistant's next action."""

    action: Literal["ask", "stop", "escalate", "operator"]
    session_id: str
    state: str
    question: str | None = None
    summary: str | None = None
    reason: str | None = None
    message: str | None = None
    p_stop: float | None = None
    latency_s: float


class MessageOut(BaseModel):
    """One transcript entry."""

    seq: int
    role: str
    author: str
    content: str
    created_at: float
    relevant: bool | None = None  # an operator's rating of the assistant's question


class DecisionOut(BaseModel):
    """One decision with its P(stop) and latency."""

    seq: int
    action: str
    source: str
    p_stop: float | None
    latency_s: float
    detail: dict[str, Any]
    created_at: float


class SessionOut(BaseModel):
    """``GET /v1/sessions/{id}``: state, transcript and every decision."""

    id: str
    domain: str
    state: str
    created_at: float
    updated_at: float
    questions: int
    user_turns: int
    summary: str | None
    reason: str | None
    llm_summary: str | None = None
    transcript: list[MessageOut] = Field(default_factory=list)
    decisions: list[DecisionOut] = Field(default_factory=list)


class CreatedSession(BaseModel):
    """``POST /v1/sessions``: the id, the disclaimer (shown once) and the first reply."""

    id: str
    state: str
    disclaimer: str
    greeting: str
    next: NextActionOut | None = None


class SessionRow(BaseModel):
    """One row of the operator's list."""

    id: str
    state: str
    updated_at: float
    questions: int
    user_turns: int
    reason: str | None


class RateQuestion(BaseModel):
    """``PUT /v1/operator/sessions/{id}/ratings/{seq}``: is the assistant's question on the
    point (true), not (false), or not rated after all (null)."""

    model_config = ConfigDict(extra="forbid")
    relevant: bool | None


class BlockQuestion(BaseModel):
    """``POST /v1/operator/blocked-questions``: a question never to ask again, as it was
    asked (case and spacing aside), and why (for the other operators)."""

    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1)
    reason: str = ""


class BlockedQuestionOut(BaseModel):
    """One entry of the block list. ``applies``: whether this server's policy asks from a
    question memory, which is what the list filters (a policy that generates every question
    is not filtered)."""

    id: str
    question: str
    reason: str
    blocked_at: float
    applies: bool


def blocked_question_out(blocked: BlockedQuestion, applies: bool) -> BlockedQuestionOut:
    """The wire form of a block-list entry."""
    return BlockedQuestionOut(**blocked.__dict__, applies=applies)


def next_action_out(action: NextAction) -> NextActionOut:
    """The wire form of a :class:`NextAction`."""
    return NextActionOut(**action.__dict__)


def session_out(record: SessionRecord) -> SessionOut:
    """The wire form of a whole session."""
    return SessionOut(
        id=record.id,
        domain=record.domain,
        state=record.state,
        created_at=record.created_at,
        updated_at=record.updated_at,
        questions=record.questions,
        user_turns=record.user_turns,
        summary=record.summary,
        reason=record.reason,
        llm_summary=record.meta.get("llm_summary"),
        transcript=[MessageOut(**m.__dict__) for m in record.messages],
        decisions=[DecisionOut(**d.__dict__) for d in record.decisions],
    )


def session_row(record: SessionRecord) -> SessionRow:
    """The operator list's form of a session."""
    return SessionRow(
        id=record.id,
        state=record.state,
        updated_at=record.updated_at,
        questions=record.questions,
        user_turns=record.user_turns,
        reason=record.reason,
    )
