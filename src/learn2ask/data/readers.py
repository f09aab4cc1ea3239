"""Readers: expert conversation logs in several formats -> typed :class:`Dialogue` records.

Supported formats (auto-detected, or named with ``format=``):

- ``realmedconv``: JSONL, one session per line, ``{"session_id", "diagn", "messages": [{"role":
  "user"|"assistant", "content"}]}`` exactly as the Learn-to-Ask paper's RealMedConv set. IM-style:
  consecutive messages of one role are kept as separate turns; the expert's terminal action
  (``<med_search>``) stays in the dialogue as an expert turn that target extraction recognises.
- ``chat``: chat JSONL, one conversation a line (or a ``.json`` file holding one array of them):
  OpenAI's ``{"id"?, "messages": [{"role", "content"}]}``, ShareGPT's ``{"conversations":
  [{"from", "value"}]}``, MedDialog's ``{"utterances": ["patient: ...", ...]}`` and the like;
  system messages are ignored; ``assistant`` (``gpt``, ``agent``, ``doctor``, ...) is the expert.
- ``mts-dialog``: MTS-Dialog CSV (``ID,section_header,section_text,dialogue``) whose dialogue is
  lines ``Doctor: ...`` / ``Patient: ...``; unlabelled lines continue the previous turn.
- ``aci-bench``: ACI-Bench JSON ``{"data": [{"src", "tgt", "file"}]}`` whose ``src`` is lines
  ``[doctor] ...`` / ``[patient] ...``.
- ``textgrid``: Praat TextGrid transcripts, a tier per speaker, one file or a folder of
  per-speaker files (PriMock57): :mod:`learn2ask.data.textgrid`.
- ``transcript``: plain-text ``.txt`` transcripts, one ``Label: text`` or ``[label] text`` turn
  a line, one file or a folder of them: :mod:`learn2ask.data.transcript`.
- ``rows``: one row per turn (conversation id, speaker, text) in CSV, TSV or JSON Lines, as chat,
  ticket and call systems export: :mod:`learn2ask.data.rows`.

Speaker labels map to roles through ``ReaderConfig.speaker_map`` (case-insensitive).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learn2ask.data.types import Dialogue, Turn
from learn2ask.errors import InputError
from learn2ask.io import is_valid_unicode, read_text_strict
from learn2ask.plugins import READERS

# The built-in formats; a plug-in reader is named by ``package.module:function``.
FORMATS: tuple[str, ...] = READERS.names()

DEFAULT_SPEAKER_MAP: dict[str, str] = {
    "doctor": "expert",
    "guest_clinician": "expert",
    "guest_clinican": "expert",  # spelling found in MTS-Dialog
    "patient": "user",
    "guest_family": "user",
    "gest_family": "user",  # spelling found in MTS-Dialog
    "patient_guest": "user",
    "docotr": "expert",  # spelling found in MTS-Dialog ("Docotr_2")
}
# A numbered speaker ("Guest_family_1", "Guest_family2", "Doctor_2") takes its base label's
# role when the map does not name it itself.
_SPEAKER_NUMBER_RE = re.compile(r"_?\d+$")
CHAT_ROLE_MAP: dict[str, str] = {"user": "user", "assistant": "expert", "expert": "expert"}
# Who is who in logs outside medicine; the speaker map (doctor, patient, ...) is read first.
_EXPERT_SPEAKERS = (
    "expert assistant gpt model agent support staff operator advisor adviser representative rep "
    "consultant clinician nurse pharmacist physician sales salesperson seller bot admin"
)
_USER_SPEAKERS = (
    "user customer client caller visitor buyer human member requester end_user end-user enduser"
)
ROLE_DEFAULTS: dict[str, str] = {
    **dict.fromkeys(_EXPERT_SPEAKERS.split(), "expert"),
    **dict.fromkeys(_USER_SPEAKERS.split(), "user"),
}
SKIPPED_SPEAKERS = frozenset({"system", "tool", "function"})  # not a party to the talk
# Where chat exports keep a conversation's messages, and each message's speaker and text
# (OpenAI's messages/role/content; ShareGPT's conversations/from/value; others).
MESSAGE_LISTS: tuple[str, ...] = (
    "messages",
    "conversations",
    "conversation",
    "turns",
    "utterances",
    "dialogue_turns",
    "dialogue",
    "dialog",
)
CHAT_ID_KEYS: tuple[str, ...] = ("id", "dialogue_id", "conversation_id", "session_id")
MESSAGE_ROLE_KEYS: tuple[str, ...] = ("role", "from", "speaker", "author")
MESSAGE_TEXT_KEYS: tuple[str, ...] = ("content", "value", "text", "message", "utterance")

UNLABELLED = "<unlabelled>"
# ``Label: text``; labels may hold digits ("Guest_family_1", "Speaker 2").
COLON_LABEL_RE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_ ]{0,30}?)\s*:\s?(.*)$")
_ACI_LABEL_RE = re.compile(r"^\s*\[([A-Za-z_]+)\]\s?(.*)$")
_JSON_SPACE_RE = re.compile(r"[ \t\r\n]*")  # the whitespace JSON allows between values


def role_of(label: str, config: ReaderConfig) -> str | None:
    """The role of speaker ``label`` in a log that names speakers freely (chat and row
    exports): the speaker map's, else :data:`ROLE_DEFAULTS`' (None for an unknown one)."""
    key = config.mapped_label(speaker_key(label))
    base = _SPEAKER_NUMBER_RE.sub("", key)  # "agent_2", "Customer 1" as numbered speakers
    return config.speaker_map.get(key) or ROLE_DEFAULTS.get(key) or ROLE_DEFAULTS.get(base)


def speaker_key(label: str) -> str:
    """How a speaker label is looked up: case-insensitive, spaces read as underscores, so a
    map entry ``speaker 1`` or ``speaker_1`` names ``Speaker 1:`` and ``SPEAKER_1``."""
    return label.strip().lower().replace(" ", "_")


@dataclass(frozen=True)
class ReaderConfig:
    """How logs are read. ``skip_invalid`` turns record errors into counted skips;
    ``speaker_map``'s labels are kept as :func:`speaker_key` spells them."""

    format: str | None = None
    speaker_map: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SPEAKER_MAP))
    skip_invalid: bool = False

    def __post_init__(self) -> None:
        keys = {speaker_key(label): role for label, role in self.speaker_map.items()}
        object.__setattr__(self, "speaker_map", keys)

    def mapped_label(self, label: str) -> str:
        """The map's key for a :func:`speaker_key` label: itself, or for a numbered speaker
        the map does not name, its base label when the map names that ("guest_family_1" ->
        "guest_family")."""
        if label in self.speaker_map:
            return label
        base = _SPEAKER_NUMBER_RE.sub("", label)
        return base if base in self.speaker_map else label


@dataclass
class ReadResult:
    """Dialogues read from one or more files, and the records skipped with their reasons."""

    dialogues: list[Dialogue] = field(default_factory=list)
    skipped: list[InputError] = field(default_factory=list)


def parse_speaker_map(text: str) -> dict[str, str]:
    """Parse ``doctor=expert,patient=user`` into a mapping; bad entries raise ``ValueError``."""
    mapping = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        label, sep, role = entry.partition("=")
        if not sep or role.strip() not in ("user", "expert"):
            raise ValueError(f"bad speaker map entry {entry!r}: expected LABEL=user|expert")
        mapping[label.strip().lower()] = role.strip()
    return mapping


def detect_format(path: Path) -> str:
    """Guess the format of ``path`` from its suffix and its first record."""
    from learn2ask.data.rows import looks_like_rows
    from learn2ask.data.textgrid import is_textgrid_input
    from learn2ask.data.transcript import is_transcript_input

    if is_textgrid_input(path):
        return "textgrid"
    if is_transcript_input(path):
        return "transcript"
    if path.is_dir():
        raise InputError(path, "a folder without .TextGrid or .txt files: give log files instead")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        header = next(iter(read_text_strict(path).splitlines()), "")
        names = next(csv.reader([header], delimiter="," if suffix == ".csv" else "\t"), [])
        return "rows" if suffix == ".tsv" or looks_like_rows(names) else "mts-dialog"
    if suffix == ".json":  # ACI-Bench's {"data": [...]}, or an array of conversations
        return "chat" if read_text_strict(path).lstrip().startswith("[") else "aci-bench"
    if suffix in (".jsonl", ".ndjson"):
        for line in read_text_strict(path).splitlines():
            if line.strip():
                try:
                    first = json.loads(line)
                except (json.JSONDecodeError, RecursionError):
                    break
                if isinstance(first, dict) and "messages" not in first and looks_like_rows(first):
                    return "rows"
                if isinstance(first, dict) and "session_id" in first:
                    return "realmedconv"
                return "chat"
        return "chat"
    raise InputError(
        path,
        f"cannot tell the format from suffix '{suffix}': pass --format "
        f"(one of {', '.join(FORMATS)})",
    )


def read_dialogues(paths: list[Path], config: ReaderConfig | None = None) -> ReadResult:
    """Read every file into dialogues; invalid records raise, or are skipped and counted."""
    config = config or ReaderConfig()
    result = ReadResult()
    for path in map(Path, paths):
        reader = READERS.get(config.format or detect_format(path))
        try:
            records = list(reader(path, config))
        except InputError as exc:
            if not config.skip_invalid:
                raise
            result.skipped.append(exc)
            continue
        found = 0
        for item in records:
            if isinstance(item, InputError):
                if not config.skip_invalid:
                    raise item
                result.skipped.append(item)
            else:
                result.dialogues.append(item)
                found += 1
        if found == 0 and not records:
            error = InputError(path, "file holds no dialogues")
            if not config.skip_invalid:
                raise error
            result.skipped.append(error)
    _check_unique_ids(result.dialogues)
    return result


def _check_unique_ids(dialogues: list[Dialogue]) -> None:
    seen: dict[str, str] = {}
    for dialogue in dialogues:
        source = str(dialogue.meta.get("source", "?"))
        if dialogue.id in seen:
            raise InputError(
                source, f"dialogue id '{dialogue.id}' also appears in {seen[dialogue.id]}"
            )
        seen[dialogue.id] = source


def _make_turn(path: Path, line: int, role: str | None, label: str, text: str) -> Turn:
    if role not in ("user", "expert"):
        raise InputError(
            path, f"unknown role/speaker '{label}' (map it with --speaker-map)", line=line
        )
    content = text.strip()
    if not content:
        raise InputError(path, f"empty text in a '{label}' turn", line=line)
    if not is_valid_unicode(content):
        reason = f"a '{label}' turn holds a lone surrogate (not valid Unicode)"
        raise InputError(path, reason, line=line)
    return Turn(role=role, content=content, speaker=label)  # type: ignore[arg-type]


def _iter_jsonl_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | InputError]]:
    """Yield ``(line, record)`` per non-blank line; undecodable lines yield an ``InputError``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read file ({exc.strerror})") from None
    if not data.strip():
        raise InputError(path, "file is empty")
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            yield number, InputError(path, "not valid UTF-8", line=number)
            continue
        except json.JSONDecodeError as exc:
            yield number, InputError(path, f"not valid JSON ({exc.msg})", line=number)
            continue
        except RecursionError:
            yield number, InputError(path, "JSON nested too deeply to read", line=number)
            continue
        if not isinstance(obj, dict):
            yield number, InputError(path, "expected a JSON object", line=number)
            continue
        yield number, obj


def _iter_json_array_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | InputError]]:
    """Yield ``(line, record)`` for each element of a JSON file holding one array, the line
    being where the element starts; an element that is not an object yields an ``InputError``."""
    text = read_text_strict(path)
    decoder = json.JSONDecoder()
    position = _skip_space(text, 0)
    if text[position : position + 1] != "[":
        raise InputError(path, "expected a JSON array of conversations", line=1)
    position = _skip_space(text, position + 1)
    line, counted = 1, 0  # lines counted up to ``counted``: once over the file, not per element
    while position < len(text) and text[position] != "]":
        line, counted = line + text.count("\n", counted, position), position
        try:
            obj, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise InputError(path, f"not valid JSON ({exc.msg})", line=exc.lineno) from None
        except RecursionError:
            raise InputError(path, "JSON nested too deeply to read", line=line) from None
        yield (
            line,
            obj if isinstance(obj, dict) else InputError(path, "expected a JSON object", line=line),
        )
        position = _skip_space(text, position)
        if text[position : position + 1] == ",":
            position = _skip_space(text, position + 1)
        elif text[position : position + 1] != "]":
            raise InputError(path, "expected ',' or ']' after an element", line=line)


def _skip_space(text: str, position: int) -> int:
    return _JSON_SPACE_RE.match(text, position).end()  # type: ignore[union-attr]


def _message_text(message: dict[str, Any]) -> str | None:
    """A message's text: the first text key holding a string, or an OpenAI content list's
    text parts joined (None when it has neither)."""
    for key in MESSAGE_TEXT_KEYS:
        value = message.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, list) and value and all(isinstance(p, dict) for p in value):
            parts = [p["text"] for p in value if p.get("type") == "text" and "text" in p]
            if parts:
                return "\n".join(map(str, parts))
    return None


def _messages_to_turns(
    path: Path, number: int, messages: object, roles: Callable[[str], str | None]
) -> list[Turn]:
    """The turns of one record's message list; ``roles`` maps a speaker label to its role."""
    if not isinstance(messages, list) or not messages:
        raise InputError(path, "record has no 'messages' list", line=number)
    turns = []
    for message in messages:
        if isinstance(message, str):  # "patient: ..." as MedDialog's processed files hold them
            message = _labelled_message(path, number, message)
        elif (
            isinstance(message, list)
            and len(message) == 2
            and all(isinstance(part, str) for part in message)
        ):  # ["agent", "Hello, how can I help?"]
            message = {"role": message[0], "content": message[1]}
        role_key = next(
            (k for k in MESSAGE_ROLE_KEYS if isinstance(message, dict) and k in message), None
        )
        if role_key is None:
            names = "', '".join(MESSAGE_ROLE_KEYS)
            raise InputError(path, f"a message names no speaker ('{names}')", line=number)
        label = str(message[role_key])
        if speaker_key(label) in SKIPPED_SPEAKERS:
            continue
        content = _message_text(message)
        if content is None:
            raise InputError(path, f"a '{label}' message has no text content", line=number)
        turns.append(_make_turn(path, number, roles(label), label, content))
    if not turns:
        raise InputError(path, "record has no user or expert messages", line=number)
    return turns


def _labelled_message(path: Path, number: int | None, text: str) -> dict[str, str]:
    """A message written as one string, ``Label: text``, as a ``role``/``content`` message."""
    match = COLON_LABEL_RE.match(text)
    if match is None:
        raise InputError(
            path, f"a message has no 'Label:' naming its speaker: {text[:40]!r}", number
        )
    return {"role": match.group(1), "content": match.group(2)}


def _chat_role(label: str) -> str | None:
    return CHAT_ROLE_MAP.get(label.lower())


@READERS.register("realmedconv")
def read_realmedconv(path: Path, config: ReaderConfig) -> Iterator[Dialogue | InputError]:
    for number, record in _iter_jsonl_records(path):
        if isinstance(record, InputError):
            yield record
            continue
        try:
            if "session_id" not in record:
                raise InputError(path, "record has no 'session_id'", line=number)
            turns = _messages_to_turns(path, number, record.get("messages"), _chat_role)
        except InputError as exc:
            yield exc
            continue
        meta = {k: v for k, v in record.items() if k not in ("messages", "session_id")}
        meta.update(source=str(path), line=number, format="realmedconv")
        yield Dialogue(id=str(record["session_id"]), turns=turns, meta=meta)


@READERS.register("chat")
def read_chat(path: Path, config: ReaderConfig) -> Iterator[Dialogue | InputError]:
    """One dialogue per JSON Lines record holding a list of messages: OpenAI's ``messages`` of
    ``role``/``content``, ShareGPT's ``conversations`` of ``from``/``value``, or the other
    names in :data:`MESSAGE_LISTS`, :data:`MESSAGE_ROLE_KEYS` and :data:`MESSAGE_TEXT_KEYS`.
    Speakers take roles as :func:`role_of` gives them; ``system`` messages are skipped."""
    records = _iter_json_array_records if path.suffix.lower() == ".json" else _iter_jsonl_records
    for number, record in records(path):
        if isinstance(record, InputError):
            yield record
            continue
        key = next((k for k in MESSAGE_LISTS if isinstance(record.get(k), list)), None)
        if key is None:
            names = "', '".join(MESSAGE_LISTS)
            yield InputError(path, f"record has no list of messages ('{names}')", line=number)
            continue
        try:
            turns = _messages_to_turns(
                path, number, record.get(key), lambda label: role_of(label, config)
            )
        except InputError as exc:
            yield exc
            continue
        id_key = next((k for k in CHAT_ID_KEYS if k in record), None)
        dialogue_id = str(record[id_key]) if id_key else f"{path.stem}-{number}"
        meta = {k: v for k, v in record.items() if k not in (key, id_key)}
        meta.update(source=str(path), line=number, format="chat")
        yield Dialogue(id=dialogue_id, turns=turns, meta=meta)


def _labelled_lines_to_turns(
    path: Path,
    first_line: int,
    text: str,
    label_re: re.Pattern[str],
    config: ReaderConfig,
    *,
    strip_quotes: bool = True,
) -> list[Turn]:
    """Turn ``Label: text`` lines into turns; unlabelled lines continue the previous turn.
    ``strip_quotes`` drops quotes around a line (stray CSV quotes in MTS-Dialog)."""
    pending: list[tuple[int, str, str]] = []  # (line, label, text)
    for offset, raw_line in enumerate(text.splitlines()):
        # Some MTS-Dialog records keep stray CSV quotes around the transcript.
        line = raw_line.strip().strip('"') if strip_quotes else raw_line.strip()
        match = label_re.match(line)
        label = config.mapped_label(speaker_key(match.group(1))) if match else None
        if match and (label in config.speaker_map or not pending):
            pending.append((first_line + offset, label, match.group(2)))
        elif line.strip():
            if not pending:
                # ACI-Bench has a transcript whose first line lost its label; keep the text
                # and resolve its speaker once the first labelled line is known.
                pending.append((first_line + offset, UNLABELLED, line))
                continue
            line_no, prev_label, prev_text = pending[-1]
            pending[-1] = (line_no, prev_label, f"{prev_text} {line.strip()}")
    pending = _resolve_unlabelled_opening(path, pending, config)
    turns = []
    for line_no, label, body in pending:
        if not body.strip():
            continue  # a bare label line with nothing said is not a turn
        turns.append(_make_turn(path, line_no, config.speaker_map.get(label), label, body))
    if not turns:
        raise InputError(path, "dialogue has no turns", line=first_line)
    return turns


def _resolve_unlabelled_opening(
    path: Path, pending: list[tuple[int, str, str]], config: ReaderConfig
) -> list[tuple[int, str, str]]:
    """Give an unlabelled opening line the speaker opposite to the first labelled one."""
    if not pending or pending[0][1] != UNLABELLED:
        return pending
    if len(pending) == 1:
        raise InputError(path, "dialogue has no speaker labels", line=pending[0][0])
    next_role = config.speaker_map.get(pending[1][1])
    wanted = "user" if next_role == "expert" else "expert"
    label = next((k for k, v in config.speaker_map.items() if v == wanted), wanted)
    return [(pending[0][0], label, pending[0][2]), *pending[1:]]


@READERS.register("mts-dialog")
def read_mts_dialog(path: Path, config: ReaderConfig) -> Iterator[Dialogue | InputError]:
    text = read_text_strict(path)
    if not text.strip():
        raise InputError(path, "file is empty")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames or "dialogue" not in reader.fieldnames:
        raise InputError(path, "CSV has no 'dialogue' column", line=1)
    start = 2
    for row in reader:
        end = reader.line_num
        record_id = (row.get("ID") or row.get("id") or str(start)).strip()
        try:
            turns = _labelled_lines_to_turns(
                path, start, row.get("dialogue") or "", COLON_LABEL_RE, config
            )
        except InputError as exc:
            yield exc
        else:
            meta = {
                "source": str(path),
                "line": start,
                "format": "mts-dialog",
                "section_header": row.get("section_header"),
            }
            yield Dialogue(id=f"{path.stem}-{record_id}", turns=turns, meta=meta)
        start = end + 1


@READERS.register("aci-bench")
def read_aci_bench(path: Path, config: ReaderConfig) -> Iterator[Dialogue | InputError]:
    text = read_text_strict(path)
    if not text.strip():
        raise InputError(path, "file is empty")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON ({exc.msg})", line=exc.lineno) from None
    except RecursionError:
        raise InputError(path, "JSON nested too deeply to read") from None
    records = document.get("data") if isinstance(document, dict) else None
    if not isinstance(records, list):
        raise InputError(path, 'expected {"data": [{"src", "tgt", "file"}, ...]}')
    for position, record in enumerate(records):
        where = f"record {position}"
        if not isinstance(record, dict) or not isinstance(record.get("src"), str):
            yield InputError(path, f"{where} has no 'src' transcript")
            continue
        try:
            turns = _labelled_lines_to_turns(path, 1, record["src"], _ACI_LABEL_RE, config)
        except InputError as exc:
            yield InputError(path, f"{where}: {exc.reason}")
            continue
        dialogue_id = str(record.get("file") or f"{path.stem}-{position}")
        meta = {"source": str(path), "record": position, "format": "aci-bench"}
        yield Dialogue(id=f"{path.stem}-{dialogue_id}", turns=turns, meta=meta)
