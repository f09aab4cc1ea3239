"""Whether a logged question fits this conversation: what the user already said, and what a
question takes for granted (learn2ask.models.question_fit). Pure text: no model."""

from __future__ import annotations

from learn2ask.data.types import InfoItem, Sample, Turn
from learn2ask.domain import load_domain
from learn2ask.models.question_fit import (
    already_said,
    back_references,
    content_stems,
    definite_mentions,
    logged_back_references,
    mentioned,
    said_by_user,
    shared_stems,
    unmentioned,
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
    assert not unmentioned({"numbnes"}, numb)
    assert unmentioned({"lisinopril"}, mentioned([Turn("user", "I take metformin.")]))
    # either side's turns name things: the assistant asked, the user said yes
    asked = [Turn("expert", "Do you get headaches?"), Turn("user", "Yes.")]
    assert not unmentioned(definite_mentions("Are the headaches worse at night?"), mentioned(asked))


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
