"""``export-sessions`` -> ``prepare`` round trip, and the CLIs' bad-input behaviour."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx

from learn2ask.data.readers import ReaderConfig, read_dialogues
from tests.serving.conftest import ScriptedPolicy, start_live_server


def _cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "learn2ask", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def _served_db(tmp_path):
    """Sessions in every state: stopped, escalated, taken over then closed, still open."""
    db = str(tmp_path / "sessions.sqlite")
    live = start_live_server(db, ScriptedPolicy(asks=1))

    def post(path, **kw):
        return httpx.post(live.url + path, timeout=30, **kw).json()

    try:
        stopped = post("/v1/sessions", json={"content": "I have a rash"})["id"]
        post(f"/v1/sessions/{stopped}/messages", json={"content": "on my arms, itchy"})
        escalated = post("/v1/sessions", json={"content": "I want to kill myself"})["id"]
        operated = post("/v1/sessions", json={"content": "ear ache"})["id"]
        post(f"/v1/operator/sessions/{operated}/takeover")
        post(f"/v1/sessions/{operated}/messages", json={"content": "left ear"})
        post(f"/v1/operator/sessions/{operated}/messages", json={"content": "Any fever?"})
        post(f"/v1/sessions/{operated}/messages", json={"content": "no"})
        post(f"/v1/sessions/{operated}/close")
        finished = post("/v1/sessions", json={"content": "a sore throat"})["id"]
        post(f"/v1/sessions/{finished}/finish")  # "That's all" before the policy stops
        still_open = post("/v1/sessions", json={"content": "tired"})["id"]
        post("/v1/sessions", json={})  # no user message: never exported
    finally:
        live.stop()
    return db, {
        "stopped": stopped,
        "escalated": escalated,
        "closed": operated,
        "finished": finished,
        "open": still_open,
    }


def test_a_handover_stored_before_it_had_an_author_still_ends_the_export(tmp_path):
    from learn2ask.serving.export import session_to_realmedconv
    from learn2ask.serving.store import NewMessage, SessionRecord, open_store

    store = open_store(str(tmp_path / "old.sqlite"))
    record = SessionRecord(id="old", domain="medical", state="open", created_at=0, updated_at=0)
    store.create(record, [NewMessage("system", "system", "Disclaimer.")])
    summary = "Complaint: a cough"
    store.append(
        "old",
        [
            NewMessage("user", "user", "a cough"),
            NewMessage("system", "system", f"Thanks.\n\n{summary}"),
        ],
        updates={"state": "stopped", "summary": summary},
    )
    assert session_to_realmedconv(store.get("old"))["messages"] == [
        {"role": "user", "content": "a cough"},
        {"role": "assistant", "content": "<handover />"},
    ]


def test_export_then_prepare_round_trip(tmp_path):
    db, ids = _served_db(tmp_path)
    out = tmp_path / "logs.jsonl"
    result = _cli("export-sessions", "--db", db, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "wrote 4 finished sessions" in result.stdout
    records = [json.loads(line) for line in out.read_text().splitlines()]
    exported = {ids[k] for k in ("stopped", "escalated", "closed", "finished")}
    assert {r["session_id"] for r in records} == exported
    by_id = {r["session_id"]: r for r in records}
    stopped_by = {k: by_id[ids[k]]["served"]["stopped_by"] for k in ("stopped", "finished")}
    assert stopped_by == {"stopped": "policy", "finished": "user"}
    assert by_id[ids["closed"]]["served"]["stopped_by"] is None
    assert by_id[ids["closed"]]["messages"] == [
        {"role": "user", "content": "ear ache"},
        {"role": "assistant", "content": "Question 1: how long has it lasted?"},
        {"role": "user", "content": "left ear"},
        {"role": "assistant", "content": "Any fever?"},
        {"role": "user", "content": "no"},
    ]
    assert set(records[0]) >= {"session_id", "diagn", "messages"}

    # where the assistant handed over or escalated, the expert's terminal action
    assert by_id[ids["stopped"]]["messages"][-2:] == [
        {"role": "user", "content": "on my arms, itchy"},
        {"role": "assistant", "content": "<handover />"},
    ]
    assert by_id[ids["finished"]]["messages"][-1] == {
        "role": "assistant",
        "content": "<handover />",
    }
    assert by_id[ids["escalated"]]["messages"] == [
        {"role": "user", "content": "I want to kill myself"},
        {"role": "assistant", "content": "<escalate />"},
    ]

    read = read_dialogues([out], ReaderConfig(format="realmedconv"))
    assert read.skipped == [] and len(read.dialogues) == 4
    operated = next(d for d in read.dialogues if d.id == ids["closed"])
    assert [t.role for t in operated.turns] == ["user", "expert", "user", "expert", "user"]

    prepared = _cli("prepare", str(out), "--out", str(tmp_path / "prep"))
    assert prepared.returncode == 0, prepared.stderr
    points = [
        json.loads(line)
        for name in ("train.jsonl", "test.jsonl")
        for line in (tmp_path / "prep" / name).read_text().splitlines()
    ]
    # the served conversations teach where the assistant stopped: the point after the user's
    # last message is STOP; a point before the assistant's question is CONTINUE
    stopped = sorted(
        (p for p in points if p["dialogue_id"] == ids["stopped"]), key=lambda p: p["index"]
    )
    assert [p["decision"] for p in stopped] == ["continue", "stop"]
    assert stopped[-1]["context"][-1]["content"] == "on my arms, itchy"

    every = _cli("export-sessions", "--db", db, "--out", str(tmp_path / "all.jsonl"), "--all")
    assert every.returncode == 0 and "wrote 5 sessions" in every.stdout
    assert "1 without a user message" in every.stdout


def test_cli_bad_input_exits_2_with_one_line(tmp_path):
    cases = [
        (
            ["export-sessions", "--db", str(tmp_path / "none.sqlite"), "--out", "x.jsonl"],
            "no such SQLite file",
        ),
        (["serve", "--policy", "smollm2-135m-instruct", "--host", "0.0.0.0"], "API key"),
        (["serve", "--policy", "smollm2-135m-instruct", "--port", "70000"], "--port"),
        (["serve", "--policy", "smollm2-135m-instruct", "--domain", "nope"], "unknown domain"),
        (["serve", "--policy", "http://127.0.0.1:9/v1"], "--policy-model"),
        (
            [
                "serve",
                "--policy",
                "smollm2-135m-instruct",
                "--api-key-file",
                str(tmp_path / "missing"),
            ],
            "API key file",
        ),
        (
            ["serve", "--policy", "smollm2-135m-instruct", "--db", str(tmp_path / "a" / "b.db")],
            "does not exist",
        ),
    ]
    env = {**__import__("os").environ}
    env.pop("LEARN2ASK_API_KEY", None)
    for args, words in cases:
        result = _cli(*args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and words in lines[0], (args, result.stderr)


def test_export_writes_the_operators_ratings_as_relevance_labels(tmp_path):
    from learn2ask.evaluation.relevance import load_labels

    db, ids = _served_db(tmp_path)
    from learn2ask.serving.store import open_store

    store = open_store(db)
    record = store.get(ids["stopped"])
    (question,) = [m for m in record.messages if m.author == "policy"]
    store.rate_question(ids["stopped"], question.seq, True)
    (unfinished,) = [m for m in store.get(ids["open"]).messages if m.author == "policy"]
    store.rate_question(ids["open"], unfinished.seq, False)
    out, ratings = tmp_path / "logs.jsonl", tmp_path / "ratings.json"
    result = _cli("export-sessions", "--db", db, "--out", str(out), "--ratings", str(ratings))
    assert result.returncode == 0, result.stderr
    assert "wrote 1 rated questions" in result.stdout  # finished sessions only, as the logs
    contexts, labels = load_labels(ratings)
    assert labels == {(0, question.content): 1}
    assert contexts[0]["set"] == "served" and contexts[0]["conversation"] == ids["stopped"]
    assert contexts[0]["turns"] == [["user", "I have a rash"]]
    every = _cli(
        "export-sessions", "--db", db, "--out", str(out), "--all", "--ratings", str(ratings)
    )
    assert "wrote 2 rated questions" in every.stdout
