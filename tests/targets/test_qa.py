"""The offline qa extractor: answered information-seeking questions only."""

from __future__ import annotations

from learn2ask.data.types import Turn
from learn2ask.targets.base import decision_from_items, reference_reply
from learn2ask.targets.qa import QAExtractor, QAExtractorConfig


def T(role, text):  # noqa: N802 - short helper
    return Turn(role, text)


def test_answered_questions_become_items_with_answers():
    future = [
        T("expert", "Okay. When did the pain start?"),
        T("user", "Two days ago."),
        T("expert", "Is it sharp or dull?"),
        T("user", "Sharp"),
        T("user", "Very sharp"),
    ]
    items = QAExtractor().items_in_future(future)
    assert [i.text for i in items] == ["When did the pain start?", "Is it sharp or dull?"]
    assert items[0].answer == "Two days ago."
    assert items[1].answer == "Sharp\nVery sharp"


def test_pleasantries_acknowledgements_dictation_actions_unanswered_are_not_items():
    future = [
        T("expert", "Hi, how are you today?"),
        T("user", "Good"),
        T("expert", "Okay?"),
        T("user", "Yes"),
        T("expert", "Does that sound good?"),
        T("user", "Sure"),
        T("expert", "Dax, please note the patient has a rash. Is that right?"),
        T("user", "ok"),
        T("expert", "Do you have any questions for me?"),
        T("user", "No"),
        T("expert", "<med_search>"),
        T("expert", "Do you smoke?"),  # never answered: nothing elicited
    ]
    assert QAExtractor().items_in_future(future) == []
    assert decision_from_items([]) == "stop"


def test_action_pattern_is_configurable():
    future = [T("expert", "[ORDER_LAB] what is your weight?"), T("user", "80 kg")]
    assert QAExtractor().items_in_future(future)
    custom = QAExtractor(QAExtractorConfig(action_pattern=r"^\[ORDER_LAB\]"))
    assert custom.items_in_future(future) == []


def test_reference_reply_is_next_question_or_stop():
    from learn2ask.data.types import InfoItem, Sample

    base = dict(
        id="d_0", dialogue_id="d", index=0, context=[T("user", "hi")], future=[], info_set=[]
    )
    stop = Sample(decision="stop", **base)
    assert reference_reply(stop) == "<stop />"
    item = InfoItem(text="Since when?", question="Since when?", answer="Monday")
    go = Sample(**{**base, "info_set": [item.text]}, decision="continue", items=[item])
    assert reference_reply(go) == "Since when?"
