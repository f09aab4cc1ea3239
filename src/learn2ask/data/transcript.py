"""Reader for plain-text transcripts (format ``transcript``): one speaker turn per line.

Conversations exported as text usually put each turn on a line of its own, after the
speaker's label::

    Doctor: What brings you in today?
    Patient: I've had a cough for a week.
    It gets worse at night.
    Doctor: Any fever?

A turn starts with ``Label: text`` (as in MTS-Dialog) or ``[label] text`` (as in ACI-Bench),
where a label may also hold digits (``Speaker 1``, ``SPEAKER_00`` as diarization tools write); a
conversation uses the style of its first non-blank line. A line without a label continues the
previous turn, and so does a line whose label the speaker map does not know, except on the
conversation's first line, where it is an error; blank lines are ignored. Labels map to roles
through ``--speaker-map`` (case-insensitive, spaces read as underscores: ``agent=expert,
customer=user``; ``Doctor`` -> expert and ``Patient`` -> user by default).

A file holds one conversation, or several separated by lines of three or more ``-`` or ``=``.
Its dialogue is named after the file (``visit.txt`` -> ``visit``); several are numbered from 1
(``visit-1``, ``visit-2``). Pass a ``.txt`` file, or a folder whose ``.txt`` files are read in
sorted order. Text is UTF-8 (a leading byte-order mark is ignored); errors name the line of the
file, also in a file's second and later conversations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from learn2ask.data.readers import COLON_LABEL_RE, ReaderConfig, _labelled_lines_to_turns
from learn2ask.data.types import Dialogue
from learn2ask.errors import InputError
from learn2ask.io import read_text_strict

SUFFIX = ".txt"
_SEPARATOR_RE = re.compile(r"^\s*(?:-{3,}|={3,})\s*$")
# ACI-Bench's bracket label pattern with digits allowed in a label (the colon pattern is the
# readers' own, COLON_LABEL_RE).
_BRACKET_LABEL_RE = re.compile(r"^\s*\[([A-Za-z][A-Za-z0-9_ ]{0,30}?)\s*\]\s?(.*)$")
_LINE_END_RE = re.compile(r"\r\n|\r|\n")  # the line ends an editor counts lines by


@dataclass(frozen=True)
class Conversation:
    """The lines of one conversation of a file, from its first non-blank line."""

    first_line: int
    lines: list[str]


def is_transcript_input(path: Path) -> bool:
    """A ``.txt`` file, or a folder holding at least one."""
    if path.is_dir():
        return any(p.suffix.lower() == SUFFIX and p.is_file() for p in path.iterdir())
    return path.suffix.lower() == SUFFIX


def read_transcript(path: Path, config: ReaderConfig) -> Iterator[Dialogue | InputError]:
    """Dialogues from a transcript file or a folder of them (see the module docstring)."""
    if not path.is_dir():
        yield from read_transcript_file(path, config)
        return
    files = sorted(p for p in path.iterdir() if p.suffix.lower() == SUFFIX and p.is_file())
    if not files:
        raise InputError(path, "folder holds no .txt files")
    for file in files:
        try:
            records = read_transcript_file(file, config)
        except InputError as exc:
            yield exc  # one unreadable file is one skipped record, not the whole folder
            continue
        yield from records


def read_transcript_file(path: Path, config: ReaderConfig) -> Iterator[Dialogue | InputError]:
    """The file's dialogues, a bad conversation yielded as its ``InputError``; a file that is
    not readable text (UTF-8, or UTF-16 with its byte-order mark) or holds no conversation
    raises at once."""
    text = read_text_strict(path)
    if not text.strip():
        raise InputError(path, "file is empty")
    conversations = split_conversations(text)
    if not conversations:
        raise InputError(path, "file holds only separator lines, no conversation", line=1)
    return _dialogues(path, conversations, config)


def split_conversations(text: str) -> list[Conversation]:
    """The conversations between separator lines, blank ones dropped."""
    conversations = []
    current: list[tuple[int, str]] = []
    lines = _LINE_END_RE.split(text)
    for number, line in enumerate([*lines, "---"], start=1):  # a last separator closes the last
        if not _SEPARATOR_RE.match(line):
            if current or line.strip():
                current.append((number, line))
            continue
        if current:
            conversations.append(Conversation(current[0][0], [line for _, line in current]))
        current = []
    return conversations


def _dialogues(
    path: Path, conversations: list[Conversation], config: ReaderConfig
) -> Iterator[Dialogue | InputError]:
    for position, conversation in enumerate(conversations, start=1):
        first = conversation.first_line
        opening = conversation.lines[0]
        label_re = _BRACKET_LABEL_RE if _BRACKET_LABEL_RE.match(opening) else COLON_LABEL_RE
        try:
            turns = _labelled_lines_to_turns(
                path, first, "\n".join(conversation.lines), label_re, config, strip_quotes=False
            )
        except InputError as exc:
            yield exc
            continue
        dialogue_id = path.stem if len(conversations) == 1 else f"{path.stem}-{position}"
        meta = {"source": str(path), "line": first, "format": "transcript"}
        yield Dialogue(id=dialogue_id, turns=turns, meta=meta)
