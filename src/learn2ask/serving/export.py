"""``export-sessions``: served conversations back to RealMedConv JSONL for the next round.

One line per session, ``{"session_id", "diagn", "messages": [{"role": "user"|"assistant",
"content"}]}``; policy questions and operator answers are both expert (``assistant``) turns,
system texts (disclaimer, hand-over, urgent-care message) are left out. ``diagn`` is empty (the
assistant does not diagnose); the outcome is kept under ``served`` (its state, who stopped it:
the policy, the question budget or the user).
"""

from __future__ import annotations

import json
from pathlib import Path

from learn2ask.errors import OutputError
from learn2ask.serving.store import FINISHED, SessionRecord, SessionStore


def session_to_realmedconv(record: SessionRecord) -> dict | None:
    """The RealMedConv record of a session, or None when it has no user message."""
    messages = [
        {"role": "user" if m.role == "user" else "assistant", "content": m.content}
        for m in record.messages
        if m.role in ("user", "expert")
    ]
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


def _stopped_by(record: SessionRecord) -> str | None:
    """Who handed a session over (its last STOP): ``policy``, ``budget`` (the question budget)
    or ``user`` ("That's all"); None where nobody did (escalated, taken over, still open)."""
    stops = [d.source for d in record.decisions if d.action == "stop"]
    return stops[-1] if stops else None


def export_sessions(store: SessionStore, out: Path, include_all: bool = False) -> tuple[int, int]:
    """Write sessions (finished ones, or all); (written, skipped for having no user message)."""
    ids = store.session_ids(None if include_all else FINISHED)
    written = skipped = 0
    tmp = out.with_name(out.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            for session_id in ids:
                record = store.get(session_id)
                line = session_to_realmedconv(record) if record else None
                if line is None:
                    skipped += 1
                    continue
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
                written += 1
        tmp.replace(out)
    except OSError as exc:
        raise OutputError(out, f"cannot write ({exc.strerror})") from None
    return written, skipped
