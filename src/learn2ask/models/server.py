"""A small OpenAI-compatible server for any local model (``learn2ask serve-model``).

``POST /v1/chat/completions`` and ``GET /v1/models``, modelled on vLLM's OpenAI entrypoint.
Concurrent requests are batched: requests that arrive while a batch is generating wait in a
queue and go together into the next ``generate`` call (up to ``max_batch_size``). Generation
runs in a worker thread, so the event loop keeps accepting requests.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from learn2ask.models.generation import GenerationConfig, LocalGenerator


class ChatMessage(BaseModel):
    """One message of an OpenAI chat request."""

    role: Literal["system", "user", "assistant"]
    content: str


class ChatCompletionRequest(BaseModel):
    """The subset of OpenAI's chat-completions request this server honours."""

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1, le=4096)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=4096)
    n: int = Field(default=1, ge=1, le=16)
    stop: str | list[str] | None = None
    seed: int | None = None
    response_format: dict[str, Any] | None = None


@dataclass
class _Pending:
    messages: list[dict[str, str]]
    config: GenerationConfig
    future: asyncio.Future[str]


@dataclass
class BatchingEngine:
    """Groups concurrent requests into batched ``generate`` calls."""

    generator: LocalGenerator
    max_batch_size: int = 16
    batches_run: int = 0
    requests_served: int = 0
    _queue: asyncio.Queue[_Pending] | None = field(default=None, init=False)
    _worker: asyncio.Task[None] | None = field(default=None, init=False)

    def start(self) -> None:
        """Start the background batching loop (call inside the running event loop)."""
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Cancel the batching loop."""
        if self._worker is not None:
            self._worker.cancel()

    async def submit(self, messages: list[dict[str, str]], config: GenerationConfig) -> str:
        """Queue one generation and wait for its text."""
        assert self._queue is not None, "engine not started"
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(messages, config, future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            # Requests with different decoding settings cannot share one generate call.
            groups: dict[GenerationConfig, list[_Pending]] = {}
            for item in batch:
                groups.setdefault(item.config, []).append(item)
            for config, items in groups.items():
                await self._generate_group(config, items)

    async def _generate_group(self, config: GenerationConfig, items: list[_Pending]) -> None:
        try:
            texts = await asyncio.to_thread(
                self.generator.generate,
                [i.messages for i in items],
                GenerationConfig(**{**config.__dict__, "batch_size": len(items)}),
            )
        except Exception as exc:  # noqa: BLE001 - every waiting request must hear about it
            for item in items:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        self.batches_run += 1
        self.requests_served += len(items)
        for item, text in zip(items, texts, strict=True):
            if not item.future.done():
                item.future.set_result(text)


def _error(status: int, message: str, kind: str = "invalid_request_error") -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse(
        status_code=status,
        content={"error": {"message": message, "type": kind, "param": None, "code": status}},
    )


def create_app(generator: LocalGenerator, model_name: str, max_batch_size: int = 16) -> Any:
    """The FastAPI application serving ``generator`` under the name ``model_name``."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError

    engine = BatchingEngine(generator, max_batch_size=max_batch_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202 - FastAPI lifespan protocol
        engine.start()
        yield
        await engine.stop()

    app = FastAPI(title="learn2ask model server", lifespan=lifespan)
    app.state.engine = engine
    created = int(time.time())

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> Any:
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request", "loc": ()}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _error(400, f"{where}: {first['msg']}" if where else str(first["msg"]))

    @app.get("/health")
    async def health() -> dict[str, Any]:
        # The counters let clients (and tests) see that concurrent requests were batched.
        return {
            "status": "ok",
            "batches_run": engine.batches_run,
            "requests_served": engine.requests_served,
        }

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": model_name, "object": "model", "created": created, "owned_by": "learn2ask"}
            ],
        }

    @app.post("/v1/chat/completions")
    async def chat_completions(request: ChatCompletionRequest) -> Any:
        if request.model not in (None, model_name):
            return _error(
                404,
                f"model '{request.model}' is not served here (try '{model_name}')",
                "not_found_error",
            )
        stop = (request.stop,) if isinstance(request.stop, str) else tuple(request.stop or ())
        base = GenerationConfig(
            max_new_tokens=request.max_completion_tokens or request.max_tokens or 256,
            temperature=request.temperature,
            top_p=request.top_p,
            stop=stop,
            seed=request.seed if request.seed is not None else 0,
        )
        messages = [m.model_dump() for m in request.messages]
        configs = [
            GenerationConfig(**{**base.__dict__, "seed": base.seed + k}) for k in range(request.n)
        ]
        texts = await asyncio.gather(*(engine.submit(messages, c) for c in configs))
        prompt_tokens = len(generator.tokenizer(generator.render(messages))["input_ids"])
        completion_tokens = [len(generator.tokenizer(t)["input_ids"]) for t in texts]
        choices = [
            {
                "index": k,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "length" if n_tok >= base.max_new_tokens else "stop",
            }
            for k, (text, n_tok) in enumerate(zip(texts, completion_tokens, strict=True))
        ]
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model_name,
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": sum(completion_tokens),
                "total_tokens": prompt_tokens + sum(completion_tokens),
            },
        }

    return app
