"""Counting the questions of a turn: by their marks, or by their openings in unpunctuated
speech, the same way for the labels (qa rule 4), the policy's progress line and the stop head."""

from __future__ import annotations

import math

import pytest

from learn2ask.data.questions import (
    count_questions,
    count_turn_questions,
    cue_opening,
    is_question_turn,
    is_unpunctuated_turn,
)
from learn2ask.data.types import Turn
from learn2ask.models.policy import progress_line
from learn2ask.models.stop_head import surface_features

SPOKEN = [
    Turn("expert", "okay so what brings you in today"),
    Turn("user", "my knee has been hurting since i fell"),
    Turn("expert", "alright and have you been able to stand on it"),
    Turn("user", "yes but it hurts"),
    Turn("expert", "okay which knee was it"),
    Turn("user", "the right one"),
    Turn("expert", "okay i am going to examine it now"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Does it hurt? When did it start?", 2),
        ("Does it hurt?? Really?", 2),  # a run of marks is one question
        ("I will examine you now.", 0),
        ("okay which knee was it", 1),  # unpunctuated speech: its opening
        ("and any swelling", 1),
        ("okay i am going to examine it now", 0),
        ("Okay", 0),
        ("", 0),
        # punctuated turns are read by their marks, not their openings
        ("Tell me how long it has hurt.", 0),
    ],
)
def test_count_turn_questions(text, expected):
    assert count_turn_questions(text) == expected


def test_marks_and_openings():
    assert count_questions("What? Why? ") == 2
    assert is_unpunctuated_turn("okay which knee was it")
    assert not is_unpunctuated_turn("Okay. Which knee?")
    assert cue_opening("okay which knee was it") == len("okay ")
    assert cue_opening("that is it") is None  # a statement, not "is it ..."
    assert is_question_turn("Which knee? ")
    assert is_question_turn("okay which knee was it")
    assert not is_question_turn("okay i am going to examine it now")
    assert not is_question_turn("Does it hurt? I will examine it.")


def test_progress_line_counts_spoken_questions():
    assert progress_line(SPOKEN, "doctor") == "So far: 7 turns, 3 questions asked by the doctor."
    punctuated = [Turn("expert", "What brings you in? Any fever?"), Turn("user", "A cough.")]
    expected = "So far: 2 turns, 2 questions asked by the doctor."
    assert progress_line(punctuated, "doctor") == expected


def test_stop_head_features_read_spoken_questions():
    features = surface_features(SPOKEN[:5])
    assert features[3] == 1.0  # the expert's last turn ("okay which knee was it") asks
    assert features[4] == pytest.approx(math.log1p(3))
    assert surface_features(SPOKEN)[3] == 0.0  # "okay i am going to examine it now" does not


def test_yes_no_questions_are_told_from_others():
    from learn2ask.data.questions import is_yes_no_question

    for question in (
        "Do you smoke?",
        "And, is there any blood?",
        "Any fever?",
        "No chest pain?",
        "Have any numbness?",
        "Does it hurt?",
    ):
        assert is_yes_no_question(question), question
    for question in (
        "Where is the chest pain?",
        "How long?",
        "Anything else?",
        "Nothing else?",
        "What is it you do?",
        "I see you have asthma?",
    ):
        assert not is_yes_no_question(question), question


def medical_unaskable():
    from learn2ask.data.questions import unaskable_regex
    from learn2ask.domain import load_domain

    return unaskable_regex(tuple(load_domain("medical").unaskable))


@pytest.mark.parametrize(
    "text",
    [
        "Does it hurt when I press here?",
        "How about when I move your elbow like this, does that hurt you?",
        "If I lift your leg up like this, does that hurt?",
        "Can you straighten the knee out for me, please?",
        "Could you say ah for me?",
        "Can you feel me touch you down here?",
        "Is your pain right here?",
        "Do you mind if I do a quick exam?",
        "Go ahead and lift your knee up, does that bother you?",
        "I'm going to apply some pressure right here, can you feel that?",
    ],
)
def test_the_medical_domain_never_asks_an_examination_prompt(text):
    assert medical_unaskable().search(text)


@pytest.mark.parametrize(
    "text",
    [
        "Does it hurt when you bend your knee?",  # the person's own movement: answerable
        "Are you able to bend it?",
        "How long have you been feeling like this?",
        "Can you describe that pain for me?",
        "How did you lose your arm, if I may ask?",
        "Where is the pain?",
        "Let me ask you, do you have any children?",
        "Any shortness of breath when you walk around or move anything like that?",
        "Any history of high blood pressure, or anything like that?",
    ],
)
def test_history_questions_are_askable(text):
    assert medical_unaskable().search(text) is None


def test_unaskable_patterns_belong_to_the_domain(tmp_path):
    from learn2ask.data.questions import unaskable_regex
    from learn2ask.domain import domain_path, load_domain
    from learn2ask.errors import ConfigError

    # a helpdesk asks people to press things: the support domain has no such patterns
    assert unaskable_regex(tuple(load_domain("support").unaskable)) is None
    assert medical_unaskable().search("Can you press the power button for me?")
    broken = tmp_path / "broken.yaml"
    broken.write_text(domain_path("support").read_text() + "unaskable: ['when i (press']\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: unaskable.*not a regular expression"):
        load_domain(broken)
