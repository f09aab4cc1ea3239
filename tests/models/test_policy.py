"""The policy contract: strict parsing and the prompt builder."""

from __future__ import annotations

import pytest

from learn2ask.data.types import Turn
from learn2ask.domain import load_domain
from learn2ask.models.policy import (
    PolicyPromptConfig,
    build_policy_messages,
    fit_context,
    load_prompt_config,
    parse_policy_response,
    save_prompt_config,
)


@pytest.mark.parametrize(
    ("raw", "assessment", "n", "clean", "violation"),
    [
        ("When did it start?", "continue", 1, False, None),
        ("  Does it hurt??  ", "continue", 1, False, None),
        ("When did it start? Where is it?", "continue", 2, False, "2 questions in one turn"),
        ("I see, take some rest.", "continue", 0, False, "neither a question nor the stop tag"),
        ("", "continue", 0, False, "empty reply"),
        ("<stop />", "stop", 0, True, None),
        ("<stop/>", "stop", 0, True, None),
        (" <STOP /> ", "stop", 0, True, None),
        ("Thanks for the details. <stop />", "stop", 0, False, "stop tag mixed with other text"),
    ],
)
def test_parse_is_strict(raw, assessment, n, clean, violation):
    parsed = parse_policy_response(raw)
    assert parsed.assessment == assessment
    assert parsed.n_questions == n
    assert parsed.clean_stop is clean
    assert parsed.violation == violation
    assert parsed.format_ok is (violation is None)


def test_messages_merge_consecutive_roles_and_keep_full_history():
    context = [
        Turn("user", "Sore throat"),
        Turn("user", "and cough"),
        Turn("expert", "Since when?"),
        Turn("user", "2 days"),
    ]
    messages = build_policy_messages(context)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == "Sore throat\nand cough"
    assert "<stop />" in messages[0]["content"] and "doctor" in messages[0]["content"]


def test_domain_is_configurable():
    config = PolicyPromptConfig(expert="pharmacist", user="customer")
    system = build_policy_messages([Turn("user", "hi")], config)[0]["content"]
    assert "pharmacist" in system and "customer" in system and "doctor" not in system


def test_budget_keeps_first_and_latest_turns():
    context = [Turn("user", "complaint " * 5)] + [
        Turn("expert" if i % 2 else "user", f"turn{i} " * 5) for i in range(1, 10)
    ]
    kept = fit_context(context, max_chars=150)
    assert kept[0] == context[0]
    assert kept[-1] == context[-1]
    assert len(kept) < len(context)
    assert fit_context(context, None) == context


def test_prompt_config_round_trip(tmp_path):
    config = PolicyPromptConfig(expert="agent", max_context_chars=300)
    save_prompt_config(tmp_path, config, load_domain("medical"))
    assert load_prompt_config(tmp_path) == config
    assert load_prompt_config(tmp_path / "missing") == PolicyPromptConfig()
