"""Every bundled domain's ``serving:`` section validates and is usable; serve picks the domain a
run was trained on when ``--domain`` is not given."""

from __future__ import annotations

import pytest

from learn2ask.domain import bundled_domain_names, load_domain
from learn2ask.models.policy import PolicyPromptConfig, save_prompt_config
from learn2ask.serving.redflags import RedFlagMatcher
from learn2ask.serving.server import default_domain, load_settings


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


def trained_model_dir(root, domain):
    """A run directory whose model carries ``domain``'s prompt (weights not needed)."""
    model = root / "run" / "model"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    save_prompt_config(model, PolicyPromptConfig.from_domain(domain), domain)
    return model.parent


def test_serve_defaults_to_the_bundled_domain_the_run_was_trained_on(tmp_path):
    helpdesk = trained_model_dir(tmp_path / "a", load_domain("support"))
    assert default_domain(str(helpdesk), None) == "support"
    assert default_domain(str(helpdesk / "model"), None) == "support"
    # through an endpoint, the local copy named by --policy-model says it
    assert default_domain("http://127.0.0.1:8000/v1", str(helpdesk)) == "support"
    medical = trained_model_dir(tmp_path / "b", load_domain("medical"))
    assert default_domain(str(medical), None) == "medical"
    # an untrained bundled model, or a run of a domain from the user's own file: medical
    assert default_domain("smollm2-135m-instruct", None) == "medical"
    legal = load_domain("support").model_copy(update={"name": "legal"})
    assert default_domain(str(trained_model_dir(tmp_path / "c", legal)), None) == "medical"
