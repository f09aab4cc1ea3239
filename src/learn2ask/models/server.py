"""An OpenAI-compatible server for any local model (``learn2ask serve-model``).

A thin router in vLLM's layout: :mod:`serve_protocol` (request/response types, typed errors),
:mod:`serve_engine` (batched generation), :mod:`constrained` (``response_format``). It serves
``POST /v1/chat/completions`` (plain or ``stream: true`` Server-Sent Events; vLLM's
``prompt_logprobs``, ``add_generation_prompt`` and ``continue_final_message`` for scoring a given
text), ``GET /v1/models``, ``GET /health`` and Prometheus' ``GET /metrics``.

Limits, so one request cannot block the others: a body over ``max_body_bytes`` is refused with
413 before it is read in full; a prompt that with its ``max_tokens`` does not fit the model's
context is a 400 naming the limit; each request has a deadline (408 when it passes); a client
that hangs up has its generation stopped at the next token.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from learn2ask.models.constrained import GrammarCompiler
from learn2ask.models.serve_engine import Event, SamplingParams, Sequence, ServeEngine
from learn2ask.models.serve_metrics import engine_registry, exposition
from learn2ask.models.serve_protocol import (
    ChatCompletionRequest,
    ServeError,
    chunk,
    completion_id,
    parse_request,
    sse,
    usage,
)

DEFAULT_MAX_TOKENS = 256


@dataclass(frozen=True)
class ServerLimits:
    """What one request may ask of the server."""

    max_body_bytes: int = 4 * 1024 * 1024
    request_timeout_s: float = 300.0
    default_max_tokens: int = DEFAULT_MAX_TOKENS


async def read_body(request: Any, limit: int) -> bytes:
    """The request body; 413 from ``Content-Length`` before reading, or once it passes
    ``limit`` while arriving (a chunked body declares no length)."""
    too_large = ServeError(413, f"request body is larger than the limit of {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    parts, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise too_large
        parts.append(part)
    return b"".join(parts)


class Completion:
    """One request's choices: builds sequences, collects their events on the event loop."""

    def __init__(
        self,
        engine: ServeEngine,
        grammars: GrammarCompiler | None,
        request: ChatCompletionRequest,
        limits: ServerLimits,
        prompt_ids: list[int],
    ) -> None:
        self.request = request
        self.prompt_ids = prompt_ids
        self.max_tokens = self._max_tokens(engine.context_length, limits)
        self.events: asyncio.Queue[tuple[int, Event]] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + limits.request_timeout_s
        grammar = self._grammar(grammars)
        self.sequences = [
            Sequence(
                prompt_ids=self.prompt_ids,
                params=self._params(index),
                sink=self._sink(loop, index),
                deadline=deadline,
                constraint=grammars.constraint(grammar) if grammars and grammar else None,
                prompt_logprobs=request.prompt_logprobs if index == 0 else None,
            )
            for index in range(request.n)
        ]
        self.prompt_logprobs: list[dict[str, Any] | None] | None = None

    def _max_tokens(self, context: int, limits: ServerLimits) -> int:
        asked = self.request.requested_max_tokens()
        room = context - len(self.prompt_ids)
        if asked is None:
            if room < 1:
                raise ServeError(
                    400,
                    f"prompt has {len(self.prompt_ids)} tokens; the model's context is "
                    f"{context} tokens",
                    param="messages",
                )
            return min(limits.default_max_tokens, room)
        if asked > room:
            raise ServeError(
                400,
                f"prompt ({len(self.prompt_ids)} tokens) + max_tokens ({asked}) exceeds the "
                f"model's context of {context} tokens",
                param="messages",
            )
        return asked

    def _grammar(self, grammars: GrammarCompiler | None) -> str | None:
        fmt = self.request.response_format
        if fmt is None or fmt.type == "text":
            return None
        if grammars is None:
            raise ServeError(400, "response_format is not available on this server")
        return grammars.grammar(fmt)

    def _params(self, index: int) -> SamplingParams:
        request = self.request
        return SamplingParams(
            max_tokens=self.max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            stop=request.stop_strings(),
            seed=None if request.seed is None else request.seed + index,
            logprobs=request.logprobs,
            top_logprobs=request.top_logprobs or 0,
            logit_bias=tuple((int(k), float(v)) for k, v in (request.logit_bias or {}).items()),
        )

    def _sink(self, loop: asyncio.AbstractEventLoop, index: int) -> Any:
        def put(event: Event) -> None:
            loop.call_soon_threadsafe(self.events.put_nowait, (index, event))

        return put

    def cancel(self) -> None:
        """Stop every choice at its next token."""
        for seq in self.sequences:
            seq.cancelled = True

    async def results(self) -> list[dict[str, Any]]:
        """Wait for every choice; its text, logprobs, finish reason and token count."""
        out = [{"text": "", "logprobs": [], "finish": None, "tokens": 0} for _ in self.sequences]
        done = 0
        while done < len(out):
            index, (kind, payload) = await self.events.get()
            if kind == "token":
                delta, entry = payload
                out[index]["text"] += delta
                if entry is not None:
                    out[index]["logprobs"].append(entry)
            elif kind == "finish":
                out[index]["finish"], out[index]["tokens"] = payload
                done += 1
            elif kind == "prompt_logprobs":
                self.prompt_logprobs = payload
            else:
                raise ServeError(503, f"generation failed: {payload}", kind="server_error")
        return out


def _check_outcome(choices: list[dict[str, Any]], limits: ServerLimits) -> None:
    reasons = {c["finish"] for c in choices}
    if "timeout" in reasons:
        raise ServeError(
            408, f"request timed out after {limits.request_timeout_s:g} s", kind="timeout"
        )


def _response(model: str, completion: Completion, choices: list[dict[str, Any]]) -> dict[str, Any]:
    body_choices = []
    for index, choice in enumerate(choices):
        item: dict[str, Any] = {
            "index": index,
            "message": {"role": "assistant", "content": choice["text"]},
            "logprobs": {"content": choice["logprobs"]} if completion.request.logprobs else None,
            "finish_reason": choice["finish"],
        }
        body_choices.append(item)
    completion_tokens = sum(c["tokens"] for c in choices)
    body = {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": body_choices,
        "usage": usage(len(completion.prompt_ids), completion_tokens),
    }
    if completion.request.prompt_logprobs is not None:
        body["prompt_logprobs"] = completion.prompt_logprobs
    return body


async def _stream(
    model: str, completion: Completion, engine: ServeEngine, limits: ServerLimits
) -> AsyncIterator[str]:
    """The choices as ``chat.completion.chunk`` events, ending with ``data: [DONE]``."""
    request_id = completion_id()
    for seq in completion.sequences:
        engine.submit(seq)
    try:
        for index in range(len(completion.sequences)):
            yield sse(chunk(request_id, model, index, {"role": "assistant", "content": ""}))
        done, completion_tokens = 0, 0
        while done < len(completion.sequences):
            index, (kind, payload) = await completion.events.get()
            if kind == "token":
                delta, entry = payload
                extra = {"logprobs": {"content": [entry]}} if entry is not None else {}
                if delta or entry is not None:
                    yield sse(chunk(request_id, model, index, {"content": delta}, **extra))
            elif kind == "finish":
                reason, tokens = payload
                done, completion_tokens = done + 1, completion_tokens + tokens
                if reason == "timeout":
                    seconds = limits.request_timeout_s
                    error = ServeError(408, f"request timed out after {seconds:g} s")
                    yield sse(error.body())
                    reason = "length"
                yield sse(chunk(request_id, model, index, {}, finish_reason=reason))
            else:
                yield sse(ServeError(503, f"generation failed: {payload}").body())
                done += 1
        options = completion.request.stream_options
        if options is not None and options.include_usage:
            final = chunk(request_id, model, 0, {})
            final["choices"] = []
            final["usage"] = usage(len(completion.prompt_ids), completion_tokens)
            yield sse(final)
        yield sse("[DONE]")
    finally:
        completion.cancel()


async def _watch_disconnect(request: Any, completion: Completion) -> None:
    """Cancel the generation once the client has hung up."""
    while not await request.is_disconnected():
        await asyncio.sleep(0.05)
    completion.cancel()


def create_app(
    generator: Any,
    model_name: str,
    max_batch_size: int = 16,
    limits: ServerLimits | None = None,
    batch_window_s: float = 0.02,
) -> Any:
    """The ASGI application serving ``generator`` under the name ``model_name``."""
    limits = limits or ServerLimits()
    engine = ServeEngine(generator, max_batch_size=max_batch_size, batch_window_s=batch_window_s)
    grammars = _grammar_compiler(generator, engine.vocab_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202 - FastAPI lifespan protocol
        engine.start()
        yield
        await asyncio.to_thread(engine.stop)

    app = FastAPI(title="learn2ask model server", lifespan=lifespan)
    app.state.engine = engine
    registry = engine_registry(engine, model_name)
    created = int(time.time())

    @app.exception_handler(ServeError)
    async def on_serve_error(request: Request, exc: ServeError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content=exc.body())

    @app.get("/health")
    async def health() -> dict[str, Any]:
        # The counters let clients (and tests) see that concurrent requests were batched.
        return {
            "status": "ok",
            "batches_run": engine.batches_run,
            "requests_served": engine.requests_served,
            "cancelled": engine.sequences_cancelled,
            "timed_out": engine.sequences_timed_out,
            "context_length": engine.context_length,
        }

    @app.get("/metrics")
    async def metrics() -> Response:
        body, content_type = exposition(registry)
        return Response(body, media_type=content_type)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": model_name, "object": "model", "created": created, "owned_by": "learn2ask"}
            ],
        }

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        parsed = parse_request(await read_body(request, limits.max_body_bytes))
        if parsed.model not in (None, model_name):
            raise ServeError(
                404,
                f"model '{parsed.model}' is not served here (try '{model_name}')",
                "not_found_error",
                "model",
            )
        messages = [m.model_dump(exclude_none=True) for m in parsed.messages]
        # Off the event loop: a long prompt takes a while to render and tokenize.
        prompt_ids = await asyncio.to_thread(
            engine.prompt_ids,
            messages,
            parsed.add_generation_prompt,
            parsed.continue_final_message,
        )
        completion = Completion(engine, grammars, parsed, limits, prompt_ids)
        if parsed.stream:
            return StreamingResponse(
                _stream(model_name, completion, engine, limits), media_type="text/event-stream"
            )
        for seq in completion.sequences:
            engine.submit(seq)
        watcher = asyncio.create_task(_watch_disconnect(request, completion))
        try:
            choices = await completion.results()
        finally:
            watcher.cancel()
            completion.cancel()
        _check_outcome(choices, limits)
        return _response(model_name, completion, choices)

    return app


def _grammar_compiler(generator: Any, vocab_size: int) -> GrammarCompiler | None:
    """llguidance for ``response_format``; ``None`` (formats answered 400) if unavailable."""
    try:
        return GrammarCompiler(generator.tokenizer, vocab_size)
    except (ImportError, ValueError):
        return None
