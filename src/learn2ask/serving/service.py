"""The intake logic between the HTTP router and the policy: sessions, red flags, the question
budget, hand-over, operator take-over, retention. Synchronous; the router runs it in threads.

Order on every user message: store it (committed) -> red flags -> (taken over? wait for the
operator) -> question budget -> the policy's decision -> store the reply (committed) -> reply.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from learn2ask.data.types import Turn
from learn2ask.serving.closing import says_done
from learn2ask.serving.config import ServerConfig, ServingSettings
from learn2ask.serving.errors import BadRequest, Conflict, NotFound, PolicyUnavailable
from learn2ask.serving.redflags import RedFlagMatcher
from learn2ask.serving.store import (
    ESCALATION,
    FINISHED,
    HANDOVER,
    BlockedQuestion,
    NewDecision,
    NewMessage,
    SessionRecord,
    SessionStore,
    StateConflict,
)
from learn2ask.serving.summary import extractive_summary, llm_summary_prompt

log = logging.getLogger("learn2ask.serving")
_LOCK_STRIPES = 64
# How many of the question memory's candidates each asked question keeps for the operator view.
EXPLAINED_CANDIDATES = 5


class PolicyBatcher:
    """Runs the policy on one worker thread, batching requests that arrive together.

    The model is loaded once per process and is not shared between threads; concurrent
    sessions wait at most ``wait_s`` to be decided in one batched call.
    """

    def __init__(
        self,
        policy: Any,
        wait_s: float = 0.005,
        max_batch: int = 8,
        observe: Callable[[int, float], None] | None = None,
    ) -> None:
        self.policy = policy
        self.wait_s = wait_s
        self.max_batch = max_batch
        self.observe = observe  # (batch size, seconds) of each policy pass: the metrics
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="policy", daemon=True)
        self._thread.start()

    def decide(self, context: list[Turn], may_stop: bool = True) -> Any:
        """The policy's action for one history (blocks until decided); ``may_stop`` False makes
        it ask."""
        future: Future = Future()
        self._queue.put(("decide", (context, may_stop), future))
        return future.result()

    def call(self, job: Callable[[Any], Any]) -> Any:
        """Run ``job(policy)`` on the policy thread (e.g. an LLM summary)."""
        future: Future = Future()
        self._queue.put(("call", job, future))
        return future.result()

    def close(self) -> None:
        """Stop the worker thread."""
        self._queue.put(None)

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            if item[0] == "call":
                _settle(item[2], lambda job=item[1]: job(self.policy))
                continue
            batch = [item]
            deadline = time.monotonic() + self.wait_s
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is None or nxt[0] != "decide":
                    self._queue.put(nxt)
                    break
                batch.append(nxt)
            self._decide_batch(batch)

    def _decide_batch(self, batch: list[tuple]) -> None:
        started = time.perf_counter()
        try:
            requests = [request for _, request, _ in batch]
            actions = self.policy.decide(
                [context for context, _ in requests], may_stop=[may for _, may in requests]
            )
        except Exception as exc:  # noqa: BLE001 - reported to every waiting request
            for _, _, future in batch:
                future.set_exception(exc)
            return
        seconds = _since(started)
        for (_, _, future), action in zip(batch, actions, strict=True):
            future.set_result(action)
        if self.observe is not None:  # after the answers; a metrics fault must not end the loop
            try:
                self.observe(len(batch), seconds)
            except Exception as exc:  # noqa: BLE001
                log.warning("policy metrics failed: %s", exc)


def _settle(future: Future, job: Callable[[], Any]) -> None:
    try:
        future.set_result(job())
    except Exception as exc:  # noqa: BLE001
        future.set_exception(exc)


@dataclass
class NextAction:
    """What the assistant does after a user message."""

    action: str  # ask | stop | escalate | operator
    session_id: str
    state: str
    question: str | None = None
    summary: str | None = None
    reason: str | None = None
    message: str | None = None
    p_stop: float | None = None
    latency_s: float = 0.0
    source: str | None = None  # who decided: policy, budget, user, red_flags, operator


class IntakeService:
    """Sessions on top of a store and a policy (through a :class:`PolicyBatcher`)."""

    def __init__(
        self,
        store: SessionStore,
        batcher: PolicyBatcher,
        settings: ServingSettings,
        config: ServerConfig,
        expert: str = "expert",
    ) -> None:
        self.store = store
        self.batcher = batcher
        self.settings = settings
        self.config = config
        self.expert = expert
        self.red_flags = RedFlagMatcher(settings.red_flags)
        self._locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]

    def _lock(self, session_id: str) -> threading.Lock:
        return self._locks[hash(session_id) % _LOCK_STRIPES]

    # -- sessions ------------------------------------------------------------------------
    def create(self, domain: str | None, content: str | None) -> tuple[SessionRecord, Any]:
        """A new session (disclaimer and greeting stored once); answers ``content`` if given."""
        if domain is not None and domain != self.config.domain:
            raise BadRequest(f"this server serves domain '{self.config.domain}', not '{domain}'")
        now = time.time()
        record = SessionRecord(
            id=uuid.uuid4().hex,
            domain=self.config.domain,
            state="open",
            created_at=now,
            updated_at=now,
        )
        opening = [NewMessage("system", "system", t) for t in self._opening() if t]
        self.store.create(record, opening)
        reply = self.post_message(record.id, content) if content else None
        return record, reply

    def _opening(self) -> list[str]:
        return [self.settings.disclaimer, self.settings.greeting]

    def get(self, session_id: str) -> SessionRecord:
        """The whole session, or :class:`NotFound`."""
        record = self.store.get(session_id)
        if record is None:
            raise NotFound(f"no session '{session_id}' (never created, deleted or expired)")
        return record

    def finish(self, session_id: str) -> NextAction:
        """The user says they have nothing more to add: hand over now, with the summary, as a
        STOP would (its decision's source ``user``). The policy may keep asking where the
        logs it learned from never looked like this conversation's end (the README's limits);
        the user need not answer every question of the budget to reach a person. (Not a
        ``reason``: that is a red flag's, which the pages show as urgent.)"""
        with self._lock(session_id):
            started = time.perf_counter()
            record = self.get(session_id)
            if record.state != "open":
                raise Conflict(
                    f"session '{session_id}' is {record.state}; only an open session is "
                    "handed over at the user's request"
                )
            if record.user_turns == 0:
                raise Conflict(
                    f"session '{session_id}' has no message to hand over yet; send one first"
                )
            return self._stop(record, None, "user", started, {})

    def close(self, session_id: str) -> SessionRecord:
        """Mark a session closed: no more messages of any kind."""
        with self._lock(session_id):
            return self._append(session_id, updates={"state": "closed"})

    def delete(self, session_id: str) -> None:
        """Delete a session and its transcript for good."""
        if not self.store.delete(session_id):
            raise NotFound(f"no session '{session_id}' (never created, deleted or expired)")

    def purge_expired(self) -> int:
        """Delete sessions idle for longer than the retention period; how many."""
        cutoff = time.time() - self.config.retention_days * 86400
        purged = self.store.purge(cutoff)
        if purged:
            log.info(
                "purged %d session(s) past the %g-day retention", purged, self.config.retention_days
            )
        return purged

    # -- the user's turn -----------------------------------------------------------------
    def post_message(self, session_id: str, content: str) -> NextAction:
        """Store the user's message, then decide and store the next action: escalate on a red
        flag, hand over when the message only says the user is done (after a question), when
        the question budget is spent, or when the policy stops; else ask."""
        with self._lock(session_id):
            started = time.perf_counter()
            record = self._store_user_message(session_id, content)
            hit = self.red_flags.check(content)
            if hit is not None:
                return self._escalate(record, hit, started)
            if record.state == "operator":
                return NextAction(
                    "operator",
                    session_id,
                    record.state,
                    message="Your message was passed to the expert.",
                    latency_s=_since(started),
                    source="operator",
                )
            if record.questions and says_done(content, self.settings.finish_phrases):
                return self._stop(record, None, "user", started, {"said": "done"})
            if record.questions >= self.settings.question_budget:
                return self._stop(record, None, "budget", started, {"budget": record.questions})
            return self._decide(record, started)

    def _store_user_message(self, session_id: str, content: str) -> SessionRecord:
        record = self.get(session_id)
        self._check_accepts_user(record)
        return self._append(
            session_id,
            messages=[NewMessage("user", "user", content)],
            updates={"user_turns": record.user_turns + 1},
            require_states=("open", "operator"),
        )

    def _check_accepts_user(self, record: SessionRecord) -> None:
        if record.state in FINISHED:
            detail = {"stopped": "the assistant has handed over", "escalated": "it was escalated"}
            why = detail.get(record.state, "it was closed")
            raise Conflict(
                f"session '{record.id}' is {record.state} ({why}) and takes no more messages; "
                "start a new session"
            )
        cap = self.config.limits.max_user_turns
        if record.user_turns >= cap:
            raise Conflict(f"session '{record.id}' reached the turn cap ({cap} user messages)")

    def _append(self, session_id: str, **kwargs: Any) -> SessionRecord:
        try:
            return self.store.append(session_id, **kwargs)
        except KeyError:
            raise NotFound(
                f"no session '{session_id}' (never created, deleted or expired)"
            ) from None
        except StateConflict as exc:
            raise Conflict(
                f"session '{session_id}' is {exc.args[0]}; this is not allowed now"
            ) from None

    def _escalate(self, record: SessionRecord, hit: Any, started: float) -> NextAction:
        state = "operator" if record.state == "operator" else "escalated"
        message = self.settings.urgent_message
        self._append(
            record.id,
            messages=[NewMessage("system", ESCALATION, message)],
            decision=NewDecision(
                "escalate",
                "red_flags",
                None,
                _since(started),
                {"rule": hit.rule_id, "phrases": list(hit.phrases), "version": hit.version},
            ),
            updates={"state": state, "reason": hit.reason},
        )
        return NextAction(
            "escalate",
            record.id,
            state,
            reason=hit.reason,
            message=message,
            latency_s=_since(started),
            source="red_flags",
        )

    def _decide(self, record: SessionRecord, started: float) -> NextAction:
        full = self.get(record.id)
        context = [Turn(m.role, m.content) for m in full.messages if m.role in ("user", "expert")]
        # Experts nearly always ask before they act: the domain's min_questions holds the
        # policy's STOP back until that many questions were asked (red flags still escalate).
        may_stop = record.questions >= self.settings.min_questions
        try:
            self._apply_block_list()
            action = self.batcher.decide(context, may_stop)
        except Exception as exc:  # noqa: BLE001 - any policy failure is a 503, never a 500
            log.warning("policy failed on session %s: %s", record.id, exc)
            raise PolicyUnavailable(
                f"the policy failed ({exc}); your message was kept in session {record.id}"
            ) from None
        detail = {"rule": getattr(getattr(self.batcher.policy, "rule", None), "rule", None)}
        if not may_stop:
            detail["min_questions"] = self.settings.min_questions
        if action.action == "stop" or not (action.question or "").strip():
            if action.action != "stop":
                detail["empty_question"] = True
            return self._stop(full, action.p_stop, "policy", started, detail)
        question = action.question.strip()
        candidates = self._candidates(context)
        if candidates:
            detail["candidates"] = candidates
        self._append(
            record.id,
            messages=[NewMessage("expert", "policy", question)],
            decision=NewDecision("ask", "policy", action.p_stop, _since(started), detail),
            updates={"questions": record.questions + 1},
            require_states=("open",),
        )
        return NextAction(
            "ask",
            record.id,
            "open",
            question=question,
            p_stop=action.p_stop,
            latency_s=_since(started),
            source="policy",
        )

    def _stop(
        self,
        record: SessionRecord,
        p_stop: float | None,
        source: str,
        started: float,
        detail: dict[str, Any],
    ) -> NextAction:
        full = record if record.messages else self.get(record.id)
        summary = extractive_summary(full.messages, self.expert)
        meta = dict(full.meta)
        if self.config.llm_summary:
            meta["llm_summary"] = self._llm_summary(summary)
        text = f"{self.settings.handover_message}\n\n{summary}"
        self._append(
            record.id,
            messages=[NewMessage("system", HANDOVER, text)],
            decision=NewDecision("stop", source, p_stop, _since(started), detail),
            updates={"state": "stopped", "summary": summary, "meta": meta},
            require_states=("open",),
        )
        return NextAction(
            "stop",
            record.id,
            "stopped",
            summary=summary,
            message=self.settings.handover_message,
            p_stop=p_stop,
            latency_s=_since(started),
            source=source,
        )

    def _llm_summary(self, summary: str) -> str | None:
        from learn2ask.models.generation import GenerationConfig

        prompt = llm_summary_prompt(summary, self.expert)
        config = GenerationConfig(max_new_tokens=120)
        try:
            return self.batcher.call(lambda policy: policy.generate([prompt], config)[0])
        except Exception as exc:  # noqa: BLE001 - the extractive summary stands alone
            log.warning("LLM summary failed: %s", exc)
            return None

    # -- the operator --------------------------------------------------------------------
    def take_over(self, session_id: str) -> SessionRecord:
        """An expert takes the session: the policy is no longer asked."""
        with self._lock(session_id):
            return self._append(
                session_id,
                messages=[NewMessage("system", "system", self.settings.operator_message)],
                decision=NewDecision("takeover", "operator", None, 0.0, {}),
                updates={"state": "operator"},
                require_states=("open", "stopped", "escalated", "operator"),
            )

    def operator_message(self, session_id: str, content: str) -> SessionRecord:
        """The expert's answer, stored as an expert turn (it counts as one in exports)."""
        with self._lock(session_id):
            return self._append(
                session_id,
                messages=[NewMessage("expert", "operator", content)],
                require_states=("operator",),
            )

    def rate_question(self, session_id: str, seq: int, relevant: bool | None) -> SessionRecord:
        """An operator's rating of a question the assistant asked (message ``seq``): on the
        point or not (None takes it back); what ``export-sessions --ratings`` writes as
        relevance labels. :class:`NotFound` for an unknown session or message,
        :class:`Conflict` for a message that is not the assistant's question."""
        record = self.get(session_id)
        message = next((m for m in record.messages if m.seq == seq), None)
        if message is None:
            raise NotFound(f"session '{session_id}' has no message {seq}")
        if (message.role, message.author) != ("expert", "policy"):
            raise Conflict(
                f"message {seq} of session '{session_id}' is not a question the assistant "
                "asked; only those are rated"
            )
        self.store.rate_question(session_id, seq, relevant)
        return self.get(session_id)

    def _candidates(self, context: list[Turn]) -> list[dict[str, Any]]:
        """Why the question memory asked what it asked: its best-voted candidates for this
        context and what became of each (``QuestionMemory.explain``), kept with the decision
        for the operator view; [] without a memory, or when explaining fails (the question is
        asked all the same)."""
        if self._memory() is None:
            return []
        try:
            return self.batcher.call(
                lambda policy: policy.memory.explain(context, top=EXPLAINED_CANDIDATES)
            )
        except Exception as exc:  # noqa: BLE001 - an explanation never costs the user a reply
            log.warning("could not explain a question: %s", exc)
            return []

    # -- the block list ------------------------------------------------------------------
    def _memory(self) -> Any:
        return getattr(self.batcher.policy, "memory", None)

    @property
    def blocks_apply(self) -> bool:
        """Whether the block list changes what is asked: it is the question memory's (a run
        whose policy generates every question has none)."""
        return self._memory() is not None

    def block_question(self, question: str, reason: str = "") -> BlockedQuestion:
        """Never ask ``question`` again (in any session, from the next decision on)."""
        return self.store.block_question(question, reason)

    def unblock_question(self, question_id: str) -> None:
        """Let a blocked question be asked again; :class:`NotFound` when it is not blocked."""
        if not self.store.unblock_question(question_id):
            raise NotFound(f"no blocked question '{question_id}'")

    def blocked_questions(self) -> list[BlockedQuestion]:
        """The block list, most recently blocked first."""
        return self.store.blocked_questions()

    def _apply_block_list(self) -> None:
        # Read on every decision: replicas sharing a PostgreSQL store see one list, and a
        # block takes effect at the next question (one small query).
        memory = self._memory()
        if memory is not None:
            memory.block([b.question for b in self.store.blocked_questions()])


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 4)
