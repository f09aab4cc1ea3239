"""Reader for logs kept one row per turn (format ``rows``): what most chat, ticket and call
systems export.

Each row is one message: which conversation it belongs to, who spoke and what they said::

    conversation_id,speaker,text
    T-1001,customer,My laptop will not turn on.
    T-1001,agent,Is the charging light on?
    T-1001,customer,No.

CSV (``.csv``), tab-separated (``.tsv``) or JSON Lines (``.jsonl``/``.ndjson``, one object per
row). Columns are found by name, case-insensitively, the first of each list present:

- conversation: :data:`DIALOGUE_COLUMNS` (``dialogue_id``, ``conversation_id``, ``ticket_id``, ...);
- speaker: :data:`SPEAKER_COLUMNS` (``role``, ``author_role``, ... before ``speaker``, ``author``);
- text: :data:`TEXT_COLUMNS` (``text``, ``content``, ``message``, ``utterance``, ...).

A whole-number order column (:data:`ORDER_COLUMNS`: ``turn_index``, ``seq``, ``position``, ...)
sorts each conversation's turns; without one they keep the file's row order (timestamps are not
read). Other columns are ignored. Conversations may interleave; consecutive rows of one speaker
stay separate turns (IM-style, as RealMedConv). Speakers map to roles through ``--speaker-map``
and its defaults, then :data:`~learn2ask.data.readers.ROLE_DEFAULTS` (``agent``, ``assistant``,
``support`` ... -> expert; ``customer``, ``user``, ``caller`` ... -> user); ``system`` rows are
skipped. A row naming an unknown speaker, or with no text, is an error at its line, and
``--skip-invalid`` skips that row's whole conversation.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learn2ask.data.readers import (
    SKIPPED_SPEAKERS,
    ReaderConfig,
    _iter_jsonl_records,
    _make_turn,
    role_of,
    speaker_key,
)
from learn2ask.data.types import Dialogue, Turn
from learn2ask.errors import InputError
from learn2ask.io import read_text_strict

DIALOGUE_COLUMNS: tuple[str, ...] = (
    "dialogue_id",
    "dialog_id",
    "conversation_id",
    "session_id",
    "ticket_id",
    "thread_id",
    "chat_id",
    "call_id",
    "case_id",
    "encounter_id",
    "conversation",
    "dialogue",
)
# A column that says what kind of party spoke comes before one that may name a person.
SPEAKER_COLUMNS: tuple[str, ...] = (
    "role",
    "speaker_role",
    "author_role",
    "sender_role",
    "participant_role",
    "speaker_type",
    "author_type",
    "sender_type",
    "user_type",
    "speaker",
    "author",
    "sender",
    "from",
    "party",
    "participant",
)
TEXT_COLUMNS: tuple[str, ...] = ("text", "content", "message", "utterance", "body", "value")
# Optional: whole numbers that order a conversation's turns when the export is not in order.
ORDER_COLUMNS: tuple[str, ...] = (
    "turn_index",
    "turn_number",
    "turn_no",
    "message_index",
    "message_number",
    "seq",
    "seq_no",
    "sequence",
    "position",
    "order",
)
SUFFIXES = {".csv": ",", ".tsv": "\t"}  # the delimited ones; JSON Lines otherwise


@dataclass(frozen=True)
class Columns:
    """The names of the conversation, speaker and text columns as the file spells them."""

    dialogue: str
    speaker: str
    text: str
    order: str | None = None


@dataclass
class _Conversation:
    first_line: int
    turns: list[tuple[int, Turn]] = field(default_factory=list)  # (order, turn)
    error: InputError | None = None

    def ordered(self) -> list[Turn]:
        """The turns by their order column, ties (and files without one) in row order."""
        return [turn for _, turn in sorted(self.turns, key=lambda pair: pair[0])]


def find_columns(path: Path, names: Sequence[str], line: int = 1) -> Columns:
    """The first name of each column list that ``names`` holds (any case), or an error saying
    which list none of ``names`` matched."""
    by_key = {name.strip().lower(): name for name in names}
    found = {}
    for what, wanted in (
        ("conversation", DIALOGUE_COLUMNS),
        ("speaker", SPEAKER_COLUMNS),
        ("text", TEXT_COLUMNS),
    ):
        name = next((by_key[w] for w in wanted if w in by_key), None)
        if name is None:
            expected = ", ".join(wanted)
            raise InputError(path, f"no {what} column: expected one of {expected}", line=line)
        found[what] = name
    order = next((by_key[w] for w in ORDER_COLUMNS if w in by_key), None)
    return Columns(found["conversation"], found["speaker"], found["text"], order)


def looks_like_rows(names: Sequence[str]) -> bool:
    """True when ``names`` (a header or a JSON record's keys) hold a speaker and a text column
    but no whole-dialogue column: a one-row-per-turn log."""
    keys = {name.strip().lower() for name in names}
    return (
        "dialogue" not in keys
        and any(k in keys for k in SPEAKER_COLUMNS)
        and any(k in keys for k in TEXT_COLUMNS)
    )


def _delimited_rows(path: Path, delimiter: str) -> Iterator[tuple[int, dict[str, Any]]]:
    text = read_text_strict(path)
    if not text.strip():
        raise InputError(path, "file is empty")
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    find_columns(path, reader.fieldnames or [])
    start = 2
    for row in reader:
        yield start, row
        start = reader.line_num + 1  # a quoted field may span lines


def read_rows_file(path: Path) -> Iterator[tuple[int, dict[str, Any] | InputError]]:
    """``(line, row)`` for every row of ``path``, by its suffix (CSV, TSV, else JSON Lines);
    a line that is not a JSON object comes as an :class:`InputError` in the row's place."""
    delimiter = SUFFIXES.get(path.suffix.lower())
    if delimiter is not None:
        yield from _delimited_rows(path, delimiter)
    else:
        yield from _iter_jsonl_records(path)


def _add_row(
    path: Path,
    line: int,
    row: dict[str, Any],
    columns: Columns,
    conversation: _Conversation,
    config: ReaderConfig,
) -> None:
    label = _cell(row, columns.speaker).strip()
    if speaker_key(label) in SKIPPED_SPEAKERS:
        return
    turn = _make_turn(path, line, role_of(label, config), label, _cell(row, columns.text))
    conversation.turns.append((_order_of(path, line, row, columns.order), turn))


def _cell(row: dict[str, Any], column: str) -> str:
    """A row's value in ``column`` as text ("" when missing; JSON's 0 stays "0")."""
    value = row.get(column)
    return "" if value is None else str(value)


def _order_of(path: Path, line: int, row: dict[str, Any], column: str | None) -> int:
    """The row's place by the order column (0 without one: sorting keeps row order)."""
    if column is None:
        return 0
    value = row.get(column)
    try:
        return int(str(value).strip())
    except ValueError:
        raise InputError(path, f"'{column}' is not a whole number: {value!r}", line=line) from None


def read_rows(path: Path, config: ReaderConfig) -> Iterator[Dialogue | InputError]:
    """One :class:`Dialogue` per conversation id of a one-row-per-turn log, in order of each
    conversation's first row."""
    conversations: dict[str, _Conversation] = {}
    columns: Columns | None = None
    for line, row in read_rows_file(path):
        if isinstance(row, InputError):
            yield row
            continue
        if columns is None:
            columns = find_columns(path, list(row), line)
        key = _cell(row, columns.dialogue).strip()
        if not key:
            yield InputError(path, f"row has no '{columns.dialogue}'", line=line)
            continue
        conversation = conversations.setdefault(key, _Conversation(first_line=line))
        if conversation.error is not None:
            continue
        try:
            _add_row(path, line, row, columns, conversation, config)
        except InputError as exc:
            conversation.error = exc
    for key, conversation in conversations.items():
        if conversation.error is not None:
            yield conversation.error
        elif not conversation.turns:
            yield InputError(
                path, f"conversation '{key}' has no turns", line=conversation.first_line
            )
        else:
            meta = {"source": str(path), "line": conversation.first_line, "format": "rows"}
            yield Dialogue(id=key, turns=conversation.ordered(), meta=meta)
