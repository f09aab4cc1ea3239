"""The ``llm`` grader: the paper's rubric through any OpenAI-compatible endpoint.

Rubric: 1 = the question directly asks about an item of I*; 0.5 = highly relevant to an item;
0 = irrelevant (a generic question that would fit any case is not "relevant"). Temperature 0,
the JSON reply is validated (score must be 0, 0.5 or 1), concurrency is bounded by the client,
transport retries are capped by the client, and an unparseable reply is re-asked at most
``parse_retries`` times. A reply that still fails is a grading failure with its reason, counted,
never a silent 0. Grades are cached in SQLite keyed by grader version, model, context, I* and
the question, so reruns and resumed jobs cost no model call.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from learn2ask.data.types import Sample
from learn2ask.models.client import (
    ChatClient,
    ClientConfig,
    InvalidReplyError,
    LLMError,
    chat_validated,
    json_schema_format,
)
from learn2ask.rewards.graders.base import GradeResult
from learn2ask.targets.llm import render_turns

GRADER_VERSION = "llm-rubric-v1"


class GradeReply(BaseModel):
    """The JSON object the grading model must return."""

    score: Literal[0, 0.5, 1]
    reason: str = Field(default="", max_length=200)


# What the grader *asks for* (``response_format``) is tighter than what it accepts
# (``GradeReply``): a reason of at most REASON_CHARS printable ASCII characters other than `"`
# and `\`. Each such character is at most one token and needs no escape, so a constrained
# reply closes within HEADER_TOKENS + REASON_CHARS tokens whatever the judge writes; with the
# reason's limit alone, a judge repeating odd characters ran past max_tokens (11 of 200
# bundled-judge replies cut off, benchmarks/bench_models.py).
REASON_CHARS = 80
REASON_PATTERN = r"^[ !#-\[\]-~]*$"
HEADER_TOKENS = 24  # '{"score": 0.5, "reason": "' and the closing '"}', generously


def grade_reply_schema() -> dict[str, Any]:
    """The JSON schema sent as ``response_format``: ``GradeReply`` with a token-bounded reason."""
    schema = GradeReply.model_json_schema()
    # Without this a JSON schema allows any extra key, and the bundled judge added unbounded
    # ones ("user_answer": ...) that ran past max_tokens: 8 of 200 replies in the benchmark.
    schema["additionalProperties"] = False
    reason = schema["properties"]["reason"]
    reason["maxLength"] = REASON_CHARS
    reason["pattern"] = REASON_PATTERN
    return schema


def min_grading_tokens() -> int:
    """``max_tokens`` that always fits a reply to :func:`grade_reply_schema`."""
    return HEADER_TOKENS + REASON_CHARS


DEFAULT_RUBRIC = (
    "You grade one question an expert assistant asked. You are given the conversation so far "
    "and the list of information the real expert still went on to ask for. Score:\n"
    "1 = the question directly asks about one item of the list;\n"
    "0.5 = the question is highly relevant to an item of the list but not directly about it;\n"
    "0 = the question is irrelevant to the list. A generic question that would fit any case "
    '("anything else?", "how are you?") is not relevant.'
)
REPLY_FORMAT = 'Reply with JSON only: {"score": 0 | 0.5 | 1, "reason": "<one sentence>"}'


@dataclass(frozen=True)
class FewShotExample:
    """One worked example shown to the judge: I* items, a question and its human score."""

    items: tuple[str, ...]
    question: str
    score: float

    def render(self) -> str:
        """The example as prompt text."""
        listed = "; ".join(self.items)
        score = int(self.score) if self.score in (0, 1) else self.score
        return f"Information still to be asked for: {listed}\nQuestion: {self.question}\n" + (
            f'Reply: {{"score": {score}}}'
        )


@dataclass(frozen=True)
class GraderPrompt:
    """The judge's instructions: a rubric, optional few-shot examples and their position.

    ``name`` versions the prompt (it becomes the grader version ``llm:<name>``); calibrated
    prompts come from a grader file written by ``learn2ask calibrate --grader llm``.
    """

    rubric: str = DEFAULT_RUBRIC
    examples: tuple[FewShotExample, ...] = ()
    examples_first: bool = False
    name: str = GRADER_VERSION

    def system_text(self) -> str:
        """The system message: rubric and examples in the chosen order, then the reply format."""
        parts = [self.rubric]
        if self.examples:
            shots = "\n\n".join(e.render() for e in self.examples)
            block = f"Examples of graded questions:\n{shots}"
            parts = [block, self.rubric] if self.examples_first else [self.rubric, block]
        return "\n\n".join([*parts, REPLY_FORMAT])

    def digest(self) -> str:
        """Short content hash of the prompt (part of the grade cache key)."""
        return hashlib.sha256(self.system_text().encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """The grader file form."""
        return {
            "name": self.name,
            "rubric": self.rubric,
            "examples": [
                {"items": list(e.items), "question": e.question, "score": e.score}
                for e in self.examples
            ],
            "examples_first": self.examples_first,
        }

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> GraderPrompt:
        """Inverse of :meth:`to_dict`."""
        return cls(
            rubric=str(obj["rubric"]),
            examples=tuple(
                FewShotExample(tuple(e["items"]), str(e["question"]), float(e["score"]))
                for e in obj.get("examples", [])
            ),
            examples_first=bool(obj.get("examples_first", False)),
            name=str(obj.get("name", GRADER_VERSION)),
        )


@dataclass(frozen=True)
class LLMGraderConfig:
    """Endpoint and behaviour of the LLM grader."""

    client: ClientConfig
    cache_path: Path | None = None
    context_turns: int = 6
    max_tokens: int = 128
    parse_retries: int = 1
    prompt: GraderPrompt = field(default_factory=GraderPrompt)


def grading_messages(
    question: str, sample: Sample, context_turns: int, prompt: GraderPrompt | None = None
) -> list[dict[str, str]]:
    """The rubric prompt for one question."""
    items = "\n".join(f"- {text}" for text in sample.info_set)
    system = (prompt or GraderPrompt()).system_text()
    user = (
        f"Conversation so far:\n{render_turns(sample.context[-context_turns:])}\n\n"
        f"Information still to be asked for:\n{items}\n\nQuestion to grade: {question}"
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def parse_grade(text: str) -> float:
    """The score in a grading reply; ``ValueError`` with the reason when it is not valid."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("reply holds no JSON object")
    try:
        return float(GradeReply.model_validate_json(text[start : end + 1]).score)
    except ValidationError as exc:
        raise ValueError(f"invalid grade: {exc.errors()[0]['msg']}") from None


class GradeCache:
    """A small thread-safe SQLite key -> score store."""

    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()
        target = ":memory:"
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            target = str(path)
        self._db = sqlite3.connect(target, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS grades (key TEXT PRIMARY KEY, score REAL)")
        self._db.commit()

    def get(self, key: str) -> float | None:
        """The cached score, or None."""
        with self._lock:
            row = self._db.execute("SELECT score FROM grades WHERE key = ?", (key,)).fetchone()
        return None if row is None else float(row[0])

    def put(self, key: str, score: float) -> None:
        """Store a score (committed at once, so an interrupted job keeps it)."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO grades VALUES (?, ?)", (key, score))
            self._db.commit()


@dataclass
class LLMGrader:
    """R_a by an LLM judge; see the module docstring."""

    config: LLMGraderConfig
    version: str = f"llm:{GRADER_VERSION}"
    stats: dict[str, int] = field(
        default_factory=lambda: {"model_calls": 0, "cache_hits": 0, "failures": 0}
    )

    def __post_init__(self) -> None:
        self._cache = GradeCache(self.config.cache_path)
        if self.version == f"llm:{GRADER_VERSION}":
            self.version = f"llm:{self.config.prompt.name}"

    def __call__(self, questions: list[str], samples: list[Sample]) -> list[GradeResult]:
        """Grade every (question, sample) pair; failures come back with their reason."""
        return asyncio.run(self.grade_async(questions, samples))

    async def grade_async(self, questions: list[str], samples: list[Sample]) -> list[GradeResult]:
        """Async form of :meth:`__call__`, for callers already inside an event loop."""
        async with ChatClient(self.config.client) as client:
            jobs = [self._grade_one(client, q, s) for q, s in zip(questions, samples, strict=True)]
            return list(await asyncio.gather(*jobs))

    def cache_key(self, question: str, sample: Sample) -> str:
        """Content hash of everything the grade depends on."""
        prompt_key = self.config.prompt
        version = GRADER_VERSION if prompt_key == GraderPrompt() else prompt_key.digest()
        payload = [
            version,
            self.config.client.model,
            [t.to_dict() for t in sample.context[-self.config.context_turns :]],
            sample.info_set,
            question,
        ]
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()

    async def _grade_one(self, client: ChatClient, question: str, sample: Sample) -> GradeResult:
        if not sample.info_set:
            return GradeResult(None, "sample has no I* items to compare with")
        key = self.cache_key(question, sample)
        cached = self._cache.get(key)
        if cached is not None:
            self.stats["cache_hits"] += 1
            return GradeResult(cached)
        messages = grading_messages(question, sample, self.config.context_turns, self.config.prompt)
        try:
            score = await chat_validated(
                client,
                messages,
                parse_grade,
                max_tokens=self.config.max_tokens,
                response_format=json_schema_format(grade_reply_schema(), "grade"),
                parse_retries=self.config.parse_retries,
                stats=self.stats,
            )
        except LLMError as exc:
            self.stats["failures"] += 1
            return GradeResult(None, f"endpoint error: {exc}")
        except InvalidReplyError as exc:
            self.stats["failures"] += 1
            return GradeResult(None, f"unparseable grade after {exc.attempts} tries: {exc.reason}")
        self._cache.put(key, score)
        return GradeResult(score)
