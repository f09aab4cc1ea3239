"""Whether a logged question fits this conversation: what the user already said, and what a
question takes for granted (learn2ask.models.question_fit). Pure text: no model."""

from __future__ import annotations

import pytest
import yaml

from learn2ask.data.types import InfoItem, Sample, Turn
from learn2ask.domain import load_domain
from learn2ask.errors import ConfigError
from learn2ask.models.question_fit import (
    already_said,
    back_references,
    canonical,
    content_stems,
    definite_mentions,
    logged_back_references,
    mentioned,
    next_questions,
    points_back,
    said_by_user,
    shared_stems,
    synonym_stems,
    unnamed,
    without_said,
)

BREATH, WHERE = "Do you have any shortness of breath?", "Where is the chest pain?"
COUGH, CHEST = "I have had a cough for a week.", "I have chest pain."


def said(*user_turns: str) -> frozenset[str]:
    return said_by_user([Turn("user", text) for text in user_turns])


def test_what_the_user_already_said_is_recognised():
    assert already_said(BREATH, said("No, no shortness of breath."))
    assert already_said("Any fevers?", said("No fever that I know of."))
    assert already_said("Do you smoke?", said("I've never smoked."))
    assert already_said("Do you have any allergies?", said("Allergy to penicillin."))
    # something the user has not named, or only part of it
    assert not already_said("Any fevers or chills?", said("No fever."))
    both = said("No fever.", "No, no shortness of breath.")
    assert already_said("No fever, chills, no shortness of breath?", both)  # 3 of 4 said
    assert not already_said("Any shortness of breath, chest pain or difficulty breathing?", both)
    assert not already_said(BREATH, said(COUGH))
    assert not already_said("Does the chest pain radiate?", said(CHEST))
    assert not already_said("Any other surgeries?", said("I had knee surgery."))
    # a follow-up asking where, when or how is not a question the user has answered
    assert not already_said(WHERE, said(CHEST))
    assert not already_said(BREATH, frozenset())


def test_a_list_question_drops_what_the_user_already_named():
    narrowed = [
        ("Any nausea or vomiting?", "No nausea.", "Any vomiting?"),
        ("Any fevers or chills?", "No fever.", "Any chills?"),
        (
            "Do you have shortness of breath or chest pain?",
            "No shortness of breath.",
            "Do you have chest pain?",
        ),
        (
            "Any fever, diarrhea, headache, or joint pain?",
            "No fever.",
            "Any diarrhea, headache or joint pain?",
        ),
        # after "such as", its closing "anything like that" kept
        (
            "Are you having symptoms such as chest pain, headaches, or nausea, anything like that?",
            "I get headaches.",
            "Are you having symptoms such as chest pain or nausea, anything like that?",
        ),
        # the kind first: the list is what follows it
        (
            "Any other symptoms, chest pain, nausea or vomiting?",
            "No chest pain.",
            "Any other symptoms, nausea or vomiting?",
        ),
        # the opener not said twice; "of" stays with the question
        (
            "Do you have any pain or any shortness of breath or anything like that?",
            "The pain hits.",
            "Do you have any shortness of breath or anything like that?",
        ),
        (
            "Any kind of surgery or hospitalization?",
            "I had surgery.",
            "Any kind of hospitalization?",
        ),
        ("Okay, any nausea or vomiting?", "No nausea.", "Okay, any vomiting?"),
    ]
    for question, user, expected in narrowed:
        assert without_said(question, said(user)) == expected, question
    # read with the domain's synonyms
    synonyms = synonym_stems([["vomit", "vomiting", "throwing"]])
    user = said_by_user([Turn("user", "I'm not throwing up.")], synonyms)
    assert without_said("Any nausea or vomiting?", user, synonyms) == "Any nausea?"


def test_a_question_is_left_as_it_is_unless_part_of_its_list_can_go():
    unchanged = [
        ("Any nausea or vomiting?", "My head hurts."),  # nothing named
        ("Any fevers or chills?", "No fever or chills."),  # all named: already_said's
        ("Any blurred vision or headache?", "No problems with my vision."),  # not "blurred"
        ("How long have you had the cough or the fever?", "No fever."),  # not yes/no
        ("Any pain in your left or right arm?", "My right arm hurts."),  # places
        ("Any nausea or vomiting", "No nausea."),  # not a question
        ("Do you have any nausea?", "No nausea."),  # one thing
        ("Any numbness and tingling?", "Some numbness."),  # "and": often one thing
        # where the question's grammar holds on to the first alternative
        ("Do you take any other drug or consume alcohol?", "No drugs."),
        ("Any pain in your legs or numbing?", "My legs are fine."),
        ("Any fever, or other symptoms?", "No fever."),  # the kind last
    ]
    for question, user in unchanged:
        assert without_said(question, said(user)) == question, question
    assert without_said("Any nausea or vomiting?", frozenset()) == "Any nausea or vomiting?"


MEDICAL = shared_stems(load_domain("medical").shared_referents)


def test_definite_phrases_are_what_a_question_takes_for_granted():
    assert definite_mentions("Do you need a refill of the lisinopril?") == {"lisinopril"}
    assert definite_mentions("Any chest pain with your shortness of breath?") == {"shortnes"}
    assert definite_mentions("How long have you had this pain?") == {"pain"}
    assert definite_mentions("Are these headaches worse in the morning?") == {"headach"}
    # what a definite phrase brings in by itself, and questions with none
    assert definite_mentions("Any fever in the past week?") == frozenset()
    assert definite_mentions("Is it on the left side?") == frozenset()
    assert definite_mentions("Do you have any allergies?") == frozenset()
    assert definite_mentions("Is it that bad?") == frozenset()  # "that": also a conjunction
    # what every patient may be asked about unnamed: the medical domain's shared referents
    assert definite_mentions("Any numbness in your legs?") == {"leg"}
    assert definite_mentions("Any numbness in your legs?", MEDICAL) == frozenset()
    assert definite_mentions("Did you go to the emergency room?", MEDICAL) == frozenset()
    assert definite_mentions("How is your asthma?", MEDICAL) == {"asthma"}
    # set against what is asked, a shared referent is the complaint taken for granted
    other = "Other than your knees, any other joint pain?"
    assert definite_mentions(other, MEDICAL) == {"kne"}
    assert definite_mentions("Any pain apart from the back?", MEDICAL) == {"back"}
    assert definite_mentions("Did you get a referral from your doctor?", MEDICAL) == frozenset()
    # a helpdesk's are its own
    support = shared_stems(load_domain("support").shared_referents)
    assert definite_mentions("Can you restart your laptop?", support) == frozenset()
    assert definite_mentions("Is the printer on?", support) == {"printer"}


def test_a_back_reference_is_a_definite_phrase_its_conversation_had_named():
    before = content_stems("I have high blood pressure and I take lisinopril.")
    assert back_references("Do you need a refill of the lisinopril?", before, MEDICAL) == {
        "lisinopril"
    }
    # named nowhere before: the question introduces it
    assert back_references("How long does the pain last?", before, MEDICAL) == frozenset()
    # the crude stemmer leaves "numbness" and "numb" apart; a shared prefix meets them
    numb = content_stems("My fingers feel numb.")
    assert back_references("When did the numbness start?", numb, MEDICAL) == {"numbnes"}
    assert not unnamed({"numbnes"}, numb)
    assert unnamed({"lisinopril"}, mentioned([Turn("user", "I take metformin.")]))
    # either side's turns name things: the assistant asked, the user said yes
    asked = [Turn("expert", "Do you get headaches?"), Turn("user", "Yes.")]
    assert not unnamed(definite_mentions("Are the headaches worse at night?"), mentioned(asked))


def test_a_logged_question_is_read_in_the_conversation_before_it_was_asked():
    breath, worse = (
        "Any shortness of breath?",
        "Is the chest pain worse with your shortness of breath?",
    )
    stress = "Have you had the stress test?"
    point = Sample(
        id="a_0",
        dialogue_id="a",
        index=0,
        context=[Turn("expert", "What brings you in?"), Turn("user", "I have chest pain.")],
        future=[
            Turn("expert", breath),
            Turn("user", "Yes, when I climb stairs."),
            Turn("expert", f"Okay. {worse}"),
            Turn("user", "Yes."),
            Turn("expert", stress),
        ],
        info_set=[breath, worse, stress, "Asked nowhere?"],
        decision="continue",
        items=[InfoItem(q, question=q) for q in (breath, worse, stress, "Asked nowhere?")],
    )
    # "the chest pain" ("chest" is shared, "pain" is not) and "your shortness of breath" were
    # named before the expert asked; "the stress test" was not.
    assert logged_back_references(point, MEDICAL) == {
        breath: frozenset(),
        worse: frozenset({"pain", "shortnes"}),
        stress: frozenset(),
    }


SYNONYMS = synonym_stems(load_domain("medical").synonyms)


def test_a_domains_synonyms_let_different_words_name_one_thing():
    def said_as(*user_turns: str) -> frozenset[str]:
        return said_by_user([Turn("user", text) for text in user_turns], SYNONYMS)

    cramps = said_as("Some cramps in my lower belly, they come and go.")
    assert already_said("Are you having any belly pain?", cramps, SYNONYMS)
    assert already_said("Any abdominal pain?", cramps, SYNONYMS)  # belly = abdomen
    assert not already_said("Are you having any belly pain?", said("Some cramps in my belly."))
    assert already_said("Have you had a fever?", said_as("I felt a bit feverish."), SYNONYMS)
    # one word of a group names nothing else: a sore throat is not chest pain
    assert not already_said("Any chest pain?", said_as("I have a sore throat."), SYNONYMS)
    # "my knee hurts" names the pain a logged question takes for granted
    knee = mentioned([Turn("user", "My right knee hurts on the stairs.")], SYNONYMS)
    assert not unnamed(definite_mentions("When did you first notice the pain?"), knee)
    assert unnamed({"pain"}, mentioned([Turn("user", "My right knee hurts.")]))


def test_a_back_reference_is_read_with_the_same_synonyms():
    before = content_stems("My stomach hurts after meals.")
    question = "Does the pain go to your back?"
    assert back_references(question, before, MEDICAL) == frozenset()  # "pain" was not said
    assert back_references(question, canonical(before, SYNONYMS), MEDICAL, SYNONYMS) == {"pain"}


def test_synonym_groups_are_checked_when_the_domain_is_read(tmp_path):
    data = yaml.safe_load(load_domain("medical").model_dump_json())
    for groups, reason in (
        ([["pain"]], r"domain.yaml: synonyms: .*group 1 \['pain'\] needs at least two words"),
        ([["pain", "ache"], ["ache", "sore"]], "synonyms: .*'ache' is in groups 1 and 2"),
    ):
        path = tmp_path / "domain.yaml"
        path.write_text(yaml.safe_dump({**data, "synonyms": groups}))
        with pytest.raises(ConfigError, match=reason):
            load_domain(path)


def test_a_question_that_points_at_what_was_just_said_is_recognised():
    for pointing in (
        "Do you need a refill of that?",
        "Do you have any pain there?",
        "Is the pain there all the time?",
        "Are you taking any medications for that?",
        "Do any of those ring any bells?",
        "Any numbness or tingling in that right arm?",
        "Did you take them?",
    ):
        assert points_back(pointing), pointing
    for naming in (
        "Is there any pain?",
        "Are there any other symptoms?",
        "Any fever, chills or anything like that?",
        "Is that correct?",
        "Do you need a refill of the lisinopril?",
    ):
        assert not points_back(naming), naming


def test_the_next_question_is_the_one_asked_right_after_the_context():
    refill, fever = "Do you need a refill of that?", "Any fever?"
    point = Sample(
        id="a_0",
        dialogue_id="a",
        index=0,
        context=[Turn("expert", "What brings you in?"), Turn("user", "I take lisinopril.")],
        future=[Turn("expert", f"Okay. {refill}"), Turn("user", "Yes."), Turn("expert", fever)],
        info_set=[refill, fever],
        decision="continue",
        items=[InfoItem(q, question=q) for q in (refill, fever)],
    )
    assert next_questions(point) == {refill}
