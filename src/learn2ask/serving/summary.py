"""Hand-over summary: what was gathered, as the expert will read it.

Extractive: the complaint (the user's words before the first question) and each asked question
with the user's answer, verbatim from the transcript. An optional LLM summary is asked of the
same policy model/endpoint and stored beside it; the extractive one is always kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from learn2ask.serving.store import Message


@dataclass(frozen=True)
class QA:
    """One asked question and the user's answer ('' when not answered)."""

    question: str
    answer: str


def gather(messages: list[Message]) -> tuple[str, list[QA]]:
    """The complaint and the question/answer pairs of a transcript (system messages ignored)."""
    complaint: list[str] = []
    pairs: list[list[str]] = []
    for message in messages:
        if message.role == "expert":
            pairs.append([message.content, ""])
        elif message.role == "user":
            if pairs:
                pairs[-1][1] = f"{pairs[-1][1]} {message.content}".strip()
            else:
                complaint.append(message.content)
    return " ".join(complaint).strip(), [QA(q, a) for q, a in pairs]


def extractive_summary(messages: list[Message], expert: str = "expert") -> str:
    """Plain-text hand-over: ``Complaint: ...`` then one ``Q: ... / A: ...`` block per question."""
    complaint, pairs = gather(messages)
    lines = [f"Hand-over for the {expert}", f"Complaint: {complaint or '(none given)'}"]
    for number, qa in enumerate(pairs, start=1):
        lines.append(f"Q{number}: {qa.question}")
        lines.append(f"A{number}: {qa.answer or '(no answer)'}")
    return "\n".join(lines)


def llm_summary_prompt(summary: str, expert: str) -> list[dict[str, str]]:
    """Chat messages asking for a short abstractive summary of the extractive one."""
    return [
        {
            "role": "system",
            "content": f"Summarise this intake for a {expert} in at most three sentences. "
            "Use only facts stated in it.",
        },
        {"role": "user", "content": summary},
    ]
