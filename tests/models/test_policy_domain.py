"""The domain travels with a trained model in learn2ask_policy.json; older files still load."""

from __future__ import annotations

import json

from learn2ask.domain import load_domain
from learn2ask.models.policy import (
    PolicyPromptConfig,
    load_model_domain,
    load_prompt_config,
    resolve_domain,
    save_prompt_config,
    system_prompt,
)


def test_saved_prompt_carries_its_whole_domain(tmp_path):
    support = load_domain("support")
    config = PolicyPromptConfig.from_domain(support, max_context_chars=300)
    save_prompt_config(tmp_path, config, support)
    assert load_prompt_config(tmp_path) == config
    assert load_model_domain(tmp_path) == support
    assert "helpdesk agent" in system_prompt(load_prompt_config(tmp_path))


def test_policy_file_written_before_domains_loads_as_medical(tmp_path):
    old = {
        "expert": "doctor",
        "user": "patient",
        "system_template": "You are a {expert} with a {user}. Stop with {stop_tag}",
        "stop_tag": "<stop />",
        "max_context_chars": 250,
        "decision": {"rule": "greedy"},
    }
    (tmp_path / "learn2ask_policy.json").write_text(json.dumps(old))
    config = load_prompt_config(tmp_path)
    assert config.domain == "medical" and config.max_context_chars == 250
    assert system_prompt(config) == "You are a doctor with a patient. Stop with <stop />"
    assert load_model_domain(tmp_path) is None


def test_default_prompt_is_the_default_domains():
    medical = load_domain("medical")
    assert PolicyPromptConfig() == PolicyPromptConfig.from_domain(medical)


def test_resolve_domain_prefers_the_override_then_the_saved_domain(tmp_path):
    support = load_domain("support")
    saved = PolicyPromptConfig.from_domain(support, max_context_chars=300)
    save_prompt_config(tmp_path, saved, support)
    prompt, domain = resolve_domain(saved, None, tmp_path)
    assert (prompt, domain.name) == (saved, "support")
    run_dir = tmp_path / "run"  # a training run directory holding model/ works too
    (run_dir / "model").mkdir(parents=True)
    save_prompt_config(run_dir / "model", saved, support)
    assert resolve_domain(PolicyPromptConfig(), None, run_dir)[1].name == "support"
    prompt, domain = resolve_domain(saved, "medical", tmp_path)
    assert (prompt.expert, prompt.max_context_chars, domain.name) == ("doctor", 300, "medical")
