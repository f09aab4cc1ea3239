"""Async client for any OpenAI-compatible chat endpoint (vLLM, llama.cpp, OpenAI, our own server).

Bounded concurrency, a per-request timeout, exponential backoff with jitter and a hard cap on
attempts. Failures surface as typed :class:`LLMError` subclasses carrying the server's message,
never as empty strings. Only transient failures (timeouts, connection errors, 429 and 5xx) are
retried; a 4xx means the request itself is wrong and retrying cannot help.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

Messages = list[dict[str, str]]
T = TypeVar("T")


class LLMError(Exception):
    """Base class of every failure talking to an LLM endpoint."""


class LLMHTTPError(LLMError):
    """The server answered with an HTTP error status."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"HTTP {status}: {message}")


class LLMTimeoutError(LLMError):
    """No answer within the per-request timeout."""


class LLMConnectionError(LLMError):
    """The endpoint could not be reached."""


class LLMResponseError(LLMError):
    """The server answered 200 but the body is not a chat completion."""


class LLMRetriesExhausted(LLMError):
    """Every allowed attempt failed; ``last_error`` is the final failure."""

    def __init__(self, attempts: int, last_error: LLMError) -> None:
        self.attempts = attempts
        self.last_error = last_error
        super().__init__(f"gave up after {attempts} attempts: {last_error}")


@dataclass(frozen=True)
class ClientConfig:
    """Where and how to call an OpenAI-compatible endpoint.

    ``api_key`` falls back to ``$LEARN2ASK_API_KEY`` then ``$OPENAI_API_KEY``; ``max_attempts``
    is a hard cap (first try included), so a broken endpoint can never make a job loop forever.
    """

    base_url: str
    model: str
    api_key: str | None = None
    timeout_s: float = 60.0
    max_attempts: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    max_concurrency: int = 8

    def resolved_api_key(self) -> str | None:
        """The key to send, from the config or the environment."""
        return (
            self.api_key or os.environ.get("LEARN2ASK_API_KEY") or os.environ.get("OPENAI_API_KEY")
        )


def json_schema_format(schema: dict[str, Any], name: str = "response") -> dict[str, Any]:
    """An OpenAI-style ``response_format`` asking for JSON that matches ``schema``.

    ``strict`` is off: OpenAI's strict mode rejects schemas with optional fields (pydantic's
    defaults), while vLLM, llama.cpp and ``serve-model`` constrain decoding either way. A server
    that ignores the field is caught by the caller's validation (counted, re-asked, never silent).
    """
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": False}}


def _is_retryable(error: LLMError) -> bool:
    if isinstance(error, LLMHTTPError):
        return error.status == 429 or error.status >= 500
    return isinstance(error, (LLMTimeoutError, LLMConnectionError, LLMResponseError))


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error", body.get("detail", body))
        if isinstance(error, dict):
            return str(error.get("message", error))
        return str(error)
    return str(body)[:500]


class ChatClient:
    """Async chat-completions client; use as ``async with ChatClient(cfg) as client``."""

    def __init__(self, config: ClientConfig, transport: httpx.AsyncBaseTransport | None = None):
        self.config = config
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self.calls = 0  # HTTP requests sent, retries included

    async def __aenter__(self) -> ChatClient:
        self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _open(self) -> httpx.AsyncClient:
        if self._http is None:
            headers = {}
            key = self.config.resolved_api_key()
            if key:
                headers["Authorization"] = f"Bearer {key}"
            self._http = httpx.AsyncClient(
                base_url=self.config.base_url.rstrip("/"),
                headers=headers,
                timeout=self.config.timeout_s,
                transport=self._transport,
            )
            self._semaphore = asyncio.Semaphore(self.config.max_concurrency)
        return self._http

    async def aclose(self) -> None:
        """Close the underlying connection pool."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _payload(
        self,
        messages: Messages,
        temperature: float,
        max_tokens: int,
        json_schema: dict[str, Any] | None,
        extra: dict[str, Any] | None,
        response_format: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.config.model,
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        if response_format is not None:
            payload["response_format"] = response_format
        elif json_schema is not None:
            payload["response_format"] = json_schema_format(json_schema)
        if extra:
            payload.update(extra)
        return payload

    async def _post_once(self, payload: dict[str, Any]) -> dict[str, Any]:
        http = self._open()
        self.calls += 1
        try:
            response = await http.post("/chat/completions", json=payload)
        except httpx.TimeoutException as exc:
            raise LLMTimeoutError(f"no answer within {self.config.timeout_s} s") from exc
        except httpx.TransportError as exc:
            raise LLMConnectionError(f"cannot reach {self.config.base_url}: {exc}") from exc
        if response.status_code != 200:
            raise LLMHTTPError(response.status_code, _error_message(response))
        try:
            body = response.json()
            texts = [choice["message"]["content"] for choice in body["choices"]]
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise LLMResponseError(f"not a chat completion: {response.text[:200]!r}") from exc
        if not texts or not all(isinstance(t, str) for t in texts):
            raise LLMResponseError("chat completion without message content")
        return body

    async def completion(
        self,
        messages: Messages,
        *,
        temperature: float = 0.0,
        max_tokens: int = 256,
        json_schema: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One chat completion's whole body (``choices`` with their ``message`` and
        ``logprobs``, ``usage``, vLLM's ``prompt_logprobs`` when asked for), retried on transient
        failures up to the cap. ``response_format`` is sent as given (e.g.
        :func:`json_schema_format`); ``json_schema`` is the shorthand for it."""
        payload = self._payload(
            messages, temperature, max_tokens, json_schema, extra, response_format
        )
        self._open()
        assert self._semaphore is not None
        last: LLMError | None = None
        for attempt in range(1, self.config.max_attempts + 1):
            async with self._semaphore:
                try:
                    return await self._post_once(payload)
                except LLMError as exc:
                    last = exc
                    if not _is_retryable(exc):
                        raise
            if attempt < self.config.max_attempts:
                await asyncio.sleep(self._backoff(attempt))
        assert last is not None
        raise LLMRetriesExhausted(self.config.max_attempts, last)

    async def complete(
        self,
        messages: Messages,
        *,
        temperature: float = 0.0,
        max_tokens: int = 256,
        json_schema: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> list[str]:
        """All choices' texts of one chat completion, retried on transient failures."""
        body = await self.completion(
            messages,
            temperature=temperature,
            max_tokens=max_tokens,
            json_schema=json_schema,
            extra=extra,
            response_format=response_format,
        )
        return [choice["message"]["content"] for choice in body["choices"]]

    async def chat(
        self,
        messages: Messages,
        *,
        temperature: float = 0.0,
        max_tokens: int = 256,
        json_schema: dict[str, Any] | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> str:
        """The text of the first choice for one conversation."""
        texts = await self.complete(
            messages,
            temperature=temperature,
            max_tokens=max_tokens,
            json_schema=json_schema,
            response_format=response_format,
        )
        return texts[0]

    async def chat_many(
        self,
        conversations: Sequence[Messages],
        *,
        temperature: float = 0.0,
        max_tokens: int = 256,
        json_schema: dict[str, Any] | None = None,
    ) -> list[str | LLMError]:
        """Answer many conversations concurrently (bounded); a failure is returned in place."""

        async def one(messages: Messages) -> str | LLMError:
            try:
                return await self.chat(
                    messages,
                    temperature=temperature,
                    max_tokens=max_tokens,
                    json_schema=json_schema,
                )
            except LLMError as exc:
                return exc

        return list(await asyncio.gather(*(one(m) for m in conversations)))

    def _backoff(self, attempt: int) -> float:
        base = min(self.config.max_backoff_s, self.config.backoff_s * 2 ** (attempt - 1))
        return base * (0.5 + random.random() / 2)


def chat_sync(config: ClientConfig, messages: Messages, **kwargs: Any) -> str:
    """Blocking convenience wrapper around :meth:`ChatClient.chat` for scripts; raises
    :class:`LLMError` on failure."""

    async def run() -> str:
        async with ChatClient(config) as client:
            return await client.chat(messages, **kwargs)

    return asyncio.run(run())


def chat_many_sync(
    config: ClientConfig, conversations: Sequence[Messages], **kwargs: Any
) -> list[str | LLMError]:
    """Blocking convenience wrapper around :meth:`ChatClient.chat_many` for scripts."""

    async def run() -> list[str | LLMError]:
        async with ChatClient(config) as client:
            return await client.chat_many(conversations, **kwargs)

    return asyncio.run(run())


class InvalidReplyError(ValueError):
    """The endpoint answered, but every reply failed validation; ``reason`` says why."""

    def __init__(self, attempts: int, reason: str) -> None:
        self.attempts = attempts
        self.reason = reason
        super().__init__(f"invalid reply after {attempts} tries: {reason}")


async def chat_validated(
    client: ChatClient,
    messages: Messages,
    parse: Callable[[str], T],
    *,
    max_tokens: int,
    json_schema: dict[str, Any] | None = None,
    response_format: dict[str, Any] | None = None,
    parse_retries: int = 1,
    stats: dict[str, int] | None = None,
) -> T:
    """Ask at temperature 0 and validate the reply with ``parse`` (which raises ``ValueError``).

    An invalid reply is re-asked at most ``parse_retries`` times with the reason appended;
    after that :class:`InvalidReplyError` is raised. Transport failures raise :class:`LLMError`
    (already retried by the client). ``stats["model_calls"]`` counts the requests made and
    ``stats["invalid_replies"]`` the replies that failed validation, so a server that ignores
    ``response_format`` shows up in the counts instead of passing silently.
    """
    reason = "no reply"
    attempts = 1 + parse_retries
    for _ in range(attempts):
        if stats is not None:
            stats["model_calls"] = stats.get("model_calls", 0) + 1
        text = await client.chat(
            messages,
            temperature=0.0,
            max_tokens=max_tokens,
            json_schema=json_schema,
            response_format=response_format,
        )
        try:
            return parse(text)
        except ValueError as exc:
            if stats is not None:
                stats["invalid_replies"] = stats.get("invalid_replies", 0) + 1
            reason = f"{exc} (reply: {text[:80]!r})"
            messages = [
                *messages,
                {"role": "assistant", "content": text},
                {"role": "user", "content": f"Invalid reply: {exc}. Reply with the JSON only."},
            ]
    raise InvalidReplyError(attempts, reason)
