"""``export-sessions``: served conversations back to RealMedConv JSONL for the next round.

One line per session, ``{"session_id", "diagn", "messages": [{"role": "user"|"assistant",
"content"}]}``; policy questions and operator answers are both expert (``assistant``) turns.
Where the assistant handed over or escalated, that is the expert's terminal action, an
``assistant`` turn ``<handover />`` or ``<escalate />`` in its place, as RealMedConv keeps
``<med_search>``: ``prepare`` then has a decision point after the user's last message, whose
future holds no question (s* = STOP), unless an operator went on asking after it (their
questions are its I*: the hand-over came too early). Other system texts (disclaimer, greeting,
the hand-over's wording and summary) are left out. ``diagn`` is empty (the assistant does not
diagnose); the outcome is kept under ``served`` (its state, who stopped it: the policy, the
question budget or the user).

With ``--ratings FILE`` the operators' ratings of the assistant's questions (on the point or
not) are written as relevance labels, in the format of
``benchmarks/results/relevance_labelled/labels.json``: each rated question with the
conversation before it, so ``learn2ask question-relevance --labels FILE`` scores any
run on the deployment's own judgements.
"""

from __future__ import annotations

import json
from pathlib import Path

from learn2ask.errors import OutputError
from learn2ask.io import write_json_atomic
from learn2ask.serving.store import ESCALATION, FINISHED, HANDOVER, SessionRecord, SessionStore

# The expert's terminal actions, written where the assistant's part ended (module docstring).
TERMINAL_ACTIONS = {HANDOVER: "<handover />", ESCALATION: "<escalate />"}


def session_to_realmedconv(record: SessionRecord) -> dict | None:
    """The RealMedConv record of a session, or None when it has no user message."""
    messages = []
    for m in record.messages:
        if m.role in ("user", "expert"):
            role = "user" if m.role == "user" else "assistant"
            messages.append({"role": role, "content": m.content})
        elif m.author in TERMINAL_ACTIONS or _stored_handover(m.content, record):
            action = TERMINAL_ACTIONS.get(m.author, TERMINAL_ACTIONS[HANDOVER])
            messages.append({"role": "assistant", "content": action})
    if not any(m["role"] == "user" for m in messages):
        return None
    return {
        "session_id": record.id,
        "diagn": "",
        "messages": messages,
        "served": {
            "state": record.state,
            "domain": record.domain,
            "questions": record.questions,
            "reason": record.reason,
            "operator": any(m.author == "operator" for m in record.messages),
            "stopped_by": _stopped_by(record),
        },
    }


def _stored_handover(content: str, record: SessionRecord) -> bool:
    """True for a hand-over stored before it had an author of its own (a system message that
    holds the session's summary)."""
    return bool(record.summary) and record.summary in content


def _stopped_by(record: SessionRecord) -> str | None:
    """Who handed a session over (its last STOP): ``policy``, ``budget`` (the question budget)
    or ``user`` ("That's all"); None where nobody did (escalated, taken over, still open)."""
    stops = [d.source for d in record.decisions if d.action == "stop"]
    return stops[-1] if stops else None


def rated_questions(record: SessionRecord) -> list[tuple[list[list[str]], str, bool]]:
    """``(turns before it, question, on the point)`` for each question the assistant asked in
    a session that an operator rated; turns as ``[role, text]`` (user or expert)."""
    rated = []
    for position, m in enumerate(record.messages):
        if (m.role, m.author) == ("expert", "policy") and m.relevant is not None:
            before = [
                [t.role, t.content]
                for t in record.messages[:position]
                if t.role in ("user", "expert")
            ]
            rated.append((before, m.content, m.relevant))
    return rated


def ratings_labels(rated: list[tuple[str, list[tuple[list[list[str]], str, bool]]]]) -> dict:
    """The relevance labels (module docstring) of ``(session id, its rated_questions)``."""
    contexts, labels = [], []
    for session_id, questions in rated:
        for turns, question, relevant in questions:
            context = {"id": len(contexts), "set": "served", "conversation": session_id}
            step = sum(role == "user" for role, _ in turns) - 1  # the user's messages before it
            contexts.append({**context, "step": step, "turns": turns})
            labels.append(
                {"context": context["id"], "question": question, "relevant": int(relevant)}
            )
    return {
        "what": "operators' ratings of the questions the assistant asked (learn2ask serve)",
        "criterion": "the operators': on the point for this conversation, or not",
        "context_turns": contexts,
        "labels": labels,
    }


def export_sessions(
    store: SessionStore, out: Path, include_all: bool = False, ratings: Path | None = None
) -> tuple[int, int, int]:
    """Write sessions (finished ones, or all), and with ``ratings`` their rated questions as
    relevance labels, reading each session once; (written, skipped for having no user
    message, rated questions)."""
    ids = store.session_ids(None if include_all else FINISHED)
    written = skipped = 0
    rated = []  # (session id, its rated questions): not whole transcripts
    tmp = out.with_name(out.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            for session_id in ids:
                record = store.get(session_id)
                if record is not None and ratings is not None:
                    rated.append((record.id, rated_questions(record)))
                line = session_to_realmedconv(record) if record else None
                if line is None:
                    skipped += 1
                    continue
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
                written += 1
        tmp.replace(out)
    except OSError as exc:
        raise OutputError(out, f"cannot write ({exc.strerror})") from None
    if ratings is None:
        return written, skipped, 0
    labels = ratings_labels(rated)
    try:
        write_json_atomic(ratings, labels)
    except OSError as exc:
        raise OutputError(ratings, f"cannot write ({exc.strerror})") from None
    return written, skipped, len(labels["labels"])
