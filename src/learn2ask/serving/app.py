"""The thin HTTP layer: FastAPI routes over :class:`IntakeService`, API keys, rate and size
limits, the static chat/operator pages and Prometheus metrics. Every error is a 4xx/503 with
``{"detail": ...}``.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections import defaultdict, deque
from importlib.resources import files
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from learn2ask.serving.config import Limits, ServerConfig
from learn2ask.serving.errors import PayloadTooLarge, RateLimited, ServingError, Unauthorized
from learn2ask.serving.metrics import ServingMetrics
from learn2ask.serving.protocol import (
    BlockedQuestionOut,
    BlockQuestion,
    CreatedSession,
    CreateSession,
    NextActionOut,
    RateQuestion,
    SessionOut,
    SessionRow,
    UserMessage,
    blocked_question_out,
    next_action_out,
    session_out,
    session_row,
)
from learn2ask.serving.service import IntakeService, NextAction

log = logging.getLogger("learn2ask.serving")
PAGES = ("chat.html", "operator.html")


class RateLimiter:
    """Sliding one-minute window per key (or per client address without keys)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, who: str) -> None:
        """Count one request; :class:`RateLimited` beyond the limit."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits[who]
            while hits and hits[0] <= now - 60:
                hits.popleft()
            if len(hits) >= self.per_minute:
                raise RateLimited(f"rate limit: {self.per_minute} requests per minute; retry later")
            hits.append(now)


class BodyLimit:
    """ASGI middleware: a body beyond ``max_bytes`` gets 413 before the app reads it whole."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _too_large(self.max_bytes)(scope, receive, send)
            return
        state = {"received": 0, "over": False}

        async def limited() -> dict:
            message = await receive()
            state["received"] += len(message.get("body", b""))
            if state["received"] > self.max_bytes:
                state["over"] = True  # the app sees an end of body; its reply is replaced
                return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def guarded_send(message: dict) -> None:
            if not state["over"]:
                await send(message)
            elif message["type"] == "http.response.start":
                response = _too_large(self.max_bytes)
                await send(
                    {
                        "type": "http.response.start",
                        "status": response.status_code,
                        "headers": response.raw_headers,
                    }
                )
                await send({"type": "http.response.body", "body": response.body})

        await self.app(scope, limited, guarded_send)


def _too_large(max_bytes: int) -> JSONResponse:
    return JSONResponse({"detail": f"request body over {max_bytes} bytes"}, status_code=413)


def _page(name: str) -> str:
    return files("learn2ask.serving").joinpath("static", name).read_text(encoding="utf-8")


def create_app(
    service: IntakeService, config: ServerConfig, metrics: ServingMetrics | None = None
) -> FastAPI:
    """The application: sessions API under ``/v1``, pages at ``/`` and ``/operator``,
    ``/metrics`` (``metrics``, or a registry of its own)."""
    app = FastAPI(
        title="learn2ask intake assistant",
        description="Proactive intake: asks what the expert needs, then hands over.",
        version="1",
    )
    app.state.service = service
    metrics = app.state.metrics = metrics or ServingMetrics()
    limiter = RateLimiter(config.limits.rate_per_minute)
    _add_error_handlers(app)
    _count_responses(app, metrics)
    guard = _guard(config, limiter)
    _add_session_routes(app, service, config.limits, guard, metrics)
    _add_operator_routes(app, service, config.limits, guard)
    _add_block_list_routes(app, service, config.limits, guard)
    _add_pages(app)
    _add_metrics_route(app, metrics, guard)
    return BodyLimit(app, config.limits.max_body_bytes)  # type: ignore[return-value]


def _guard(config: ServerConfig, limiter: RateLimiter) -> Any:
    keys = [k.encode() for k in config.api_keys]

    def guard(request: Request) -> None:
        if keys:
            given = request.headers.get("x-api-key") or ""
            auth = request.headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                given = auth[7:].strip()
            if not any(hmac.compare_digest(given.encode(), k) for k in keys):
                raise Unauthorized("missing or wrong API key (Authorization: Bearer KEY)")
            who = "key:" + str(next(i for i, k in enumerate(keys) if k == given.encode()))
        else:
            who = "addr:" + (request.client.host if request.client else "?")
        if request.method != "GET":  # reads are cheap; the pages poll them
            limiter.check(who)

    return guard


def _check_length(content: str, limits: Limits) -> str:
    content = content.strip()
    if not content:
        raise ServingError("content: message is empty")
    if len(content) > limits.max_message_chars:
        raise PayloadTooLarge(
            f"content: message of {len(content)} characters, over the {limits.max_message_chars} "
            "limit"
        )
    return content


def _add_session_routes(
    app: FastAPI, service: IntakeService, limits: Limits, guard: Any, metrics: ServingMetrics
) -> None:
    deps = [Depends(guard)]

    def answered(reply: NextAction) -> NextActionOut:
        metrics.decided(reply)
        return next_action_out(reply)

    @app.post("/v1/sessions", response_model=CreatedSession, status_code=201, dependencies=deps)
    def create_session(body: CreateSession | None = None) -> CreatedSession:
        """Open a session; with ``content``, the first user message is answered at once."""
        body = body or CreateSession()
        content = _check_length(body.content, limits) if body.content else None
        record, reply = service.create(body.domain, content)
        metrics.session_created()
        settings = service.settings
        return CreatedSession(
            id=record.id,
            state=reply.state if reply else record.state,
            disclaimer=settings.disclaimer,
            greeting=settings.greeting,
            next=answered(reply) if reply else None,
        )

    @app.post("/v1/sessions/{session_id}/messages", response_model=NextActionOut, dependencies=deps)
    def post_message(session_id: str, body: UserMessage) -> NextActionOut:
        """The user's message -> the next action: ask, stop (with summary) or escalate."""
        return answered(service.post_message(session_id, _check_length(body.content, limits)))

    @app.post("/v1/sessions/{session_id}/finish", response_model=NextActionOut, dependencies=deps)
    def finish_session(session_id: str) -> NextActionOut:
        """The user has nothing more to add: hand over now with the summary (a STOP whose
        decision's source is ``user``); 409 before the first message or once handed over."""
        return answered(service.finish(session_id))

    @app.get("/v1/sessions/{session_id}", response_model=SessionOut, dependencies=deps)
    def get_session(session_id: str) -> SessionOut:
        """State, transcript and every decision (P(stop), latency) of a session."""
        return session_out(service.get(session_id))

    @app.post("/v1/sessions/{session_id}/close", response_model=SessionOut, dependencies=deps)
    def close_session(session_id: str) -> SessionOut:
        """Close a session: it takes no more messages."""
        service.close(session_id)
        return session_out(service.get(session_id))

    @app.delete("/v1/sessions/{session_id}", status_code=204, dependencies=deps)
    def delete_session(session_id: str) -> Response:
        """Delete a session and its transcript for good."""
        service.delete(session_id)
        return Response(status_code=204)


def _add_operator_routes(app: FastAPI, service: IntakeService, limits: Limits, guard: Any) -> None:
    deps = [Depends(guard)]

    @app.get("/v1/operator/sessions", response_model=list[SessionRow], dependencies=deps)
    def list_sessions(limit: int = 100, offset: int = 0) -> list[SessionRow]:
        """Sessions, most recently active first."""
        if not 1 <= limit <= 1000 or offset < 0:
            raise ServingError("limit must be in [1, 1000] and offset >= 0")
        return [session_row(r) for r in service.store.list_sessions(limit, offset)]

    @app.post(
        "/v1/operator/sessions/{session_id}/takeover", response_model=SessionOut, dependencies=deps
    )
    def take_over(session_id: str) -> SessionOut:
        """An expert takes the session over; the policy is no longer asked."""
        service.take_over(session_id)
        return session_out(service.get(session_id))

    @app.post(
        "/v1/operator/sessions/{session_id}/messages", response_model=SessionOut, dependencies=deps
    )
    def operator_message(session_id: str, body: UserMessage) -> SessionOut:
        """The expert's answer in a taken-over session."""
        service.operator_message(session_id, _check_length(body.content, limits))
        return session_out(service.get(session_id))

    @app.put(
        "/v1/operator/sessions/{session_id}/ratings/{seq}",
        response_model=SessionOut,
        dependencies=deps,
    )
    def rate_question(session_id: str, seq: int, body: RateQuestion) -> SessionOut:
        """Rate a question the assistant asked: on the point (true) or not (false); null takes
        the rating back. ``export-sessions --ratings`` writes them as relevance labels."""
        return session_out(service.rate_question(session_id, seq, body.relevant))


def _add_block_list_routes(
    app: FastAPI, service: IntakeService, limits: Limits, guard: Any
) -> None:
    deps = [Depends(guard)]

    @app.get(
        "/v1/operator/blocked-questions",
        response_model=list[BlockedQuestionOut],
        dependencies=deps,
    )
    def blocked_questions() -> list[BlockedQuestionOut]:
        """Questions the assistant no longer asks, most recently blocked first."""
        applies = service.blocks_apply
        return [blocked_question_out(b, applies) for b in service.blocked_questions()]

    @app.post(
        "/v1/operator/blocked-questions",
        response_model=BlockedQuestionOut,
        status_code=201,
        dependencies=deps,
    )
    def block_question(body: BlockQuestion) -> BlockedQuestionOut:
        """Never ask this question again, in any session, from the next question on (a
        garbled or off-topic question from the logs; the same wording in any case or spacing)."""
        question = body.question.strip()
        if not question:
            raise ServingError("question: empty")
        if len(question) > limits.max_message_chars or len(body.reason) > limits.max_message_chars:
            raise PayloadTooLarge(
                f"question and reason: at most {limits.max_message_chars} characters each"
            )
        blocked = service.block_question(question, body.reason.strip())
        return blocked_question_out(blocked, service.blocks_apply)

    @app.delete("/v1/operator/blocked-questions/{question_id}", status_code=204, dependencies=deps)
    def unblock_question(question_id: str) -> Response:
        """Let a blocked question be asked again; 404 when it is not blocked."""
        service.unblock_question(question_id)
        return Response(status_code=204)


def _add_pages(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def chat_page() -> str:
        return _page("chat.html")

    @app.get("/operator", response_class=HTMLResponse, include_in_schema=False)
    def operator_page() -> str:
        return _page("operator.html")

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}


def _add_metrics_route(app: FastAPI, metrics: ServingMetrics, guard: Any) -> None:
    @app.get("/metrics", include_in_schema=False, dependencies=[Depends(guard)])
    def scrape() -> Response:
        """Prometheus metrics of this process (behind the API keys when there are any)."""
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)


def _count_responses(app: FastAPI, metrics: ServingMetrics) -> None:
    @app.middleware("http")
    async def count(request: Request, call_next: Any) -> Response:
        try:
            response = await call_next(request)
        except Exception:
            metrics.responded(_route_of(request), 500)  # the 500 handler answers outside
            raise
        metrics.responded(_route_of(request), response.status_code)
        return response


def _route_of(request: Request) -> str:
    """The matched route's template (``/v1/sessions/{session_id}``), else ``unmatched``."""
    return getattr(request.scope.get("route"), "path", "unmatched")


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServingError)
    async def serving_error(request: Request, exc: ServingError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        return JSONResponse({"detail": problems}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error (logged on the server)"}, status_code=500)
