"""Every bundled domain's ``serving:`` section validates and is usable."""

from __future__ import annotations

import pytest

from learn2ask.domain import bundled_domain_names
from learn2ask.serving.redflags import RedFlagMatcher
from learn2ask.serving.server import load_settings


@pytest.mark.parametrize("name", bundled_domain_names())
def test_bundled_serving_sections(name):
    domain, settings = load_settings(name)
    assert settings.disclaimer and settings.urgent_message and settings.handover_message
    assert settings.red_flags.rules and settings.red_flags.version != "none"
    assert RedFlagMatcher(settings.red_flags).version == settings.red_flags.version


def test_support_red_flags_escalate_incidents_not_routine_tickets():
    _, settings = load_settings("support") if "support" in bundled_domain_names() else (0, 0)
    if not settings:
        pytest.skip("no bundled support domain")
    matcher = RedFlagMatcher(settings.red_flags)
    assert matcher.check("I clicked a phishing link and entered my password on it")
    assert matcher.check("Smoke coming from the docking station")
    assert matcher.check("All my files are encrypted and there is a ransom note")
    assert matcher.check("I did not click any phishing link, I just can't log in") is None
    assert matcher.check("My printer is out of toner") is None
