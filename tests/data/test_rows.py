"""Logs as other systems export them: the one-row-per-turn reader (CSV, TSV and JSON Lines of
chat, ticket and call systems, columns found by name, conversations that interleave, bad rows
named by line) and chat records in their common shapes (ShareGPT, OpenAI content parts)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learn2ask.cli import main
from learn2ask.data.readers import (
    ReaderConfig,
    detect_format,
    parse_speaker_map,
    read_dialogues,
)
from learn2ask.errors import InputError

TICKETS = (
    "ticket_id,timestamp,author,body\n"
    "T-1,09:00,customer,My laptop will not turn on.\n"
    "T-2,09:01,Customer,I was charged twice.\n"
    "T-1,09:02,agent,Is the charging light on?\n"
    'T-2,09:03,agent,"Which card did you pay with,\nand when?"\n'
    "T-1,09:04,customer,No.\n"
    "T-1,09:05,customer,It was fine yesterday.\n"
    "T-2,09:06,customer,Visa ending 4242.\n"
    "T-1,09:07,agent,Please try another charger.\n"
)


def turns_of(path: Path, config: ReaderConfig | None = None) -> dict[str, list[tuple[str, str]]]:
    """Each dialogue read from ``path`` as its ``(role, text)`` turns, by id."""
    dialogues = read_dialogues([path], config).dialogues
    return {d.id: [(t.role, t.content) for t in d.turns] for d in dialogues}


def test_interleaved_tickets_with_their_own_column_names(tmp_path: Path) -> None:
    path = tmp_path / "tickets.csv"
    path.write_text(TICKETS)
    assert detect_format(path) == "rows"
    dialogues = turns_of(path)
    assert list(dialogues) == ["T-1", "T-2"]  # in order of each one's first row
    assert dialogues["T-1"] == [
        ("user", "My laptop will not turn on."),
        ("expert", "Is the charging light on?"),
        ("user", "No."),  # one speaker's consecutive rows stay separate turns
        ("user", "It was fine yesterday."),
        ("expert", "Please try another charger."),
    ]
    assert dialogues["T-2"][1] == ("expert", "Which card did you pay with,\nand when?")
    (first,) = [d for d in read_dialogues([path]).dialogues if d.id == "T-2"]
    assert first.meta == {"source": str(path), "line": 3, "format": "rows"}


def test_tsv_with_labels_named_by_the_speaker_map(tmp_path: Path) -> None:
    path = tmp_path / "calls.tsv"
    path.write_text(
        "call_id\tspeaker\ttext\n"
        "7\tParent\tShe has had a fever since Sunday.\n"
        "7\tDr Lee\tHow high has it been?\n"
        "7\tParent\t39 at night.\n"
    )
    assert detect_format(path) == "rows"
    with pytest.raises(InputError, match=r"calls\.tsv:2: unknown role/speaker 'Parent'"):
        read_dialogues([path])
    config = ReaderConfig(speaker_map=parse_speaker_map("parent=user,dr lee=expert"))
    assert [role for role, _ in turns_of(path, config)["7"]] == ["user", "expert", "user"]


def test_json_lines_rows_skip_system_messages(tmp_path: Path) -> None:
    path = tmp_path / "chats.jsonl"
    rows = [
        {"conversation_id": 0, "role": "user", "content": "Hi."},
        {"conversation_id": "c1", "role": "system", "content": "You are a helpful agent."},
        {"conversation_id": "c1", "role": "user", "content": "My order is late."},
        {"conversation_id": "c1", "role": "assistant", "content": "What is your order number?"},
        {"conversation_id": "c1", "role": "user", "content": "12345"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert detect_format(path) == "rows"
    assert turns_of(path) == {
        "0": [("user", "Hi.")],  # a numeric id of 0 is an id
        "c1": [
            ("user", "My order is late."),
            ("expert", "What is your order number?"),
            ("user", "12345"),
        ],
    }


def test_whole_dialogue_formats_are_still_detected_as_before(tmp_path: Path) -> None:
    chat = tmp_path / "chat.jsonl"
    chat.write_text(json.dumps({"id": "a", "messages": [{"role": "user", "content": "hi"}]}))
    medconv = tmp_path / "medconv.jsonl"
    medconv.write_text(json.dumps({"session_id": "s", "messages": []}))
    mts = tmp_path / "mts.csv"
    mts.write_text("ID,section_header,section_text,dialogue\n0,GENHX,x,Doctor: Hi?\n")
    assert [detect_format(p) for p in (chat, medconv, mts)] == ["chat", "realmedconv", "mts-dialog"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("ticket,author,body\nT-1,customer,Hi.\n", r":1: no conversation column: expected one of"),
        ("ticket_id,author,note\nT-1,customer,Hi.\n", r":1: no text column: expected one of"),
        ("ticket_id,author,body\nT-1,customer,Hi.\n,agent,Hello?\n", r":3: row has no 'ticket_id'"),
        ("ticket_id,author,body\nT-1,customer,Hi.\nT-1,agent,\n", r":3: empty text in a 'agent'"),
        ("ticket_id,author,body\nT-1,system,Opened.\n", r":2: conversation 'T-1' has no turns"),
    ],
)
def test_bad_rows_are_named_by_line(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "tickets.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=reason):
        read_dialogues([path], ReaderConfig(format="rows"))


def test_skip_invalid_drops_the_whole_conversation_of_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "tickets.csv"
    path.write_text(TICKETS.replace("T-2,09:03,agent", "T-2,09:03,robot"))
    result = read_dialogues([path], ReaderConfig(skip_invalid=True))
    assert [d.id for d in result.dialogues] == ["T-1"]
    (skipped,) = result.skipped
    assert skipped.line == 5 and "'robot'" in skipped.reason


def test_prepare_reads_a_ticket_export_into_samples(tmp_path: Path) -> None:
    path = tmp_path / "tickets.csv"
    path.write_text(TICKETS)
    out = tmp_path / "out"
    assert main(["prepare", str(path), "--out", str(out), "--test-fraction", "0"]) == 0
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert {r["dialogue_id"] for r in rows} == {"T-1", "T-2"}
    assert {r["meta"]["format"] for r in rows} == {"rows"}
    assert "speaker" not in rows[0]["context"][0]  # samples keep their on-disk form
    # stats.json says how each speaker was read, so a user sees "agent" became the expert
    stats = json.loads((out / "stats.json").read_text())
    assert stats["speakers"] == {
        "customer": {"role": "user", "turns": 5},
        "agent": {"role": "expert", "turns": 3},
    }


def test_prepare_rejects_an_unknown_speaker_with_exit_2(tmp_path: Path, capsys) -> None:
    path = tmp_path / "tickets.csv"
    path.write_text(TICKETS.replace("T-1,09:07,agent", "T-1,09:07,manager"))
    assert main(["prepare", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    # line 10: the row at 09:03 spans two lines
    assert len(err.splitlines()) == 1 and f"{path}:10:" in err and "'manager'" in err
    assert "--speaker-map" in err
    assert not (tmp_path / "out" / "train.jsonl").exists()


def test_chat_records_in_sharegpt_and_openai_content_part_shapes(tmp_path: Path) -> None:
    path = tmp_path / "chats.jsonl"
    records = [
        {
            "id": "sg-1",
            "conversations": [
                {"from": "human", "value": "My order is late."},
                {"from": "gpt", "value": "What is your order number?"},
            ],
        },
        {
            "id": "oa-1",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Hi, a refund please."}]},
                {"role": "tool", "content": "order 12345: shipped"},
                {"role": "assistant", "content": "Which order is it?"},
            ],
        },
        {"id": "md-1", "turns": [{"speaker": "Patient", "text": "I feel dizzy."}]},
        {"id": "pairs-1", "dialogue": [["customer", "Refund, please."], ["agent", "Order?"]]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert detect_format(path) == "chat"
    assert turns_of(path) == {
        "sg-1": [("user", "My order is late."), ("expert", "What is your order number?")],
        "oa-1": [("user", "Hi, a refund please."), ("expert", "Which order is it?")],
        "md-1": [("user", "I feel dizzy.")],
        "pairs-1": [("user", "Refund, please."), ("expert", "Order?")],
    }
    path.write_text(json.dumps({"id": "x", "messages": [{"role": "robot", "content": "Hi"}]}))
    with pytest.raises(InputError, match=r"chats\.jsonl:1: unknown role/speaker 'robot'"):
        read_dialogues([path])


def test_a_role_column_wins_over_a_column_of_names(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "ticket_id,author,author_role,body\n"
        "9,Jane Doe,end-user,The app crashes on start.\n"
        "9,Sam (support),agent,Which version do you have?\n"
    )
    assert turns_of(path)["9"] == [
        ("user", "The app crashes on start."),
        ("expert", "Which version do you have?"),
    ]


def test_numbered_speakers_take_their_base_role(tmp_path: Path) -> None:
    path = tmp_path / "calls.csv"
    path.write_text(
        "call_id,speaker,text\n1,Customer 1,My card was declined.\n1,agent_2,Which card is it?\n"
    )
    assert [role for role, _ in turns_of(path)["1"]] == ["user", "expert"]


def test_an_order_column_sorts_an_export_out_of_order(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "conversation_id,seq,role,text\n"
        "a,2,agent,Is the light on?\n"
        "a,1,customer,It will not start.\n"
        "a,3,customer,No.\n"
    )
    assert [text for _, text in turns_of(path)["a"]] == [
        "It will not start.",
        "Is the light on?",
        "No.",
    ]
    path.write_text("conversation_id,seq,role,text\na,first,customer,Hi.\n")
    with pytest.raises(InputError, match=r"export\.csv:2: 'seq' is not a whole number: 'first'"):
        read_dialogues([path])


def test_a_chat_record_without_messages_or_speakers_is_named(tmp_path: Path) -> None:
    path = tmp_path / "chats.jsonl"
    path.write_text('{"id": "a", "body": "hi"}\n{"id": "b", "turns": [{"text": "hi"}]}\n')
    result = read_dialogues([path], ReaderConfig(skip_invalid=True))
    assert [(e.line, e.reason.split(" (")[0]) for e in result.skipped] == [
        (1, "record has no list of messages"),
        (2, "a message names no speaker"),
    ]


def test_meddialog_shapes_a_json_array_of_labelled_strings_and_dialogue_turns(
    tmp_path: Path,
) -> None:
    processed = tmp_path / "english-train.json"  # MedDialog's processed files
    processed.write_text(
        "[\n"
        '  {"description": "cough", "utterances": ["patient: I have had a cough for a week.",\n'
        '                                          "doctor: Any fever?"]},\n'
        '  {"description": "rash", "utterances": ["patient: An itchy rash.", "doctor: Where?"]}\n'
        "]\n"
    )
    assert detect_format(processed) == "chat"
    dialogues = turns_of(processed)
    assert list(dialogues) == ["english-train-2", "english-train-4"]  # named by their line
    assert dialogues["english-train-2"] == [
        ("user", "I have had a cough for a week."),
        ("expert", "Any fever?"),
    ]
    exported = tmp_path / "medical_dialog.jsonl"  # the Hugging Face copy, exported as JSON Lines
    turns = [
        {"speaker": "Patient", "utterance": "Dizzy."},
        {"speaker": "Doctor", "utterance": "Since?"},
    ]
    exported.write_text(json.dumps({"dialogue_id": 7, "dialogue_turns": turns}) + "\n")
    assert turns_of(exported) == {"7": [("user", "Dizzy."), ("expert", "Since?")]}
    processed.write_text('[{"utterances": ["patient: Hi."]},\n {"utterances": ["Hello there."]}]')
    with pytest.raises(InputError, match=r"english-train\.json:2: a message has no 'Label:'"):
        read_dialogues([processed])


@pytest.mark.parametrize(
    "bundled", ["mts-dialog/MTS-Dialog-ValidationSet.csv", "support/helpdesk.jsonl"]
)
def test_bundled_conversations_written_as_rows_read_back_the_same(
    tmp_path: Path, bundled: str
) -> None:
    source = Path(__file__).resolve().parents[2] / "src/learn2ask/resources/data" / bundled
    dialogues = read_dialogues([source]).dialogues
    path = tmp_path / "export.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["conversation_id", "role", "text"])
        for dialogue in dialogues:
            writer.writerows([dialogue.id, turn.role, turn.content] for turn in dialogue.turns)
    again = read_dialogues([path]).dialogues
    assert len(again) == len(dialogues) > 10
    assert [(d.id, d.turns) for d in again] == [(d.id, d.turns) for d in dialogues]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=400), st.sampled_from(["x.csv", "x.tsv", "x.jsonl", "x.json"]))
def test_any_bytes_give_dialogues_or_one_input_error(
    tmp_path: Path, data: bytes, name: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    try:
        result = read_dialogues([path], ReaderConfig(skip_invalid=True))
    except InputError:
        return  # a whole-file error (not UTF-8, empty, no such column), named as such
    for dialogue in result.dialogues:
        assert dialogue.turns and all(t.role in ("user", "expert") for t in dialogue.turns)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from(["customer", "agent", "Agent 2", "system", "robot", ""]),
            st.text(max_size=20),
        ),
        max_size=12,
    )
)
def test_any_rows_read_as_the_rows_say(tmp_path: Path, rows: list[tuple[str, str, str]]) -> None:
    path = tmp_path / "x.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("conversation_id", "speaker", "text"), *rows])
    try:
        result = read_dialogues([path], ReaderConfig(format="rows", skip_invalid=True))
    except InputError:
        return  # e.g. a text that is not valid Unicode, or no rows at all
    for dialogue in result.dialogues:
        said = [(s, t) for c, s, t in rows if c == dialogue.id and s != "system"]
        assert [t.content for t in dialogue.turns] == [t.strip() for _, t in said]
