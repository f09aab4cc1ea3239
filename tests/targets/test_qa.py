"""The offline qa extractor: answered information-seeking questions only."""

from __future__ import annotations

from learn2ask.data.types import Turn
from learn2ask.targets.base import decision_from_items, reference_reply
from learn2ask.targets.qa import V1_NON_QUESTION_PATTERNS, QAExtractor, QAExtractorConfig


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


def test_a_short_question_asking_for_something_is_an_item_a_tag_is_not():
    asks = ["Any fever?", "What happened?", "Which knee?", "But why?", "Since when?", "How much?"]
    tags = ["Okay?", "Really?", "Never?", "What?", "What else?", "Pardon?", "Today?"]
    for text in asks + tags:
        future = [T("expert", text), T("user", "Yes.")]
        assert bool(QAExtractor().items_in_future(future)) == (text in asks), text
    # the v1 rules dropped them all; unpunctuated speech keeps them by their opening too
    v1 = QAExtractor(QAExtractorConfig(short_question_pattern=""))
    assert v1.items_in_future([T("expert", "Any fever?"), T("user", "No.")]) == []
    speech = [T("expert", "any fever"), T("user", "no")]
    assert [i.text for i in QAExtractor().items_in_future(speech, unpunctuated=True)] == [
        "Any fever?"
    ]


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


def test_closers_repairs_checks_and_scheduling_are_not_items():
    extractor = QAExtractor()
    not_items = [
        "Anything else going on?",
        "Is there anything else that you needed to add?",
        "Sorry, could you repeat that?",
        "So, is that right?",
        "We'll keep you on the steroid cream for your scalp, okay?",
        "Do you have any other appointments scheduled?",
        "Do you have time for us to do it today?",
        "So, how are you doing, carolyn?",
        "Any other concerns?",
    ]
    for text in not_items:
        assert extractor.questions_in(text) is None, text
    items = [
        "Is there anything else that you have been using recently?",
        "Did you follow up with Doctor X?",
        "You're here for a follow up, correct?",
        "How are you doing with your psoriasis?",
    ]
    for text in items:
        assert extractor.questions_in(text) == text, text


def test_questions_after_dictation_to_the_scribe_still_count():
    text = "Hey, Dragon. I am seeing Mrs. A, 44, with shoulder pain. So how long has this lasted?"
    assert QAExtractor().questions_in(text) == "So how long has this lasted?"
    v1 = QAExtractor(QAExtractorConfig(dictation_scope="turn"))
    assert v1.questions_in(text) is None


def test_prepare_stats_report_changed_stop_labels(tmp_path):
    import json

    from learn2ask.data.prepare import PrepareConfig, prepare_dataset
    from learn2ask.data.samples import load_samples
    from tests.conftest import MTS_VALIDATION

    stats = prepare_dataset(PrepareConfig(inputs=(MTS_VALIDATION,), out=tmp_path), QAExtractor())
    written = json.loads((tmp_path / "stats.json").read_text())["s_star_changes"]
    assert written == stats.s_star_changes
    samples = load_samples(tmp_path / "train.jsonl") + load_samples(tmp_path / "test.jsonl")
    assert written["items_now"] == sum(len(s.items) for s in samples)
    assert written["items_v1_rules"] >= written["items_now"] - written["stop_to_continue"] * 10
    v1 = QAExtractor(QAExtractorConfig(non_question_patterns=V1_NON_QUESTION_PATTERNS))
    flipped = sum(1 for s in samples if s.decision == "stop" and v1.items_in_future(s.future))
    assert flipped >= written["continue_to_stop"] > 0


def test_unpunctuated_speech_finds_questions_by_their_openings():
    # ACI-Bench's speech-recognition visits: no "?" anywhere. Before rule 4 every point of such
    # a visit had an empty I* and was labelled STOP while the doctor went on asking.
    context = [T("expert", "so sophia i see that you hurt your knee"), T("user", "yeah")]
    future = [
        T("expert", "my gosh okay which knee was it"),
        T("user", "my right knee"),
        T("expert", "right knee okay and when did this happen"),
        T("user", "about four days ago"),
        T("expert", "any swelling in the knee"),
        T("user", "a little"),
        T("expert", "so how are you doing today"),  # social: rule 2 still applies
        T("user", "fine"),
        T("expert", "okay i am going to prescribe some ibuprofen"),  # no opening: a statement
        T("user", "okay"),
    ]
    (items,) = QAExtractor().extract([(context, future)])
    assert [i.text for i in items] == [
        "Which knee was it?",
        "When did this happen?",
        "Any swelling in the knee?",
    ]
    assert items[0].answer == "my right knee"
    # the same turns in a conversation that uses "?" elsewhere follow rules 1-3 only
    punctuated = [T("expert", "Does it hurt?"), T("user", "yes"), *future]
    assert [i.text for i in QAExtractor().items_in_future(punctuated)] == ["Does it hurt?"]


def test_cue_openings_skip_statements_and_can_be_turned_off():
    ex = QAExtractor()
    assert ex.cue_question("that is it for today") is None
    assert ex.cue_question("what we will do is order an x-ray") is None
    assert ex.cue_question("okay dax please note did you take anything") is None  # dictation
    assert ex.cue_question("um have you had any fevers") == "Have you had any fevers?"
    off = QAExtractor(QAExtractorConfig(cue_pattern=""))
    future = [T("expert", "which knee was it"), T("user", "the right one")]
    assert off.extract([([], future)]) == [[]]


def test_cue_benchmark_compares_stripped_turns_with_the_question_mark_rules():
    from benchmarks.cue_questions import as_speech, compare

    from learn2ask.data.types import Sample

    turns = [
        T("expert", "Which knee was it?"),
        T("user", "The right one."),
        T("expert", "Okay. Does it hurt when you walk?"),
        T("user", "Yes."),
        T("expert", "Right knee, 3 days ago?"),  # intonation only: rule 4 misses it
        T("user", "Yes."),
        T("expert", "I will order an x-ray."),
        T("user", "Thanks."),
    ]
    ex = QAExtractor()
    samples = []
    for i in range(0, len(turns), 2):
        items = ex.items_in_future(turns[i:])
        samples.append(
            Sample(
                id=f"d_{i}",
                dialogue_id="d",
                index=i,
                context=turns[:i],
                future=turns[i:],
                info_set=[it.text for it in items],
                decision="continue" if items else "stop",
                items=items,
            )
        )
    assert as_speech("Okay. Does it hurt?") == "okay does it hurt"
    figures = compare(samples, ex)
    assert figures["expert_turns"] == 4
    assert (figures["precision"], figures["recall"]) == (1.0, 0.667)
    # the points at 0, 2 and 6 agree; at 4 only the intonation question is left
    assert figures["s_star_agreement"] == 0.75


def test_prepare_counts_and_names_the_unpunctuated_dialogues(tmp_path, capsys):
    import json

    from learn2ask.cli import main

    logs = tmp_path / "logs.jsonl"
    spoken = ["what brings you in", "my knee hurts", "which knee is it", "the right one", "ok"]
    written = ["What brings you in?", "My knee hurts.", "Which knee is it?", "The right.", "Ok."]
    with logs.open("w") as out:
        for i, lines in enumerate((spoken, written)):
            roles = ["assistant", "user"] * 3
            messages = [{"role": r, "content": t} for r, t in zip(roles, lines, strict=False)]
            out.write(json.dumps({"session_id": i, "messages": messages}) + "\n")
    assert (
        main(["prepare", str(logs), "--out", str(tmp_path / "data"), "--test-fraction", "0"]) == 0
    )
    stats = json.loads((tmp_path / "data" / "stats.json").read_text())
    assert stats["unpunctuated_dialogues"] == 1
    assert "1 of 2 dialogues have no '?'" in capsys.readouterr().err
    points = [json.loads(x) for x in (tmp_path / "data" / "train.jsonl").read_text().splitlines()]
    spoken_first = next(p for p in points if p["dialogue_id"] == "0" and p["index"] == 0)
    assert spoken_first["decision"] == "continue"
    assert spoken_first["info_set"] == ["Which knee is it?"]
