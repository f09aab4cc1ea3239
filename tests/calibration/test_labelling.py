"""The labelling page in real headless Chromium, its API's 4xx answers, and card selection."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from learn2ask.calibration.extraction import load_extraction_points
from learn2ask.calibration.labelling import LabelStore, build_cards, create_app, export_labels
from learn2ask.calibration.labels import load_extraction_labels, load_grade_labels
from learn2ask.data.samples import load_samples

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def fixture_cards(tmp_path: Path, other_scores=None) -> tuple[LabelStore, list]:
    """A store with grade cards for three fixture samples and two extraction cards."""
    samples = load_samples(FIXTURES / "grader_samples.jsonl")[:3]
    ids = {s.id for s in samples}
    responses = [
        (row["id"], row["question"])
        for row in map(json.loads, (FIXTURES / "grader_labels.jsonl").read_text().splitlines())
        if row["id"] in ids
    ]
    store = LabelStore(tmp_path / "labels.sqlite")
    build_cards(
        store,
        samples,
        responses,
        max_cards=5,
        extraction_cards=1,
        random_share=0.2,
        other_scores=other_scores,
    )
    return store, responses


@pytest.fixture()
def served(tmp_path):
    """The labelling app on loopback (uvicorn in a thread); yields (base_url, store)."""
    import uvicorn

    store, _ = fixture_cards(tmp_path)
    server = uvicorn.Server(
        uvicorn.Config(create_app(store), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "labelling app did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", store
    server.should_exit = True
    thread.join(timeout=10)


def active_labels(store: LabelStore, labeller: str) -> list[tuple]:
    db = sqlite3.connect(store.path)
    try:
        return db.execute(
            "SELECT card_id, value, skipped, created_at FROM labels "
            "WHERE labeller = ? AND undone = 0 ORDER BY id",
            (labeller,),
        ).fetchall()
    finally:
        db.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
def test_label_skip_undo_and_extraction_in_chromium(served, tmp_path):
    from playwright.sync_api import sync_playwright

    base_url, store = served
    requested: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("request", lambda r: requested.append(r.url))
        page.goto(base_url + "/")
        page.fill("#labeller", "tester")
        page.press("#labeller", "Enter")
        page.wait_for_selector("#question:not(:empty)")
        progress = page.locator("#progress")

        def card_id() -> str:
            return page.get_attribute("#card", "data-card-id")

        first = card_id()
        page.keyboard.press("1")
        page.keyboard.press("5")  # typed at once: it must go to the NEXT card, not this one
        page.wait_for_function("document.querySelector('#progress').textContent.startsWith('2 ')")
        skipped = card_id()
        page.keyboard.press("s")
        page.wait_for_function("document.querySelector('#progress').textContent.includes('1 skip')")
        page.keyboard.press("u")
        page.wait_for_function("document.querySelector('#progress').textContent.includes('0 skip')")
        assert card_id() == skipped  # undo brings the card back
        page.keyboard.press("0")
        page.wait_for_function("document.querySelector('#progress').textContent.startsWith('3 ')")
        assert "3 labelled" in progress.text_content()
        # label the remaining cards: grade cards 0, the extraction card with one wrong item
        while not page.is_hidden("#card"):
            before = progress.text_content()
            if page.get_attribute("#card", "data-kind") == "grade":
                page.keyboard.press("0")
            else:
                page.keyboard.press("1")  # mark item 1 wrong
                page.wait_for_selector("#items li:first-child.wrong")
                page.keyboard.press("m")
                page.keyboard.type("Do you take any medication?")
                page.keyboard.press("Escape")
                page.keyboard.press("Enter")
            page.wait_for_function(
                f"document.querySelector('#progress').textContent !== {json.dumps(before)}"
                " || document.querySelector('#message').textContent.startsWith('Not saved')"
            )
            assert not page.text_content("#message").startswith("Not saved"), page.text_content(
                "#message"
            )
        page.wait_for_selector("#message:has-text('No cards left')")
        browser.close()
    assert requested and all(url.startswith(base_url) for url in requested)  # nothing external
    rows = active_labels(store, "tester")
    grades = [json.loads(v)["label"] for _, v, skipped, _ in rows if v and "label" in v]
    assert grades[:3] == [1, 0.5, 0] and all(created for *_, created in rows)
    assert str(rows[0][0]) == first and rows[1][0] != rows[0][0]
    exported = tmp_path / "labels.jsonl"
    export_labels(store, exported)
    lines = [json.loads(x) for x in exported.read_text().splitlines()]
    extraction = [x for x in lines if x["kind"] == "extraction"]
    assert extraction[0]["items"][0]["verdict"] == "wrong"
    assert extraction[0]["missing"] == ["Do you take any medication?"]
    assert all(x["labeller"] == "tester" and x["time"] for x in lines)
    # the export is self-contained: calibrate reads it without a samples file
    labelled = load_grade_labels(exported, {})
    assert [x.label for x in labelled][:3] == [1.0, 0.5, 0.0]
    assert load_extraction_labels(exported)[0].info_seeking is False
    (checked,) = load_extraction_points(exported)  # what calibrate --extractor llm reads
    assert checked.positives[-1] == "Do you take any medication?"


def test_api_rejects_bad_input_with_reasons(served):
    base_url, _ = served
    card = httpx.get(f"{base_url}/api/next", params={"labeller": "a"}).json()["card"]
    bad_value = httpx.post(
        f"{base_url}/api/label", json={"card_id": card["id"], "labeller": "a", "label": 3}
    )
    assert bad_value.status_code == 400 and "0, 0.5 or 1" in bad_value.json()["detail"]
    unknown = httpx.post(f"{base_url}/api/label", json={"card_id": 999, "labeller": "a"})
    assert unknown.status_code == 404
    who = httpx.get(f"{base_url}/api/next", params={"labeller": "bad id!"})
    assert who.status_code == 400 and "labeller" in who.json()["detail"]
    not_json = httpx.post(f"{base_url}/api/undo", content=b"{", headers={"content-type": "x"})
    assert not_json.status_code == 400
    assert httpx.get(f"{base_url}/static/../cli.py").status_code == 404


def test_disagreements_and_close_calls_come_first(tmp_path):
    store, responses = fixture_cards(tmp_path / "plain")
    first = store.next_card("x")
    assert first["kind"] == "grade" and "near a threshold" in first["reason"]
    # another grader that says 0.5 everywhere disagrees with most embedding grades
    store2, _ = fixture_cards(tmp_path / "other", other_scores={pair: 0.5 for pair in responses})
    assert store2.next_card("x")["reason"].startswith("graders disagree")


def test_label_command_exports_and_rejects_bad_options(tmp_path, capsys):
    from learn2ask.cli import main

    samples = str(FIXTURES / "grader_samples.jsonl")
    db = tmp_path / "l.sqlite"
    code = main(["label", "--samples", samples, "--out", str(db), "--random-share", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "--random-share" in err and len(err.strip().splitlines()) == 1
    bad = tmp_path / "r.jsonl"
    bad.write_text('{"id": "nope", "response": "Why?"}\n')
    assert main(["label", "--samples", samples, "--responses", str(bad), "--out", str(db)]) == 2
    assert "r.jsonl:1:" in capsys.readouterr().err
    store, _ = fixture_cards(tmp_path)
    card = store.card(1)  # grade cards are queued first
    assert card["kind"] == "grade"
    store.record(card["id"], "dr.a", {"label": 0.5})
    store.record(card["id"], "dr.b", None)  # a skip is not a label
    out = tmp_path / "export.jsonl"
    args = ["label", "--samples", samples, "--out", str(store.path), "--export", str(out)]
    assert main(args) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(r["labeller"], r["label"], r["question"]) for r in rows] == [
        ("dr.a", 0.5, card["question"])
    ]
