"""Readers: every supported format, exact RealMedConv, and clear errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from learn2ask.data.readers import ReaderConfig, detect_format, parse_speaker_map, read_dialogues
from learn2ask.errors import InputError
from tests.conftest import REPO_ROOT

BUNDLED = REPO_ROOT / "src" / "learn2ask" / "resources" / "data"


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_realmedconv_sample_read_exactly():
    result = read_dialogues([BUNDLED / "realmedconv" / "sample.jsonl"])
    (dialogue,) = result.dialogues
    raw = json.loads((BUNDLED / "realmedconv" / "sample.jsonl").read_text().splitlines()[0])
    assert dialogue.id == str(raw["session_id"])
    assert dialogue.meta["diagn"] == raw["diagn"]
    # IM-style consecutive same-role messages stay separate turns, in order.
    assert [t.content for t in dialogue.turns] == [m["content"] for m in raw["messages"]]
    assert [t.role for t in dialogue.turns] == [
        "user" if m["role"] == "user" else "expert" for m in raw["messages"]
    ]
    assert dialogue.turns[-1].content == "<med_search>"


def test_chat_jsonl_ignores_system_and_keeps_ids(tmp_path):
    path = write(
        tmp_path,
        "chat.jsonl",
        json.dumps(
            {
                "id": "c1",
                "messages": [
                    {"role": "system", "content": "be nice"},
                    {"role": "user", "content": "My back hurts"},
                    {"role": "assistant", "content": "Since when?"},
                    {"role": "user", "content": "Two days"},
                ],
            }
        )
        + "\n",
    )
    (dialogue,) = read_dialogues([path]).dialogues
    assert dialogue.id == "c1"
    assert [t.role for t in dialogue.turns] == ["user", "expert", "user"]


def test_mts_dialog_all_bundled_files_read():
    files = sorted((BUNDLED / "mts-dialog").glob("*.csv"))
    result = read_dialogues(files)
    assert len(result.dialogues) == 1701
    assert all(d.turns for d in result.dialogues)
    first = result.dialogues[0]
    assert first.turns[0].role == "expert" and first.turns[1].role == "user"


def test_aci_bench_all_bundled_files_read():
    result = read_dialogues(sorted((BUNDLED / "aci-bench").glob("*.json")))
    assert len(result.dialogues) == 207
    # One transcript lost its first label; it is attributed to the other speaker.
    repaired = next(d for d in result.dialogues if d.id.endswith("D2N131-virtassist"))
    assert repaired.turns[0].role == "expert" and repaired.turns[1].role == "user"


def test_multiline_turn_is_continued(tmp_path):
    csv_text = (
        'ID,section_header,section_text,dialogue\n1,X,y,"Doctor: Hello.\nHow are you?\n'
        'Patient: Fine."\n'
    )
    (dialogue,) = read_dialogues([write(tmp_path, "m.csv", csv_text)]).dialogues
    assert dialogue.turns[0].content == "Hello. How are you?"


def test_numbered_speakers_take_their_base_labels_role(tmp_path):
    # MTS-Dialog writes a second family member or doctor as "Guest_family_1", "Doctor_2"; they
    # used to be read as the previous speaker's words.
    csv_text = (
        'ID,section_header,section_text,dialogue\n1,X,y,"Doctor: How did he fall?\n'
        "Guest_family_1: Onto his right arm.\nGuest_family2: Yesterday.\n"
        'Doctor_2: Any numbness?\nStep 1: keep it still."\n'
    )
    (dialogue,) = read_dialogues([write(tmp_path, "g.csv", csv_text)]).dialogues
    assert [(t.role, t.content) for t in dialogue.turns] == [
        ("expert", "How did he fall?"),
        ("user", "Onto his right arm."),
        ("user", "Yesterday."),
        ("expert", "Any numbness? Step 1: keep it still."),  # an unknown label continues
    ]
    named = ReaderConfig(speaker_map={"doctor": "expert", "guest_family_1": "expert"})
    assert named.mapped_label("guest_family_1") == "guest_family_1"  # the map's own entry wins
    assert named.mapped_label("speaker_3") == "speaker_3"


def test_speaker_map_custom_label(tmp_path):
    csv_text = 'ID,section_header,section_text,dialogue\n1,X,y,"Agent: Hi?\nCustomer: Help."\n'
    path = write(tmp_path, "s.csv", csv_text)
    with pytest.raises(InputError, match="unknown role/speaker 'agent'"):
        read_dialogues([path])
    config = ReaderConfig(speaker_map=parse_speaker_map("agent=expert,customer=user"))
    (dialogue,) = read_dialogues([path], config).dialogues
    assert [t.role for t in dialogue.turns] == ["expert", "user"]


@pytest.mark.parametrize(
    ("content", "reason", "line"),
    [
        ('{"session_id": 1, "messages": []}\nnot json\n', "has no 'messages'", 1),
        (
            '{"session_id": 1, "messages": [{"role": "user", "content": "a"}]}\n{oops\n',
            "not valid JSON",
            2,
        ),
        (
            '{"session_id": 1, "messages": [{"role": "doctor", "content": "a"}]}\n',
            "unknown role",
            1,
        ),
        ('{"session_id": 1, "messages": [{"role": "user", "content": "  "}]}\n', "empty text", 1),
        ('{"session_id": 1}\n', "has no 'messages'", 1),
    ],
)
def test_bad_jsonl_names_file_line_and_reason(tmp_path, content, reason, line):
    path = write(tmp_path, "bad.jsonl", content)
    with pytest.raises(InputError) as info:
        read_dialogues([path], ReaderConfig(format="realmedconv"))
    assert info.value.line == line
    assert reason in info.value.reason
    assert str(path) in str(info.value)


def test_non_utf8_and_empty_files(tmp_path):
    bad = write(tmp_path, "bad.jsonl", b'{"messages": [{"role": "user", "content": "\xff"}]}\n')
    with pytest.raises(InputError, match="UTF-8"):
        read_dialogues([bad])
    empty = write(tmp_path, "empty.jsonl", "")
    with pytest.raises(InputError, match="empty"):
        read_dialogues([empty])


def test_skip_invalid_counts_records(tmp_path):
    good = json.dumps(
        {
            "id": "g",
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "Why?"},
            ],
        }
    )
    path = write(tmp_path, "mixed.jsonl", f'{good}\nnot json\n{{"id": 3}}\n')
    result = read_dialogues([path], ReaderConfig(skip_invalid=True))
    assert [d.id for d in result.dialogues] == ["g"]
    assert [e.line for e in result.skipped] == [2, 3]


def test_detect_format(tmp_path):
    assert detect_format(BUNDLED / "realmedconv" / "sample.jsonl") == "realmedconv"
    chat = write(tmp_path, "c.jsonl", '{"messages": []}\n')
    assert detect_format(chat) == "chat"
    with pytest.raises(InputError, match="--format"):
        detect_format(write(tmp_path, "x.log", "hello"))
