"""Segmentation: full-history contexts, nothing from the future leaks (property tests)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from learn2ask.data.segment import decision_turn_indices, segment_dialogue
from learn2ask.data.types import Dialogue, Turn

turns = st.lists(
    st.builds(
        Turn, role=st.sampled_from(["user", "expert"]), content=st.text(min_size=1, max_size=8)
    ),
    max_size=30,
)


@given(turns)
def test_context_plus_future_is_the_dialogue(dialogue_turns):
    dialogue = Dialogue(id="d", turns=dialogue_turns)
    for point in segment_dialogue(dialogue):
        assert point.context + point.future == dialogue_turns
        # The context is the whole history, not only the current round.
        assert point.context == dialogue_turns[: point.turn_index]


@given(turns)
def test_points_are_expert_turns_after_user_input(dialogue_turns):
    dialogue = Dialogue(id="d", turns=dialogue_turns)
    points = segment_dialogue(dialogue)
    for point in points:
        assert point.future[0].role == "expert"
        assert point.context and point.context[-1].role == "user"
    expected = [
        i
        for i in range(1, len(dialogue_turns))
        if dialogue_turns[i].role == "expert" and dialogue_turns[i - 1].role == "user"
    ]
    assert [p.turn_index for p in points] == expected == decision_turn_indices(dialogue_turns)
    assert [p.id for p in points] == [f"d_{i}" for i in range(len(points))]


@given(turns)
def test_no_future_turn_leaks_into_a_context(dialogue_turns):
    tagged = [Turn(t.role, f"{i}:{t.content}") for i, t in enumerate(dialogue_turns)]
    for point in segment_dialogue(Dialogue(id="d", turns=tagged)):
        future_ids = {t.content.split(":", 1)[0] for t in point.future}
        context_ids = {t.content.split(":", 1)[0] for t in point.context}
        assert not future_ids & context_ids
