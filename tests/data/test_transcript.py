"""The plain-text transcript reader: one turn a line in either label style, several
conversations to a file, folders, and bad input named by the file's own line."""

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
from learn2ask.errors import InputError

VISIT = (
    "Doctor: What brings you in today?\n"
    "Patient: I've had a cough for a week.\n"
    "It gets worse at night.\n"
    "\n"
    'Doctor: And everyone says "it is just a cold"\n'
    "Patient: No.\n"
)


def roles_and_texts(path: Path, config: ReaderConfig | None = None) -> list[list[tuple[str, str]]]:
    """Each dialogue read from ``path`` as its ``(role, text)`` turns."""
    dialogues = read_dialogues([path], config).dialogues
    return [[(t.role, t.content) for t in d.turns] for d in dialogues]


def test_one_conversation_with_a_continuation_line(tmp_path: Path) -> None:
    path = tmp_path / "visit.txt"
    path.write_bytes(b"\xef\xbb\xbf" + VISIT.replace("\n", "\r\n").encode())  # BOM, CRLF
    (dialogue,) = read_dialogues([path]).dialogues
    assert dialogue.id == "visit"
    assert dialogue.meta == {"source": str(path), "line": 1, "format": "transcript"}
    assert [(t.role, t.content) for t in dialogue.turns] == [
        ("expert", "What brings you in today?"),
        ("user", "I've had a cough for a week. It gets worse at night."),
        ("expert", 'And everyone says "it is just a cold"'),  # a closing quote is kept
        ("user", "No."),
    ]


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be"])
def test_a_utf16_file_with_its_byte_order_mark(tmp_path: Path, codec: str) -> None:
    # Windows editors save "Unicode" text as UTF-16 with a byte-order mark; so are 2 of the 272
    # transcripts of the OSCE interviews (Fareez et al. 2022).
    path = tmp_path / "visit.txt"
    mark = b"\xfe\xff" if codec == "utf-16-be" else b""  # Python's utf-16 writes its own mark
    path.write_bytes(mark + VISIT.replace("\n", "\r\n").encode(codec))
    assert roles_and_texts(path)[0][:2] == [
        ("expert", "What brings you in today?"),
        ("user", "I've had a cough for a week. It gets worse at night."),
    ]


def test_broken_utf16_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "visit.txt"
    path.write_bytes("Doctor: Hi.\nPatient: Hello.\n".encode("utf-16") + b"\x00\xd8\x41\x00")
    with pytest.raises(InputError, match=r"visit.txt:3: not valid UTF-16"):
        read_dialogues([path])


def test_bracket_labels_as_aci_bench_writes_them(tmp_path: Path) -> None:
    path = tmp_path / "visit.txt"
    path.write_text("[doctor] Hello there.\n[patient] Hi.\nMy knee hurts.\n[doctor] Since when?\n")
    assert roles_and_texts(path) == [
        [("expert", "Hello there."), ("user", "Hi. My knee hurts."), ("expert", "Since when?")]
    ]


def test_several_conversations_in_one_file(tmp_path: Path) -> None:
    path = tmp_path / "calls.txt"
    path.write_text(
        "Doctor: First?\nPatient: One.\n---\n\nDoctor: Second?\nPatient: Two.\n"
        "=====\n[doctor] Third?\n[patient] Three.\n---\n"
    )
    dialogues = read_dialogues([path]).dialogues
    assert [d.id for d in dialogues] == ["calls-1", "calls-2", "calls-3"]
    assert [d.meta["line"] for d in dialogues] == [1, 5, 8]
    assert [d.turns[1].content for d in dialogues] == ["One.", "Two.", "Three."]
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r"))  # classic Mac line ends
    assert [d.meta["line"] for d in read_dialogues([path]).dialogues] == [1, 5, 8]


def test_a_folder_of_files_in_sorted_order(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "b.txt").write_text("Doctor: B?\nPatient: b.\n")
    (folder / "a.txt").write_text("Doctor: A1?\nPatient: a1.\n---\nDoctor: A2?\nPatient: a2.\n")
    (folder / "notes.md").write_text("not read")
    assert detect_format(folder) == "transcript"
    dialogues = read_dialogues([folder]).dialogues
    assert [d.id for d in dialogues] == ["a-1", "a-2", "b"]
    assert dialogues[2].meta["source"] == str(folder / "b.txt")
    (folder / "c.txt").write_text("")  # one bad file is one skipped record, not the folder
    with pytest.raises(InputError, match="file is empty"):
        read_dialogues([folder])
    result = read_dialogues([folder], ReaderConfig(skip_invalid=True))
    assert [d.id for d in result.dialogues] == ["a-1", "a-2", "b"]
    assert [e.path for e in result.skipped] == [str(folder / "c.txt")]


def test_detect_format(tmp_path: Path) -> None:
    path = tmp_path / "Visit.TXT"
    path.write_text(VISIT)
    assert detect_format(path) == "transcript"
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "visit.txt").write_text(VISIT)
    (folder / "visit.TextGrid").write_text("")
    assert detect_format(folder) == "textgrid"  # a TextGrid folder stays a TextGrid folder
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.md").write_text("")
    with pytest.raises(InputError, match=r"without \.TextGrid or \.txt files"):
        detect_format(empty)


def test_unknown_speaker_in_the_second_conversation_names_its_file_line(tmp_path: Path) -> None:
    path = tmp_path / "calls.txt"
    path.write_text(
        "Doctor: First?\nPatient: One.\n\n---\n\n\nNurse: Hello.\nPatient: Hi.\n---\n"
        "Doctor: Third?\nPatient: Three.\n"
    )
    with pytest.raises(InputError) as error:
        read_dialogues([path])
    assert error.value.line == 7
    assert "unknown role/speaker 'nurse'" in error.value.reason
    assert str(error.value).startswith(f"{path}:7: ")
    result = read_dialogues([path], ReaderConfig(skip_invalid=True))
    assert [d.id for d in result.dialogues] == ["calls-1", "calls-3"]
    assert [(e.path, e.line) for e in result.skipped] == [(str(path), 7)]


def test_speaker_map_names_custom_labels(tmp_path: Path) -> None:
    path = tmp_path / "support.txt"
    path.write_text("Customer: My badge fails.\nAgent: Which door?\nCustomer: East.\n")
    with pytest.raises(InputError, match="'customer'"):
        read_dialogues([path])
    config = ReaderConfig(speaker_map=parse_speaker_map("agent=expert,customer=user"))
    assert roles_and_texts(path, config) == [
        [("user", "My badge fails."), ("expert", "Which door?"), ("user", "East.")]
    ]
    path.write_text("SPEAKER_00: Hello.\nSpeaker 1: Hi, doctor.\n")
    diarized = ReaderConfig(speaker_map=parse_speaker_map("speaker_00=expert,speaker 1=user"))
    assert roles_and_texts(path, diarized) == [[("expert", "Hello."), ("user", "Hi, doctor.")]]


def test_empty_inputs_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("\n  \n")
    with pytest.raises(InputError, match="file is empty"):
        read_dialogues([path])
    path.write_text("---\n\n===\n")
    with pytest.raises(InputError, match="only separator lines"):
        read_dialogues([path])
    folder = tmp_path / "none"
    folder.mkdir()
    with pytest.raises(InputError, match=r"holds no \.txt files"):
        read_dialogues([folder], ReaderConfig(format="transcript"))


def test_prepare_reads_transcripts_into_samples(tmp_path: Path) -> None:
    path = tmp_path / "visits.txt"
    path.write_text("\n---\n".join([VISIT] * 3))
    assert main(["prepare", str(path), "--out", str(tmp_path / "out"), "--test-fraction", "0"]) == 0
    rows = [
        json.loads(line) for line in (tmp_path / "out" / "train.jsonl").read_text().splitlines()
    ]
    assert rows
    assert {r["dialogue_id"] for r in rows} == {"visits-1", "visits-2", "visits-3"}
    assert {r["meta"]["format"] for r in rows} == {"transcript"}


def test_prepare_rejects_a_bad_file_with_exit_2(tmp_path: Path, capsys) -> None:
    path = tmp_path / "visit.txt"
    path.write_text("Doctor: Hello?\nPatient: Hi.\n---\n\n[vet] Woof.\n[doctor] Again?\n")
    assert main(["prepare", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{path}:5:" in err and "'vet'" in err
    assert not (tmp_path / "out" / "train.jsonl").exists()
