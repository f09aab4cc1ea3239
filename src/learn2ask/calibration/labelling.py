"""The labelling page: a person grades candidate questions (R_a 0/0.5/1) and checks I* items.

One card at a time, keyboard first (see ``static/app.js``); labels go to SQLite with the
labeller's id and the time, and export as JSONL that ``learn2ask calibrate --labels`` reads (each
grade label embeds its sample, so no samples file is needed later). Cards are queued most
informative first: questions whose embedding similarity sits near a grade threshold, questions
on which two graders disagree (given another grader's ``scores.jsonl``), plus a random share so
the labels also describe the typical case. Nothing is loaded from the internet.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import threading
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import Request  # at module level: FastAPI resolves the handlers' annotations

from learn2ask.data.types import Sample

STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css"}
LABELLER_RE = re.compile(r"^[\w.@-]{1,64}$")
CONTEXT_TURNS = 8
# Queue order: grade disagreements (1-2), close grade calls (0-1), extraction cards whose I*
# the rule sets see differently (0.45), random draws (0.3), other extraction cards (0.05).
RANDOM_PRIORITY = 0.3
FUTURE_TURNS = 16
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS cards (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, "
    "sample_id TEXT NOT NULL, question TEXT NOT NULL, payload TEXT NOT NULL, "
    "priority REAL NOT NULL, reason TEXT NOT NULL, UNIQUE (kind, sample_id, question))",
    "CREATE TABLE IF NOT EXISTS labels (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "card_id INTEGER NOT NULL REFERENCES cards(id), labeller TEXT NOT NULL, value TEXT, "
    "skipped INTEGER NOT NULL, created_at TEXT NOT NULL, undone INTEGER NOT NULL DEFAULT 0)",
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class LabelStore:
    """Cards and labels in one SQLite file (thread-safe; every write is committed at once)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        for statement in SCHEMA:
            self._db.execute(statement)
        self._db.commit()

    def add_card(
        self, kind: str, sample_id: str, question: str, payload: dict, priority: float, reason: str
    ) -> bool:
        """Queue a card; False when the same card is already queued."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO cards (kind, sample_id, question, payload, priority, "
                "reason) VALUES (?, ?, ?, ?, ?, ?)",
                (kind, sample_id, question, json.dumps(payload), priority, reason),
            )
            self._db.commit()
            return cursor.rowcount == 1

    def card(self, card_id: int) -> dict[str, Any] | None:
        """One card as the page shows it, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, kind, sample_id, question, payload, reason FROM cards WHERE id = ?",
                (card_id,),
            ).fetchone()
        if row is None:
            return None
        return {
            "id": row[0],
            "kind": row[1],
            "sample_id": row[2],
            "question": row[3],
            **json.loads(row[4]),
            "reason": row[5],
        }

    def next_card(self, labeller: str) -> dict[str, Any] | None:
        """The most informative card this labeller has neither labelled nor skipped."""
        with self._lock:
            row = self._db.execute(
                "SELECT id FROM cards WHERE id NOT IN (SELECT card_id FROM labels WHERE "
                "labeller = ? AND undone = 0) ORDER BY priority DESC, id LIMIT 1",
                (labeller,),
            ).fetchone()
        return None if row is None else self.card(row[0])

    def progress(self, labeller: str) -> dict[str, int]:
        """Cards in the queue, and how many this labeller labelled or skipped."""
        with self._lock:
            total = self._db.execute("SELECT COUNT(*) FROM cards").fetchone()[0]
            done, skipped = self._db.execute(
                "SELECT COALESCE(SUM(skipped = 0), 0), COALESCE(SUM(skipped = 1), 0) FROM labels "
                "WHERE labeller = ? AND undone = 0",
                (labeller,),
            ).fetchone()
        return {"total": total, "labelled": done, "skipped": skipped}

    def record(self, card_id: int, labeller: str, value: dict[str, Any] | None) -> int:
        """Store a label (``value`` None = skipped); returns its id."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO labels (card_id, labeller, value, skipped, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    card_id,
                    labeller,
                    None if value is None else json.dumps(value),
                    value is None,
                    _now(),
                ),
            )
            self._db.commit()
            return int(cursor.lastrowid or 0)

    def undo(self, labeller: str) -> int | None:
        """Withdraw this labeller's latest label or skip; returns its card id (None: nothing)."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, card_id FROM labels WHERE labeller = ? AND undone = 0 "
                "ORDER BY id DESC LIMIT 1",
                (labeller,),
            ).fetchone()
            if row is None:
                return None
            self._db.execute("UPDATE labels SET undone = 1 WHERE id = ?", (row[0],))
            self._db.commit()
        return int(row[1])

    def label_rows(self) -> list[tuple[int, str, str, str]]:
        """``(card_id, labeller, value JSON, time)`` of every active, non-skipped label."""
        with self._lock:
            return self._db.execute(
                "SELECT card_id, labeller, value, created_at FROM labels "
                "WHERE undone = 0 AND skipped = 0 ORDER BY id"
            ).fetchall()


def export_rows(store: LabelStore) -> list[dict[str, Any]]:
    """Labels as the JSONL rows ``learn2ask calibrate --labels`` reads."""
    rows = []
    for card_id, labeller, value, created in store.label_rows():
        card = store.card(card_id)
        if card is None:
            continue
        data = json.loads(value)
        common = {"id": card["sample_id"], "labeller": labeller, "time": created}
        if card["kind"] == "grade":
            rows.append(
                {
                    "kind": "grade",
                    **common,
                    "question": card["question"],
                    "label": data["label"],
                    "reason": card["reason"],
                    "sample": card["sample"],
                }
            )
        else:
            items = [
                {"text": text, "verdict": data["verdicts"][i]}
                for i, text in enumerate(card["items"])
            ]
            rows.append(
                {
                    "kind": "extraction",
                    **common,
                    "items": items,
                    "missing": data["missing"],
                    "sample": card["sample"],
                }
            )
    return rows


def export_labels(store: LabelStore, path: Path) -> int:
    """Write the labels as JSONL; returns how many."""
    from learn2ask.io import write_jsonl_atomic

    return write_jsonl_atomic(path, export_rows(store))


def load_other_scores(path: Path) -> dict[tuple[str, str], float]:
    """R_a of another grader from a ``grade`` output ``scores.jsonl``, keyed by (id, response)."""
    from learn2ask.errors import InputError
    from learn2ask.io import iter_jsonl

    scores = {}
    for number, row in iter_jsonl(path):
        if not isinstance(row, dict) or "id" not in row or "response" not in row:
            raise InputError(path, "need 'id', 'response' and 'r_a' (a grade scores.jsonl)", number)
        if row.get("r_a") is not None:
            scores[(str(row["id"]), str(row["response"]))] = float(row["r_a"])
    return scores


def _grade_payload(sample: Sample, question: str, response: str) -> dict[str, Any]:
    return {
        "context": [t.to_dict() for t in sample.context[-CONTEXT_TURNS:]],
        "info_set": list(sample.info_set),
        "response": response,
        "sample": sample.to_dict(),
    }


def _priority(similarity: float, full: float, half: float) -> float:
    """1 at a threshold, falling to 0 at 0.25 away from the nearest one."""
    return max(0.0, 1.0 - min(abs(similarity - full), abs(similarity - half)) / 0.25)


def grade_candidates(
    samples: list[Sample],
    responses: list[tuple[str, str]],
    other_scores: dict[tuple[str, str], float] | None = None,
) -> list[dict[str, Any]]:
    """Every gradeable (sample, question) pair with how informative it is to label.

    Informative: the embedding similarity is near a threshold (the grade is a close call), or
    another grader's R_a (``other_scores``, keyed by (id, response)) disagrees with it.
    """
    from learn2ask.models.policy import parse_policy_response
    from learn2ask.rewards.graders.embedding import EmbeddingGrader

    by_id = {s.id: s for s in samples}
    pairs = []
    for sample_id, response in responses:
        sample = by_id[sample_id]
        question = parse_policy_response(response).question
        if question and sample.info_set:
            pairs.append((sample, question, response))
    if not pairs:
        return []
    grader = EmbeddingGrader()
    sims = grader.similarities([q for _, q, _ in pairs], [s for s, _, _ in pairs])
    full, half = grader.config.full_threshold, grader.config.half_threshold
    out = []
    for (sample, question, response), sim in zip(pairs, sims, strict=True):
        score = grader.score(sim or 0.0)
        priority = _priority(sim or 0.0, full, half)
        reason = f"embedding similarity {sim:.2f} (R_a {score}) near a threshold"
        other = (other_scores or {}).get((sample.id, response))
        if other is not None and other != score:
            priority += 1.0
            reason = f"graders disagree: embedding R_a {score}, other grader {other}"
        out.append(
            {
                "sample": sample,
                "question": question,
                "payload": _grade_payload(sample, question, response),
                "priority": round(priority, 4),
                "reason": reason,
            }
        )
    return out


def extraction_candidates(samples: list[Sample]) -> list[dict[str, Any]]:
    """Samples whose I* the v1 and current qa rules see differently come first."""
    from learn2ask.targets.qa import V1_CONFIG, QAExtractor

    v1 = QAExtractor(V1_CONFIG)
    out = []
    for sample in samples:
        before = [i.text for i in v1.items_in_future(sample.future)]
        differs = before != list(sample.info_set)
        out.append(
            {
                "sample": sample,
                "question": "",
                "payload": {
                    "context": [t.to_dict() for t in sample.context[-CONTEXT_TURNS:]],
                    "future": [t.to_dict() for t in sample.future[:FUTURE_TURNS]],
                    "items": list(sample.info_set),
                    "decision": sample.decision,
                    "sample": sample.to_dict(),
                },
                "priority": 0.45 if differs else 0.05,
                "reason": "extraction rules disagree on this I*" if differs else "random",
            }
        )
    return out


def _choose(candidates: list[dict], count: int, random_share: float, rng: random.Random) -> list:
    """The ``count`` most informative candidates, with ``random_share`` of slots drawn at random."""
    ordered = sorted(candidates, key=lambda c: -c["priority"])
    n_random = round(count * random_share)
    chosen = ordered[: max(0, count - n_random)]
    rest = ordered[len(chosen) :]
    for candidate in rng.sample(rest, min(n_random, len(rest))):
        chosen.append({**candidate, "priority": RANDOM_PRIORITY, "reason": "random draw"})
    return chosen


def build_cards(
    store: LabelStore,
    samples: list[Sample],
    responses: list[tuple[str, str]],
    max_cards: int = 300,
    extraction_cards: int = 30,
    random_share: float = 0.2,
    seed: int = 0,
    other_scores: dict[tuple[str, str], float] | None = None,
) -> int:
    """Queue grade and extraction cards (most informative first); returns how many are new."""
    rng = random.Random(seed)
    added = 0
    candidates = grade_candidates(samples, responses, other_scores)
    for c in _choose(candidates, max_cards, random_share, rng):
        added += store.add_card(
            "grade", c["sample"].id, c["question"], c["payload"], c["priority"], c["reason"]
        )
    extraction = _choose(extraction_candidates(samples), extraction_cards, random_share, rng)
    for c in extraction:
        added += store.add_card(
            "extraction", c["sample"].id, "", c["payload"], c["priority"], c["reason"]
        )
    return added


def _validated_value(card: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The label of a POST body, checked against its card; ``ValueError`` with the reason."""
    if card["kind"] == "grade":
        if body.get("label") not in (0, 0.5, 1):
            raise ValueError("'label' must be 0, 0.5 or 1")
        return {"label": body["label"]}
    verdicts = body.get("verdicts")
    if not isinstance(verdicts, list) or len(verdicts) != len(card["items"]):
        raise ValueError(f"'verdicts' must list one verdict per item ({len(card['items'])})")
    if any(v not in ("right", "wrong") for v in verdicts):
        raise ValueError("each verdict must be 'right' or 'wrong'")
    missing = body.get("missing", [])
    if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
        raise ValueError("'missing' must be a list of strings")
    return {"verdicts": verdicts, "missing": [m.strip() for m in missing if m.strip()]}


def create_app(store: LabelStore):  # noqa: ANN201 - FastAPI application
    """The labelling app: the page, its two static files, and a small JSON API."""
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import HTMLResponse, PlainTextResponse, Response

    app = FastAPI(title="learn2ask labelling")
    static = files("learn2ask").joinpath("calibration/static")

    def labeller_of(value: object) -> str:
        if not isinstance(value, str) or not LABELLER_RE.match(value):
            raise HTTPException(400, "labeller id: 1-64 letters, digits, '.', '@', '_' or '-'")
        return value

    def card_of(value: object) -> dict[str, Any]:
        card = store.card(value) if isinstance(value, int) else None
        if card is None:
            raise HTTPException(404, f"no card {value!r}")
        return card

    async def body_of(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise HTTPException(400, "body must be JSON") from None
        if not isinstance(body, dict):
            raise HTTPException(400, "body must be a JSON object")
        return body

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return static.joinpath("index.html").read_text(encoding="utf-8")

    @app.get("/static/{name}")
    def static_file(name: str) -> Response:
        if name not in STATIC_FILES:
            raise HTTPException(404, f"no static file {name!r}")
        text = static.joinpath(name).read_text(encoding="utf-8")
        return Response(text, media_type=STATIC_FILES[name])

    @app.get("/api/next")
    def next_card(labeller: str = "") -> dict[str, Any]:
        who = labeller_of(labeller)
        card = store.next_card(who)
        if card is not None:
            card.pop("sample", None)  # the page needs the context and I* only
        return {"card": card, "progress": store.progress(who)}

    @app.post("/api/label")
    async def label(request: Request) -> dict[str, Any]:
        body = await body_of(request)
        who, card = labeller_of(body.get("labeller")), card_of(body.get("card_id"))
        try:
            value = _validated_value(card, body)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        return {"label_id": store.record(card["id"], who, value), "progress": store.progress(who)}

    @app.post("/api/skip")
    async def skip(request: Request) -> dict[str, Any]:
        body = await body_of(request)
        who, card = labeller_of(body.get("labeller")), card_of(body.get("card_id"))
        return {"label_id": store.record(card["id"], who, None), "progress": store.progress(who)}

    @app.post("/api/undo")
    async def undo(request: Request) -> dict[str, Any]:
        who = labeller_of((await body_of(request)).get("labeller"))
        undone = store.undo(who)
        card = store.card(undone) if undone is not None else None
        if card is not None:
            card.pop("sample", None)
        return {"undone": undone, "card": card, "progress": store.progress(who)}

    @app.get("/api/export", response_class=PlainTextResponse)
    def export() -> str:
        return "".join(json.dumps(row) + "\n" for row in export_rows(store))

    return app
