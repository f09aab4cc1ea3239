"""A message that only says the user is done (learn2ask.serving.closing). Pure text."""

from __future__ import annotations

import pytest

from learn2ask.errors import ConfigError
from learn2ask.serving.closing import says_done
from learn2ask.serving.config import FINISH_PHRASES, serving_settings


@pytest.mark.parametrize(
    "message",
    [
        "No, that's all. Nothing else.",
        "That's everything, thank you.",
        "No, nothing else. That's it.",
        "No, I'm done.",
        "I have nothing more to add.",
        "That\u2019s all, thanks!",
        "THAT IS ALL",
        "that's all\nthanks",
    ],
)
def test_a_message_that_only_says_the_user_is_done(message):
    assert says_done(message, FINISH_PHRASES)


@pytest.mark.parametrize(
    "message",
    [
        "No fever, that's all",  # still answering: the policy decides
        "No.",
        "Thanks",
        "Nothing else hurts",
        "I'm not done",
        "no more pain since Monday",
        "",
    ],
)
def test_a_message_with_anything_else_is_left_to_the_policy(message):
    assert not says_done(message, FINISH_PHRASES)


def test_a_domain_chooses_its_phrases_or_none():
    assert not says_done("That's all.", [])
    assert says_done("Fertig.", ["fertig"])
    assert serving_settings({}, "d.yaml").finish_phrases == list(FINISH_PHRASES)
    assert serving_settings({"finish_phrases": []}, "d.yaml").finish_phrases == []
    with pytest.raises(ConfigError, match="serving.finish_phrases"):
        serving_settings({"finish_phrases": "that's all"}, "d.yaml")
