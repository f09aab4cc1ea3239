"""The red-flag rule set: every urgent phrasing escalates; look-alikes' false alarms reported."""

from __future__ import annotations

import pytest

from learn2ask.errors import ConfigError
from learn2ask.serving.config import RedFlagSet, serving_settings
from learn2ask.serving.redflags import RedFlagMatcher, normalise
from learn2ask.serving.server import load_settings

# The share of look-alike messages that may escalate: red flags favour recall, but a rule set
# that escalates more than this would bury the operators in false alarms.
MAX_FALSE_ALARM_RATE = 0.05


@pytest.fixture(scope="module")
def matcher() -> RedFlagMatcher:
    return RedFlagMatcher(load_settings("medical")[1].red_flags)


def test_the_test_set_is_large_enough(red_flag_cases):
    assert len(red_flag_cases["urgent"]) >= 100
    assert len(red_flag_cases["look_alike"]) >= 100
    assert not set(red_flag_cases["urgent"]) & set(red_flag_cases["look_alike"])


def test_every_urgent_phrasing_escalates(matcher, red_flag_cases):
    missed = [text for text in red_flag_cases["urgent"] if matcher.check(text) is None]
    assert missed == []


def test_false_alarm_rate_on_look_alikes(matcher, red_flag_cases):
    alarms = [t for t in red_flag_cases["look_alike"] if matcher.check(t) is not None]
    rate = len(alarms) / len(red_flag_cases["look_alike"])
    print(
        f"\nred flags {matcher.version}: false alarms {len(alarms)}/"
        f"{len(red_flag_cases['look_alike'])} = {rate:.1%}: {alarms}"
    )
    assert rate <= MAX_FALSE_ALARM_RATE


@pytest.mark.parametrize(
    ("text", "fires"),
    [
        ("no chest pain or shortness of breath", False),
        ("I have no energy and chest pain and I'm short of breath", True),
        ("Chest pain. No, I'm not short of breath", False),
        ("not short of breath but chest pain", False),
        ("I don't have chest pain, but I can't breathe and my chest hurts", True),
        ("I\u2019m not suicidal", False),
        ("I'm suicidal, not joking", True),
    ],
)
def test_negation_scope(matcher, text, fires):
    assert (matcher.check(text) is not None) is fires


def test_hit_names_rule_phrases_and_version(matcher):
    hit = matcher.check("My face is drooping and my speech is slurred")
    assert hit.rule_id == "stroke" and hit.version == matcher.version
    assert hit.phrases == ("face is drooping",)


def test_normalise_keeps_clause_breaks():
    assert normalise("Can't breathe, NO pain!") == "cant breathe | no pain"


def test_two_group_rule_needs_both_groups():
    rules = RedFlagSet(
        version="t1",
        negations=["no"],
        rules=[{"id": "r", "reason": "r", "all_of": [["stiff neck"], ["fever"]]}],
    )
    matcher = RedFlagMatcher(rules)
    assert matcher.check("stiff neck") is None
    assert matcher.check("stiff neck and fever") is not None
    assert matcher.check("stiff neck, no fever") is None


def test_bad_rule_set_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"serving\.red_flags\.rules\.0\.all_of"):
        serving_settings(
            {"red_flags": {"version": "1", "rules": [{"id": "x", "reason": "y", "all_of": [[]]}]}},
            "d.yaml",
        )
    with pytest.raises(ConfigError, match=r"serving\.question_budget"):
        serving_settings({"question_budget": 0}, "d.yaml")
