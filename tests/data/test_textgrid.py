"""The TextGrid reader: speakers' tiers merged by time, PriMock57's per-speaker files joined,
transcription mark-up removed, and bad input named by file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from learn2ask.cli import main
from learn2ask.data.readers import (
    ReaderConfig,
    detect_format,
    parse_speaker_map,
    read_dialogues,
)
from learn2ask.data.textgrid import clean_text
from learn2ask.errors import InputError


def tier(name: str, intervals: list[tuple[float, float, str]], index: int = 1) -> str:
    """One interval tier in Praat's long text format."""
    end = max((b for _, b, _ in intervals), default=0.0)
    rows = [
        f"    item [{index}]:",
        '        class = "IntervalTier" ',
        f'        name = "{name}" ',
        "        xmin = 0 ",
        f"        xmax = {end} ",
        f"        intervals: size = {len(intervals)} ",
    ]
    for k, (a, b, text) in enumerate(intervals, start=1):
        quoted = text.replace('"', '""')
        rows += [
            f"        intervals [{k}]:",
            f"            xmin = {a} ",
            f"            xmax = {b} ",
            f'            text = "{quoted}" ',
        ]
    return "\n".join(rows)


def textgrid(*tiers: str) -> str:
    header = [
        'File type = "ooTextFile"',
        'Object class = "TextGrid"',
        "",
        "xmin = 0 ",
        "xmax = 100 ",
        "tiers? <exists> ",
        f"size = {len(tiers)} ",
        "item []: ",
    ]
    return "\n".join(header + list(tiers)) + "\n"


DOCTOR = [
    (0, 2, ""),
    (2, 5, "Hello, what brings you in?"),
    (9, 11, "<UNIN/>"),
    (12, 14, "Since when?"),
]
PATIENT = [
    (5, 7, 'My back <UNSURE>hurts</UNSURE>, it "aches".'),
    (7.5, 8, "Quite a lot."),
    (15, 16, "Two days."),
]


def test_one_file_with_a_tier_per_speaker(tmp_path: Path) -> None:
    path = tmp_path / "visit.TextGrid"
    path.write_text(textgrid(tier("Doctor", DOCTOR), tier("Patient", PATIENT, 2)))
    assert detect_format(path) == "textgrid"
    (dialogue,) = read_dialogues([path]).dialogues
    assert dialogue.id == "visit"
    assert [(t.role, t.content) for t in dialogue.turns] == [
        ("expert", "Hello, what brings you in?"),
        # split at a pause, joined; mark-up removed, the words inside kept; quotes unescaped
        ("user", 'My back hurts, it "aches". Quite a lot.'),
        ("expert", "Since when?"),  # the <UNIN/> interval is silence
        ("user", "Two days."),
    ]


def test_a_folder_of_per_speaker_files_as_primock57_ships_them(tmp_path: Path) -> None:
    # PriMock57 names some tiers "Speaker": the file's _doctor / _patient suffix decides.
    (tmp_path / "day1_consultation01_doctor.TextGrid").write_text(textgrid(tier("Speaker", DOCTOR)))
    (tmp_path / "day1_consultation01_patient.TextGrid").write_text(
        textgrid(tier("Patient", PATIENT))
    )
    both = textgrid(tier("Doctor", DOCTOR), tier("Patient", PATIENT, 2))
    (tmp_path / "other.TextGrid").write_text(both)
    (tmp_path / "notes.txt").write_text("not a transcript")
    assert detect_format(tmp_path) == "textgrid"
    dialogues = read_dialogues([tmp_path]).dialogues
    assert [d.id for d in dialogues] == ["day1_consultation01", "other"]
    assert dialogues[0].turns == dialogues[1].turns
    assert dialogues[0].meta["files"] == [
        "day1_consultation01_doctor.TextGrid",
        "day1_consultation01_patient.TextGrid",
    ]


def test_utf16_as_praat_writes_non_ascii_text(tmp_path: Path) -> None:
    path = tmp_path / "visit.TextGrid"
    text = textgrid(tier("Doctor", [(0, 1, "Ça va ?")]), tier("Patient", [(1, 2, "Oui.")], 2))
    path.write_bytes(text.encode("utf-16"))
    (dialogue,) = read_dialogues([path]).dialogues
    assert [t.content for t in dialogue.turns] == ["Ça va?", "Oui."]


def test_unknown_speaker_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "visit.TextGrid"
    path.write_text(textgrid(tier("Doctor", DOCTOR), tier("Nurse", PATIENT, 2)))
    with pytest.raises(InputError) as error:
        read_dialogues([path])
    lines = path.read_text().splitlines()
    assert error.value.line == lines.index('        name = "Nurse" ') + 1
    assert "unknown role/speaker 'Nurse'" in error.value.reason
    (dialogue,) = read_dialogues(
        [path], ReaderConfig(speaker_map={"doctor": "expert", "nurse": "user"})
    ).dialogues
    assert dialogue.turns[1].role == "user"
    path.write_text(textgrid(tier("Speaker 1", DOCTOR), tier("Speaker 2", PATIENT, 2)))
    spaced = ReaderConfig(speaker_map=parse_speaker_map("speaker 1=expert,speaker_2=user"))
    assert [t.role for t in read_dialogues([path], spaced).dialogues[0].turns][:2] == [
        "expert",
        "user",
    ]


def test_one_speaker_alone_is_an_error_that_says_what_to_pass(tmp_path: Path) -> None:
    path = tmp_path / "day1_consultation01_doctor.TextGrid"
    path.write_text(textgrid(tier("Doctor", DOCTOR)))
    with pytest.raises(InputError, match="pass their folder"):
        read_dialogues([path])


def test_prepare_rejects_a_short_format_file_with_exit_2(tmp_path: Path, capsys) -> None:
    path = tmp_path / "visit.TextGrid"
    path.write_text('File type = "ooTextFile"\nObject class = "TextGrid"\n\n0\n10\n<exists>\n1\n')
    assert main(["prepare", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and "long-format" in err
    assert not (tmp_path / "out" / "train.jsonl").exists()


def test_prepare_reads_a_folder_into_samples(tmp_path: Path) -> None:
    folder = tmp_path / "transcripts"
    folder.mkdir()
    for k in range(3):
        (folder / f"c{k}_doctor.TextGrid").write_text(textgrid(tier("Doctor", DOCTOR)))
        (folder / f"c{k}_patient.TextGrid").write_text(textgrid(tier("Patient", PATIENT)))
    assert (
        main(["prepare", str(folder), "--out", str(tmp_path / "out"), "--test-fraction", "0"]) == 0
    )
    rows = [
        json.loads(line) for line in (tmp_path / "out" / "train.jsonl").read_text().splitlines()
    ]
    assert {r["dialogue_id"] for r in rows} == {"c0", "c1", "c2"}
    assert {r["meta"]["format"] for r in rows} == {"textgrid"}


def test_prepare_names_a_folder_without_transcripts(tmp_path: Path, capsys) -> None:
    (tmp_path / "notes.md").write_text("not a transcript")
    assert main(["prepare", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "a folder without .TextGrid or .txt files" in capsys.readouterr().err


def test_clean_text_leaves_no_space_where_a_tag_stood() -> None:
    assert clean_text("Oh hey<UNIN/>, um <UNSURE>yes</UNSURE> .") == "Oh hey, um yes."
    assert clean_text("  <INAUDIBLE/>  ") == ""
