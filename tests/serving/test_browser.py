"""The chat page and the operator view in real headless Chromium (Debian's), against
``learn2ask serve --policy smollm2-135m-instruct`` in a subprocess.

Set ``LEARN2ASK_SCREENSHOT=docs/images/serve-chat.png`` to refresh the README's screenshot.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.serving.conftest import budget_domain

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make setup installs it)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


def _offline_page(browser, url: str, outside: list[str]):
    """A page that records (and blocks) every request leaving the server under test."""
    context = browser.new_context(viewport={"width": 900, "height": 900})
    page = context.new_page()

    def route(r):
        if r.request.url.startswith(url):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return page


def test_chat_question_stop_escalation_and_operator(tmp_path, browser, serve_process):
    domain = budget_domain(tmp_path, budget=1)
    server = serve_process(
        "--policy",
        "smollm2-135m-instruct",
        "--db",
        str(tmp_path / "s.sqlite"),
        "--domain",
        str(domain),
    )
    outside: list[str] = []
    page = _offline_page(browser, server.url, outside)
    page.goto(server.url + "/")
    page.wait_for_selector("#disclaimer:not([hidden])")
    assert "not a doctor" in page.inner_text("#disclaimer")

    page.fill("#input", "I have had a headache for three days")
    page.click("#send")
    page.wait_for_selector(".msg.expert, #summary:visible", timeout=180_000)
    assert page.locator(".msg.expert").count() == 1, "the policy should ask first"
    page.fill("#input", "It is worse in the morning")
    page.click("#send")
    page.wait_for_selector("#summary:visible", timeout=180_000)
    summary = page.inner_text("#summary")
    assert "I have had a headache for three days" in summary
    assert "It is worse in the morning" in summary
    assert page.is_disabled("#input")
    shot = tmp_path / "serve-chat.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("LEARN2ASK_SCREENSHOT"):
        target = Path(os.environ["LEARN2ASK_SCREENSHOT"])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)

    # "That's all": the user hands over before the policy stops
    early = _offline_page(browser, server.url, outside)
    early.goto(server.url + "/")
    early.wait_for_selector("#disclaimer:not([hidden])")
    assert early.is_disabled("#finish"), "nothing to hand over before the first message"
    early.fill("#input", "I have a rash on my arm")
    early.click("#send")
    early.wait_for_selector(".msg.expert", timeout=180_000)
    early.wait_for_selector("#finish:enabled")
    early.click("#finish")
    early.wait_for_selector("#summary:visible", timeout=60_000)
    assert "I have a rash on my arm" in early.inner_text("#summary")
    assert early.is_disabled("#input") and early.is_disabled("#finish")

    urgent = _offline_page(browser, server.url, outside)
    urgent.goto(server.url + "/")
    urgent.wait_for_selector("#disclaimer:not([hidden])")
    urgent.fill("#input", "my dad's face is drooping and his speech is slurred")
    urgent.click("#send")
    urgent.wait_for_selector("#banner:visible", timeout=60_000)
    assert "stroke" in urgent.inner_text("#banner")
    assert "emergency" in urgent.inner_text("#log")

    operator = _offline_page(browser, server.url, outside)
    operator.goto(server.url + "/operator")
    operator.wait_for_selector("tr.row")
    escalated_row = operator.locator("tr.row", has_text="escalated").first
    escalated_row.click()
    operator.wait_for_selector("#takeover:visible")
    assert "face is drooping" in operator.inner_text("#transcript")
    operator.click("#takeover")
    operator.wait_for_selector("#form:visible")
    operator.fill("#reply", "I am a doctor. Please call 112 now; is he breathing normally?")
    operator.click("#form button")
    operator.wait_for_function(
        "document.getElementById('transcript').innerText.includes('Please call 112')"
    )
    urgent.wait_for_selector(".msg.operator", timeout=15_000)
    assert "Please call 112" in urgent.inner_text(".msg.operator")
    # the operator sees who handed the early session over
    early_id = early.evaluate("sessionStorage.getItem('l2a-session')")
    operator.locator("tr.row", has_text=early_id[:8]).click()
    operator.wait_for_function(
        "document.getElementById('meta').innerText.includes('handed over by the user')"
    )
    # the operator blocks the question the assistant asked there, and allows it again
    asked = early.inner_text(".msg.expert")
    operator.click("#transcript button.block")
    operator.wait_for_selector("#blocked li")
    entry = operator.inner_text("#blocked li")
    assert asked.strip() in entry
    assert "not applied" in entry  # the bundled model generates: no memory to filter
    operator.click("#blocked li button")
    operator.wait_for_function("document.querySelectorAll('#blocked li').length === 0")
    assert outside == [], f"pages tried to load from outside the server: {outside}"


def test_operator_sees_why_a_question_was_asked_rates_it_and_blocks_it(tmp_path, browser):
    from learn2ask.rewards.graders.embedding import EmbeddingGrader
    from tests.serving.conftest import start_live_server
    from tests.serving.test_serving_memory import FALL, PRESS, SWELL, MemoryPolicy, _memory

    server = start_live_server(
        str(tmp_path / "s.sqlite"), MemoryPolicy(memory=_memory(EmbeddingGrader()))
    )
    outside: list[str] = []
    try:
        page = _offline_page(browser, server.url, outside)
        page.goto(server.url + "/")
        page.wait_for_selector("#disclaimer:not([hidden])")
        page.fill("#input", FALL)
        page.click("#send")
        page.wait_for_selector(".msg.expert", timeout=60_000)
        assert page.inner_text(".msg.expert").strip() == PRESS
        operator = _offline_page(browser, server.url, outside)
        operator.goto(server.url + "/operator")
        operator.wait_for_selector("tr.row")
        operator.locator("tr.row").first.click()
        operator.wait_for_selector("details.why")
        operator.click("details.why summary")
        why = operator.inner_text("details.why")
        assert f"3.0 {PRESS} (asked)" in why and f"1.0 {SWELL} (outvoted)" in why
        operator.wait_for_timeout(3500)  # the transcript is drawn again: the list stays open
        assert operator.evaluate("document.querySelector('details.why').open")
        operator.click("#transcript button.rate >> text=off the point")
        pressed = "#transcript button.rate[aria-pressed=true]"
        operator.wait_for_selector(pressed)
        assert operator.inner_text(pressed) == "off the point"
        operator.reload()  # the rating is stored, not only shown
        operator.locator("tr.row").first.click()
        operator.wait_for_selector(pressed)
        operator.click("#transcript button.block")
        operator.wait_for_selector("#blocked li")
        entry = operator.inner_text("#blocked li")
        assert PRESS in entry and "not applied" not in entry
        page.fill("#input", "It happened yesterday.")  # the same session asks on
        page.click("#send")
        page.wait_for_function("document.querySelectorAll('.msg.expert').length === 2")
        assert page.locator(".msg.expert").nth(1).inner_text().strip() == SWELL
    finally:
        server.stop()
    assert outside == [], f"pages tried to load from outside the server: {outside}"
