"""Request/response types of ``serve-model`` (OpenAI chat completions), and its typed errors.

Modelled on vLLM's ``entrypoints/openai/protocol.py``: the request model forbids unknown fields
(a 400 names them), and every error the server answers is a :class:`ServeError` with an HTTP
status in the 4xx range and a reason, rendered as OpenAI's ``{"error": {...}}`` body.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MAX_TOP_LOGPROBS = 20


class ServeError(Exception):
    """An error answered to the client with ``status`` (4xx) and a one-line reason."""

    def __init__(
        self, status: int, message: str, kind: str = "invalid_request_error", param: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param or None

    def body(self) -> dict[str, Any]:
        """OpenAI's error body."""
        return {
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.status,
            }
        }


class ChatMessage(BaseModel):
    """One message of an OpenAI chat request."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str
    name: str | None = None


class ResponseFormat(BaseModel):
    """``response_format``: free text, any JSON object, or JSON following a schema."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None

    @field_validator("json_schema")
    @classmethod
    def _has_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and not isinstance(value.get("schema", {}), dict):
            raise ValueError("json_schema.schema must be a JSON object")
        return value


class StreamOptions(BaseModel):
    """``stream_options``: ``include_usage`` adds a final chunk with the usage block."""

    model_config = ConfigDict(extra="forbid")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The part of OpenAI's chat-completions request this server honours; nothing else."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int = Field(default=1, ge=1, le=16)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)
    logit_bias: dict[str, float] | None = None
    response_format: ResponseFormat | None = None
    # vLLM's extensions for scoring a given text: the prompt's own token logprobs, and how the
    # chat template ends the prompt (a closed assistant turn, or one left open to continue).
    prompt_logprobs: int | None = Field(default=None, ge=0, le=MAX_TOP_LOGPROBS)
    add_generation_prompt: bool = True
    continue_final_message: bool = False

    @field_validator("stop")
    @classmethod
    def _at_most_four_stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value

    @field_validator("logit_bias")
    @classmethod
    def _bias_in_range(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        for key, bias in (value or {}).items():
            if not key.lstrip("-").isdigit():
                raise ValueError(f"logit_bias keys must be token ids, got {key!r}")
            if not -100.0 <= bias <= 100.0:
                raise ValueError(f"logit_bias values must be in [-100, 100], got {bias}")
        return value

    def stop_strings(self) -> tuple[str, ...]:
        """``stop`` as a tuple of non-empty strings."""
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return tuple(s for s in stops if s)

    def requested_max_tokens(self) -> int | None:
        """``max_completion_tokens`` (new name) or ``max_tokens`` (old name), if given."""
        return self.max_completion_tokens or self.max_tokens


def parse_request(raw: bytes) -> ChatCompletionRequest:
    """Decode and validate a request body; every problem becomes a 400 :class:`ServeError`."""
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        reason = "JSON nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ServeError(400, f"request body is not valid JSON: {reason}") from exc
    if not isinstance(payload, dict):
        raise ServeError(400, "request body must be a JSON object")
    try:
        request = ChatCompletionRequest.model_validate(payload)
    except ValidationError as exc:
        raise ServeError(400, describe_validation_error(exc)) from exc
    if request.top_logprobs is not None and not request.logprobs:
        raise ServeError(400, "top_logprobs requires logprobs: true", param="top_logprobs")
    _check_template_options(request)
    return request


def _check_template_options(request: ChatCompletionRequest) -> None:
    """The combinations vLLM refuses, refused the same way (400 naming the field)."""
    if request.prompt_logprobs is not None and request.stream:
        raise ServeError(
            400, "prompt_logprobs are not returned when stream is true", param="prompt_logprobs"
        )
    if request.continue_final_message and request.add_generation_prompt:
        raise ServeError(
            400,
            "continue_final_message and add_generation_prompt cannot both be true",
            param="continue_final_message",
        )
    if request.continue_final_message and request.messages[-1].role != "assistant":
        raise ServeError(
            400,
            "continue_final_message needs the last message to be the assistant's",
            param="continue_final_message",
        )


def describe_validation_error(exc: ValidationError) -> str:
    """One line: the unknown fields by name, else the first invalid field and why."""
    errors = exc.errors()
    unknown = [".".join(str(p) for p in e["loc"]) for e in errors if e["type"] == "extra_forbidden"]
    if unknown:
        return f"unsupported field(s): {', '.join(unknown)} (this server does not honour them)"
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


def completion_id() -> str:
    """A fresh ``chatcmpl-...`` id."""
    return f"chatcmpl-{uuid.uuid4().hex}"


def chunk(
    request_id: str, model: str, index: int, delta: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """One ``chat.completion.chunk`` of a stream, with one choice."""
    choice: dict[str, Any] = {"index": index, "delta": delta, "finish_reason": None}
    choice.update(extra)
    return {
        "id": request_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
    }


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    """OpenAI's ``usage`` block."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def sse(payload: dict[str, Any] | str) -> str:
    """One Server-Sent Event line pair."""
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n"
