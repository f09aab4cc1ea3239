"""The dialogue-weighted scores of ``benchmarks/tune_stop_head.py --dialogue-weights``: they
must weigh points as the report's ``ave_total_reward`` does (within a dialogue, then over
dialogues), or the benchmark answers a different question."""

from __future__ import annotations

import pytest
from benchmarks.tune_stop_head import dialogue_reward, dialogue_weights, weighted_auc

from learn2ask.data.types import Sample, Turn


def point(dialogue: str, index: int, stop: bool) -> Sample:
    return Sample(
        id=f"{dialogue}-{index}",
        dialogue_id=dialogue,
        index=index,
        context=[Turn(role="user", content="hello")],
        future=[],
        info_set=[] if stop else ["a question?"],
        decision="stop" if stop else "continue",
    )


# Dialogue a: one STOP point; dialogue b: one STOP and three CONTINUE points.
POINTS = [point("a", 0, True), point("b", 0, True), *(point("b", i, False) for i in (1, 2, 3))]


def test_weights_count_the_points_of_each_dialogue() -> None:
    assert dialogue_weights(POINTS, "none") == [1.0] * 5
    assert dialogue_weights(POINTS, "1/n") == [1.0, 0.25, 0.25, 0.25, 0.25]
    assert dialogue_weights(POINTS, "1/sqrt(n)") == [1.0, 0.5, 0.5, 0.5, 0.5]


def test_reward_averages_within_then_over_dialogues() -> None:
    always_stop = dialogue_reward([1.0] * 5, POINTS, 0.5, stop_reward=4.0, ask=2.0)
    assert always_stop == pytest.approx((4.0 + 4.0 / 4) / 2)  # pooled would be 8 / 5
    perfect = dialogue_reward([1, 1, 0, 0, 0], POINTS, 0.5, stop_reward=4.0, ask=2.0)
    assert perfect == pytest.approx((4.0 + (4.0 + 3 * 2.0) / 4) / 2)


def test_weighted_auc_counts_pairs_by_their_weights() -> None:
    # a's STOP point ranks below every CONTINUE point, b's above: unweighted 3 of 6 pairs won.
    scores = [0.0, 0.9, 0.5, 0.5, 0.5]
    assert weighted_auc(scores, POINTS, [1.0] * 5) == pytest.approx(0.5)
    # With 1/n weights a's STOP point counts four times b's, so its lost pairs dominate.
    assert weighted_auc(scores, POINTS, dialogue_weights(POINTS, "1/n")) == pytest.approx(0.2)
