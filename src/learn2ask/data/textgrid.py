"""Reader for Praat TextGrid transcripts (format ``textgrid``): one interval tier per speaker.

Transcribed speech often comes as a TextGrid (Praat, ELAN and forced aligners write it), with
each speaker's utterances as the intervals of a tier named after the speaker. A dialogue is
every non-empty interval of its tiers in order of start time; consecutive intervals of one
speaker (an utterance split at its pauses) join into one turn. Tier names map to roles through
``--speaker-map`` (``Doctor`` -> expert and ``Patient`` -> user by default).

Two layouts:

- one file holding every speaker's tier: pass the file;
- one file per speaker, ``<id>_<speaker>.TextGrid`` (PriMock57's ``transcripts/`` folder):
  pass the folder. Files whose names differ only in a trailing ``_<speaker>`` found in the
  speaker map form one dialogue ``<id>``, and that suffix names the speaker of a tier whose own
  name the map does not know (PriMock57 has tiers named ``Speaker``); a folder's other
  TextGrid files are a dialogue each.

Transcription mark-up in angle brackets (``<UNIN/>``, ``<UNSURE>word</UNSURE>``) is removed,
keeping the words between paired tags; intervals left without a letter or digit are silence.
Only the long ("text file") format is read, in UTF-8 or in the UTF-16 Praat writes for
non-ASCII text; point tiers (``TextTier``) are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from learn2ask.data.readers import ReaderConfig, speaker_key
from learn2ask.data.types import Dialogue, Turn
from learn2ask.errors import InputError
from learn2ask.io import read_text_strict

SUFFIX = ".textgrid"
_TIER_RE = re.compile(r'^\s*class = "(\w+)"\s*\n\s*name = "((?:[^"]|"")*)"', re.M)
_INTERVAL_RE = re.compile(
    r'^\s*xmin = ([-\d.eE+]+)\s*\n\s*xmax = [-\d.eE+]+\s*\n\s*text = "((?:[^"]|"")*)"', re.M
)
_MARKUP_RE = re.compile(r"</?[A-Za-z][\w-]*\s*/?>")
_WORD_RE = re.compile(r"\w")
_SPACE_BEFORE_PUNCT_RE = re.compile(r"\s+(?=[,.;:?!])")


@dataclass(frozen=True)
class Utterance:
    """One interval of a speaker's tier."""

    start: float
    role: str
    text: str


def is_textgrid_input(path: Path) -> bool:
    """A TextGrid file, or a folder holding at least one."""
    if path.is_dir():
        return any(p.suffix.lower() == SUFFIX for p in path.iterdir())
    return path.suffix.lower() == SUFFIX


def read_textgrid(path: Path, config: ReaderConfig) -> Iterator[Dialogue | InputError]:
    """Dialogues from a TextGrid file or a folder of them (see the module docstring)."""
    speaker_map = config.speaker_map
    if not path.is_dir():
        yield _dialogue(path.stem, [path], speaker_map)
        return
    files = sorted(p for p in path.iterdir() if p.suffix.lower() == SUFFIX)
    if not files:
        raise InputError(path, "folder holds no .TextGrid files")
    groups: dict[str, list[Path]] = {}
    for file in files:
        groups.setdefault(dialogue_key(file.stem, speaker_map), []).append(file)
    for key, members in groups.items():
        try:
            yield _dialogue(key, members, speaker_map)
        except InputError as exc:
            yield exc


def dialogue_key(stem: str, speaker_map: dict[str, str]) -> str:
    """``stem`` without a trailing ``_<speaker>`` that the speaker map knows."""
    head, sep, tail = stem.rpartition("_")
    return head if sep and head and tail.lower() in speaker_map else stem


def file_role(path: Path, speaker_map: dict[str, str]) -> str | None:
    """The role a per-speaker file's ``_<speaker>`` suffix names, if any."""
    head, sep, tail = path.stem.rpartition("_")
    return speaker_map.get(tail.lower()) if sep and head else None


def _dialogue(key: str, files: list[Path], speaker_map: dict[str, str]) -> Dialogue:
    grouped = len(files) > 1 or dialogue_key(files[0].stem, speaker_map) != files[0].stem
    utterances = [
        u
        for file in files
        for u in read_utterances(
            file, speaker_map, file_role(file, speaker_map) if grouped else None
        )
    ]
    if len({u.role for u in utterances}) < 2:
        where = files[0] if len(files) == 1 else files[0].parent
        raise InputError(
            where,
            f"dialogue '{key}' has speech from one side only: a TextGrid needs a tier per "
            "speaker (files holding one speaker each: pass their folder)",
        )
    return Dialogue(
        id=key,
        turns=join_turns(utterances),
        meta={"source": str(files[0]), "files": [f.name for f in files], "format": "textgrid"},
    )


def read_utterances(
    path: Path, speaker_map: dict[str, str], default_role: str | None = None
) -> list[Utterance]:
    """Every spoken interval of every interval tier of one TextGrid file; a tier the speaker
    map does not name is ``default_role``'s when that is given."""
    text = read_text_strict(path)  # Praat's UTF-16 included: a byte-order mark says so
    if "ooTextFile" not in text[:200] or "item [" not in text:
        raise InputError(path, "not a long-format Praat TextGrid (save it as a text file)")
    tiers = list(_TIER_RE.finditer(text))
    utterances = []
    for number, tier in enumerate(tiers):
        if tier.group(1) != "IntervalTier":
            continue
        label = tier.group(2).replace('""', '"').strip()
        role = speaker_map.get(speaker_key(label), default_role)
        if role not in ("user", "expert"):
            line = text.count("\n", 0, tier.start(2)) + 1
            raise InputError(
                path, f"unknown role/speaker '{label}' (map it with --speaker-map)", line=line
            )
        end = tiers[number + 1].start() if number + 1 < len(tiers) else len(text)
        for interval in _INTERVAL_RE.finditer(text, tier.end(), end):
            spoken = clean_text(interval.group(2).replace('""', '"'))
            if spoken:
                utterances.append(Utterance(float(interval.group(1)), role, spoken))
    return utterances


def clean_text(text: str) -> str:
    """The words of an interval: mark-up removed, whitespace collapsed (none left before
    punctuation, where a removed tag stood); '' for silence."""
    words = _SPACE_BEFORE_PUNCT_RE.sub("", " ".join(_MARKUP_RE.sub(" ", text).split()))
    return words if _WORD_RE.search(words) else ""


def join_turns(utterances: list[Utterance]) -> list[Turn]:
    """Utterances in order of start time, a speaker's consecutive ones joined into one turn."""
    turns: list[Turn] = []
    for utterance in sorted(utterances, key=lambda u: u.start):
        if turns and turns[-1].role == utterance.role:
            turns[-1] = Turn(role=utterance.role, content=f"{turns[-1].content} {utterance.text}")
        else:
            turns.append(Turn(role=utterance.role, content=utterance.text))  # type: ignore[arg-type]
    return turns
