"""Session storage: one small interface, SQLite (default, WAL) or PostgreSQL (several replicas).

Every write is one transaction committed before the caller replies, so an acknowledged message
survives a crash (SQLite runs ``synchronous=FULL``). A write that changes a session re-reads
its row under a lock (``BEGIN IMMEDIATE`` / ``SELECT ... FOR UPDATE``) and can require a state,
so two replicas cannot both move one session on.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learn2ask.data.questions import question_key
from learn2ask.errors import ConfigError

STATES: tuple[str, ...] = ("open", "operator", "stopped", "escalated", "closed")
FINISHED: tuple[str, ...] = ("stopped", "escalated", "closed")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS sessions (
        id TEXT PRIMARY KEY, domain TEXT NOT NULL, state TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
        questions INTEGER NOT NULL DEFAULT 0, user_turns INTEGER NOT NULL DEFAULT 0,
        summary TEXT, reason TEXT, meta TEXT NOT NULL DEFAULT '{}')""",
    """CREATE TABLE IF NOT EXISTS messages (
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL, role TEXT NOT NULL, author TEXT NOT NULL, content TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (session_id, seq))""",
    """CREATE TABLE IF NOT EXISTS decisions (
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL, action TEXT NOT NULL, source TEXT NOT NULL,
        p_stop DOUBLE PRECISION, latency_s DOUBLE PRECISION NOT NULL, detail TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (session_id, seq))""",
    "CREATE INDEX IF NOT EXISTS sessions_updated ON sessions (updated_at)",
    # an operator's judgement of a question the assistant asked: on the point (1) or not (0)
    """CREATE TABLE IF NOT EXISTS question_ratings (
        session_id TEXT NOT NULL, seq INTEGER NOT NULL, relevant INTEGER NOT NULL,
        rated_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (session_id, seq),
        FOREIGN KEY (session_id, seq) REFERENCES messages(session_id, seq) ON DELETE CASCADE)""",
    # questions an operator never wants asked again (the policy's question memory skips them)
    """CREATE TABLE IF NOT EXISTS blocked_questions (
        id TEXT PRIMARY KEY, question TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
        blocked_at DOUBLE PRECISION NOT NULL)""",
)
_SESSION_COLUMNS = (
    "id, domain, state, created_at, updated_at, questions, user_turns, summary, reason, meta"
)
_UPDATABLE = ("state", "questions", "user_turns", "summary", "reason", "meta")


class StateConflict(Exception):
    """The session is not in a state that allows the write (the message says which)."""


# Authors of the system messages that end the assistant's part of a session.
HANDOVER, ESCALATION = "handover", "escalation"


@dataclass(frozen=True)
class Message:
    """One stored message. ``role``: user | expert | system; ``author``: user | policy |
    operator | system, or for the system texts that end the assistant's part
    :data:`HANDOVER` and :data:`ESCALATION` (``export-sessions`` writes them as the expert's
    terminal action)."""

    seq: int
    role: str
    author: str
    content: str
    created_at: float
    # an operator's rating of a question the assistant asked (None: not rated)
    relevant: bool | None = None


@dataclass(frozen=True)
class Decision:
    """One stored next-action decision (``source``: policy | red_flags | budget | operator)."""

    seq: int
    action: str
    source: str
    p_stop: float | None
    latency_s: float
    detail: dict[str, Any]
    created_at: float


@dataclass(frozen=True)
class NewMessage:
    """A message to append (its sequence number is assigned by the store)."""

    role: str
    author: str
    content: str


@dataclass(frozen=True)
class NewDecision:
    """A decision to append."""

    action: str
    source: str
    p_stop: float | None
    latency_s: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BlockedQuestion:
    """A question an operator blocked: ``id`` is the same for every wording with the same
    :func:`~learn2ask.data.questions.question_key`."""

    id: str
    question: str
    reason: str
    blocked_at: float


def blocked_question_id(question: str) -> str:
    """The block list's id of ``question`` (16 hex digits of its key's SHA-256)."""
    return hashlib.sha256(question_key(question).encode("utf-8")).hexdigest()[:16]


@dataclass
class SessionRecord:
    """A session row, with its messages and decisions when loaded whole."""

    id: str
    domain: str
    state: str
    created_at: float
    updated_at: float
    questions: int = 0
    user_turns: int = 0
    summary: str | None = None
    reason: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)


class SessionStore:
    """SQL session store; :func:`open_store` picks the backend from the URL."""

    placeholder = "?"
    for_update = ""

    def __init__(self) -> None:
        self._local = threading.local()

    # -- backend hooks -------------------------------------------------------------------
    def _connect(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    @contextmanager
    def _transaction(self) -> Iterator[Any]:  # pragma: no cover - overridden
        raise NotImplementedError
        yield

    # -- shared SQL ----------------------------------------------------------------------
    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def _sql(self, text: str) -> str:
        return text.replace("?", self.placeholder)

    def _exec(self, cur: Any, text: str, params: tuple = ()) -> Any:
        cur.execute(self._sql(text), params)
        return cur

    def init_schema(self) -> None:
        """Create the tables when missing (safe to call from several processes)."""
        with self._transaction() as cur:
            self._lock_schema(cur)
            for statement in _SCHEMA:
                cur.execute(statement)

    def _lock_schema(self, cur: Any) -> None:
        """Serialise schema creation between processes (PostgreSQL)."""

    def create(self, record: SessionRecord, messages: list[NewMessage]) -> None:
        """Insert a new session with its first messages, in one transaction."""
        with self._transaction() as cur:
            self._exec(
                cur,
                f"INSERT INTO sessions ({_SESSION_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    record.id,
                    record.domain,
                    record.state,
                    record.created_at,
                    record.updated_at,
                    record.questions,
                    record.user_turns,
                    record.summary,
                    record.reason,
                    json.dumps(record.meta),
                ),
            )
            self._insert_messages(cur, record.id, messages, record.created_at)

    def append(
        self,
        session_id: str,
        messages: list[NewMessage] | tuple = (),
        decision: NewDecision | None = None,
        updates: dict[str, Any] | None = None,
        require_states: tuple[str, ...] | None = None,
    ) -> SessionRecord:
        """Append messages/a decision and update fields atomically; the row after the write.

        Raises ``KeyError`` for an unknown session and :class:`StateConflict` when its state
        is not in ``require_states``.
        """
        now = time.time()
        with self._transaction() as cur:
            row = self._exec(
                cur,
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = ?{self.for_update}",
                (session_id,),
            ).fetchone()
            if row is None:
                raise KeyError(session_id)
            record = _record(row)
            if require_states is not None and record.state not in require_states:
                raise StateConflict(record.state)
            self._insert_messages(cur, session_id, list(messages), now)
            if decision is not None:
                self._insert_decision(cur, session_id, decision, now)
            changes = {k: v for k, v in (updates or {}).items() if k in _UPDATABLE}
            for key, value in changes.items():
                setattr(record, key, value)
            record.updated_at = now
            changes["updated_at"] = now
            if "meta" in changes:
                changes["meta"] = json.dumps(changes["meta"])
            assignments = ", ".join(f"{k} = ?" for k in changes)
            self._exec(
                cur,
                f"UPDATE sessions SET {assignments} WHERE id = ?",
                (*changes.values(), session_id),
            )
        return record

    def _insert_messages(
        self, cur: Any, session_id: str, messages: list[NewMessage], now: float
    ) -> None:
        if not messages:
            return
        start = self._next_seq(cur, "messages", session_id)
        for offset, message in enumerate(messages):
            self._exec(
                cur,
                "INSERT INTO messages (session_id, seq, role, author, content, created_at) "
                "VALUES (?,?,?,?,?,?)",
                (session_id, start + offset, message.role, message.author, message.content, now),
            )

    def _insert_decision(
        self, cur: Any, session_id: str, decision: NewDecision, now: float
    ) -> None:
        seq = self._next_seq(cur, "decisions", session_id)
        self._exec(
            cur,
            "INSERT INTO decisions (session_id, seq, action, source, p_stop, latency_s, detail, "
            "created_at) VALUES (?,?,?,?,?,?,?,?)",
            (
                session_id,
                seq,
                decision.action,
                decision.source,
                decision.p_stop,
                decision.latency_s,
                json.dumps(decision.detail),
                now,
            ),
        )

    def _next_seq(self, cur: Any, table: str, session_id: str) -> int:
        row = self._exec(
            cur, f"SELECT COALESCE(MAX(seq), -1) FROM {table} WHERE session_id = ?", (session_id,)
        ).fetchone()
        return int(row[0]) + 1

    def get(self, session_id: str) -> SessionRecord | None:
        """The whole session (messages and decisions in order), or None."""
        with self._transaction() as cur:
            row = self._exec(
                cur, f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
            if row is None:
                return None
            record = _record(row)
            ratings = dict(
                self._exec(
                    cur,
                    "SELECT seq, relevant FROM question_ratings WHERE session_id = ?",
                    (session_id,),
                ).fetchall()
            )
            record.messages = [
                Message(*m, relevant=bool(ratings[m[0]]) if m[0] in ratings else None)
                for m in self._exec(
                    cur,
                    "SELECT seq, role, author, content, created_at FROM messages "
                    "WHERE session_id = ? ORDER BY seq",
                    (session_id,),
                ).fetchall()
            ]
            record.decisions = [
                Decision(d[0], d[1], d[2], d[3], d[4], json.loads(d[5]), d[6])
                for d in self._exec(
                    cur,
                    "SELECT seq, action, source, p_stop, latency_s, detail, created_at "
                    "FROM decisions WHERE session_id = ? ORDER BY seq",
                    (session_id,),
                ).fetchall()
            ]
        return record

    def list_sessions(self, limit: int = 100, offset: int = 0) -> list[SessionRecord]:
        """Session rows, most recently updated first (without messages)."""
        with self._transaction() as cur:
            rows = self._exec(
                cur,
                f"SELECT {_SESSION_COLUMNS} FROM sessions ORDER BY updated_at DESC "
                "LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
        return [_record(r) for r in rows]

    def session_ids(self, states: tuple[str, ...] | None = None) -> list[str]:
        """Ids of every session (or of those in ``states``), oldest first."""
        with self._transaction() as cur:
            rows = self._exec(cur, "SELECT id, state FROM sessions ORDER BY created_at").fetchall()
        return [r[0] for r in rows if states is None or r[1] in states]

    def delete(self, session_id: str) -> bool:
        """Delete a session and everything in it; False when it did not exist."""
        with self._transaction() as cur:
            return self._delete_where(cur, "id = ?", (session_id,)) > 0

    def purge(self, updated_before: float) -> int:
        """Delete sessions not updated since ``updated_before`` (epoch seconds); how many."""
        with self._transaction() as cur:
            return self._delete_where(cur, "updated_at < ?", (updated_before,))

    def _delete_where(self, cur: Any, where: str, params: tuple) -> int:
        ids = [r[0] for r in self._exec(cur, f"SELECT id FROM sessions WHERE {where}", params)]
        for session_id in ids:
            for table in ("question_ratings", "messages", "decisions"):
                self._exec(cur, f"DELETE FROM {table} WHERE session_id = ?", (session_id,))
            self._exec(cur, "DELETE FROM sessions WHERE id = ?", (session_id,))
        return len(ids)

    def rate_question(self, session_id: str, seq: int, relevant: bool | None) -> None:
        """Record an operator's rating of message ``seq`` (a question the assistant asked) as
        on the point or not; None takes the rating back."""
        with self._transaction() as cur:
            self._exec(
                cur,
                "DELETE FROM question_ratings WHERE session_id = ? AND seq = ?",
                (session_id, seq),
            )
            if relevant is not None:
                self._exec(
                    cur,
                    "INSERT INTO question_ratings (session_id, seq, relevant, rated_at) "
                    "VALUES (?,?,?,?)",
                    (session_id, seq, int(relevant), time.time()),
                )

    def block_question(self, question: str, reason: str = "") -> BlockedQuestion:
        """Add ``question`` to the block list (again: its reason and time are updated)."""
        blocked = BlockedQuestion(blocked_question_id(question), question, reason, time.time())
        with self._transaction() as cur:
            self._exec(
                cur,
                "INSERT INTO blocked_questions (id, question, reason, blocked_at) VALUES "
                "(?,?,?,?) ON CONFLICT (id) DO UPDATE SET question = excluded.question, "
                "reason = excluded.reason, blocked_at = excluded.blocked_at",
                (blocked.id, blocked.question, blocked.reason, blocked.blocked_at),
            )
        return blocked

    def unblock_question(self, question_id: str) -> bool:
        """Take a question off the block list; False when it was not on it."""
        with self._transaction() as cur:
            cur = self._exec(cur, "DELETE FROM blocked_questions WHERE id = ?", (question_id,))
            return cur.rowcount > 0

    def blocked_questions(self) -> list[BlockedQuestion]:
        """The block list, most recently blocked first."""
        with self._transaction() as cur:
            rows = self._exec(
                cur,
                "SELECT id, question, reason, blocked_at FROM blocked_questions "
                "ORDER BY blocked_at DESC",
            ).fetchall()
        return [BlockedQuestion(*r) for r in rows]

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _record(row: tuple) -> SessionRecord:
    return SessionRecord(
        id=row[0],
        domain=row[1],
        state=row[2],
        created_at=row[3],
        updated_at=row[4],
        questions=row[5],
        user_turns=row[6],
        summary=row[7],
        reason=row[8],
        meta=json.loads(row[9] or "{}"),
    )


class SQLiteStore(SessionStore):
    """SQLite in WAL mode, ``synchronous=FULL``; one connection per thread."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        if self.path.is_dir():
            raise ConfigError(f"--db {self.path}: is a directory, expected a SQLite file")
        if not self.path.parent.is_dir():
            raise ConfigError(f"--db {self.path}: folder {self.path.parent} does not exist")

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"--db {self.path}: not a usable SQLite database ({exc})") from None
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        conn = self._conn()
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


class PostgresStore(SessionStore):
    """PostgreSQL through psycopg 3; one connection per thread, row locks per write."""

    placeholder = "%s"
    for_update = " FOR UPDATE"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        try:
            import psycopg  # noqa: F401
        except ImportError:  # pragma: no cover - psycopg is a dependency
            hint = "pip install 'psycopg[binary]'"
            raise ConfigError(f"a PostgreSQL --db needs psycopg: {hint}") from None

    def _connect(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self.url, connect_timeout=10, autocommit=True)
        except psycopg.OperationalError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreachable"
            raise ConfigError(f"--db: cannot connect to PostgreSQL ({reason})") from None

    def _lock_schema(self, cur: Any) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(424242)")

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        conn = self._conn()
        if conn.closed:
            conn = self._local.conn = self._connect()
        with conn.transaction(), conn.cursor() as cur:
            yield cur


def open_store(db: str) -> SessionStore:
    """A store for ``db``: ``postgresql://...`` or a SQLite file path; schema ensured."""
    if db.startswith(("postgresql://", "postgres://")):
        store: SessionStore = PostgresStore(db)
    else:
        store = SQLiteStore(db.removeprefix("sqlite:///"))
    store.init_schema()
    return store


def redact_url(db: str) -> str:
    """``db`` with any password replaced by ``***`` (for logs)."""
    import re

    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", db)
