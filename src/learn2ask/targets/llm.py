"""The ``llm`` extractor: the paper's attribute extraction through an OpenAI-compatible endpoint.

For each decision point the model reads the rest of the conversation and lists the information
the expert goes on to elicit, as attributes (symptom, quality, location, severity, trigger, ...)
each with the user's answer. Temperature 0; the JSON reply is validated against a schema; a reply
that still fails after ``parse_retries`` re-asks is an :class:`ExtractionFailure` with the reason
(the sample is then left out and counted, never given a silent empty I*). Replies are cached on
disk keyed by a content hash, so a rerun costs nothing and an interrupted run resumes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from learn2ask.data.types import InfoItem, Turn
from learn2ask.io import write_json_atomic
from learn2ask.models.client import (
    ChatClient,
    ClientConfig,
    InvalidReplyError,
    LLMError,
    chat_validated,
    json_schema_format,
)
from learn2ask.targets.base import ExtractionFailure

PROMPT_VERSION = "extract-v1"
DEFAULT_ATTRIBUTES: tuple[str, ...] = (
    "symptom",
    "quality",
    "location",
    "severity",
    "duration",
    "onset",
    "trigger",
    "relieving factor",
    "medication",
    "medical history",
    "allergy",
    "lifestyle",
    "other",
)


class ExtractedItem(BaseModel):
    """One attribute the expert elicits later, with the user's answer."""

    attribute: str = Field(min_length=1)
    value: str = Field(min_length=1)
    question: str | None = None


class ExtractionReply(BaseModel):
    """The JSON object the extraction model must return."""

    items: list[ExtractedItem]


def extraction_reply_schema() -> dict[str, Any]:
    """The JSON schema sent as ``response_format``: :class:`ExtractionReply` with no extra keys.

    A JSON schema allows any extra key unless told otherwise; the bundled judge filled such keys
    until ``max_tokens`` cut the JSON when grading (``grade_reply_schema``), so the extractor's
    schema closes both objects too. Parsing stays lenient (extra keys from an endpoint without
    constrained decoding are ignored, not failures).
    """
    schema = ExtractionReply.model_json_schema()
    schema["additionalProperties"] = False
    for definition in schema.get("$defs", {}).values():
        definition["additionalProperties"] = False
    return schema


@dataclass(frozen=True)
class LLMExtractorConfig:
    """Endpoint, domain and attribute list of the LLM extractor."""

    client: ClientConfig
    cache_dir: Path
    domain: str = "a medical consultation between a doctor (expert) and a patient (user)"
    attributes: tuple[str, ...] = DEFAULT_ATTRIBUTES
    max_tokens: int = 512
    parse_retries: int = 1
    # extra rules appended to the system prompt (prompt variants of ``calibrate --extractor llm``)
    instructions: str = ""


def render_turns(turns: list[Turn]) -> str:
    """Plain-text transcript, one ``Expert:``/``User:`` line per turn."""
    return "\n".join(f"{t.role.capitalize()}: {t.content}" for t in turns)


def extraction_messages(
    config: LLMExtractorConfig, context: list[Turn], future: list[Turn]
) -> list[dict[str, str]]:
    """The extraction prompt for one decision point."""
    system = (
        f"You analyse {config.domain}. You are shown the conversation so far and what happens "
        "next. List every piece of information that the expert still goes on to ASK FOR in the "
        "'next' part and that the user then provides. Use attributes from: "
        f"{', '.join(config.attributes)}. Ignore greetings, small talk, advice, and anything "
        "already known in the conversation so far. Reply with JSON only: "
        '{"items": [{"attribute": "...", "value": "<user\'s answer>", "question": "<expert\'s '
        'question>"}]}. Use {"items": []} when the expert asks for nothing more.'
    )
    if config.instructions:
        system = f"{system}\n{config.instructions}"
    user = (
        f"Conversation so far:\n{render_turns(context)}\n\nWhat happens next:\n"
        f"{render_turns(future)}"
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def parse_extraction(text: str, attributes: tuple[str, ...]) -> list[InfoItem]:
    """Validate a reply; raises ``ValueError`` with the reason when it is not acceptable."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("reply holds no JSON object")
    try:
        reply = ExtractionReply.model_validate_json(text[start : end + 1])
    except ValidationError as exc:
        raise ValueError(f"reply does not match the schema: {exc.errors()[0]['msg']}") from None
    allowed = {a.lower() for a in attributes}
    items = []
    for item in reply.items:
        attribute = item.attribute.strip().lower()
        if attribute not in allowed:
            raise ValueError(f"unknown attribute '{item.attribute}'")
        items.append(
            InfoItem(
                text=f"{attribute}: {item.value.strip()}",
                question=item.question,
                answer=item.value.strip(),
                attribute=attribute,
            )
        )
    return items


@dataclass
class LLMExtractor:
    """I* from an LLM, with a content-hash disk cache; see the module docstring."""

    config: LLMExtractorConfig
    name: str = "llm"
    stats: dict[str, int] = field(default_factory=lambda: {"cache_hits": 0, "model_calls": 0})

    def extract(
        self, points: list[tuple[list[Turn], list[Turn]]]
    ) -> list[list[InfoItem] | ExtractionFailure]:
        """I* for each ``(context, future)`` pair, or the reason it could not be extracted."""
        return asyncio.run(self._extract_all(points))

    async def _extract_all(
        self, points: list[tuple[list[Turn], list[Turn]]]
    ) -> list[list[InfoItem] | ExtractionFailure]:
        async with ChatClient(self.config.client) as client:
            return list(await asyncio.gather(*(self._extract_one(client, c, f) for c, f in points)))

    async def _extract_one(
        self, client: ChatClient, context: list[Turn], future: list[Turn]
    ) -> list[InfoItem] | ExtractionFailure:
        messages = extraction_messages(self.config, context, future)
        cache_path = self._cache_path(messages)
        if cache_path.is_file():
            self.stats["cache_hits"] += 1
            cached = json.loads(cache_path.read_text(encoding="utf-8"))
            return [InfoItem.from_dict(i) for i in cached["items"]]
        try:
            items = await chat_validated(
                client,
                messages,
                lambda text: parse_extraction(text, self.config.attributes),
                max_tokens=self.config.max_tokens,
                response_format=json_schema_format(extraction_reply_schema(), "extraction"),
                parse_retries=self.config.parse_retries,
                stats=self.stats,
            )
        except LLMError as exc:
            return ExtractionFailure(reason=f"endpoint error: {exc}")
        except InvalidReplyError as exc:
            return ExtractionFailure(reason=f"invalid extraction reply: {exc.reason}")
        write_json_atomic(cache_path, {"items": [i.to_dict() for i in items]})
        return items

    def _cache_path(self, messages: list[dict[str, str]]) -> Path:
        key = json.dumps(
            [PROMPT_VERSION, self.config.client.model, messages], sort_keys=True
        ).encode("utf-8")
        digest = hashlib.sha256(key).hexdigest()
        return self.config.cache_dir / digest[:2] / f"{digest}.json"
