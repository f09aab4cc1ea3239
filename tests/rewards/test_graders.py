"""Content graders: the embedding grader ranks like a clinician; the scorer gates and counts."""

from __future__ import annotations

import dataclasses

import pytest

from learn2ask.rewards.fusion import FusionConfig
from learn2ask.rewards.graders.base import GradeResult
from learn2ask.rewards.graders.embedding import EmbeddingGraderConfig
from learn2ask.rewards.scorer import RewardScorer
from learn2ask.rewards.trl_reward import LearnToAskReward
from tests.rewards.conftest import make_sample


def test_bundled_grader_file_is_versioned_and_fitted():
    config = EmbeddingGraderConfig.load()
    assert config.version == "v1"
    assert 0.0 < config.half_threshold < config.full_threshold < 1.0
    assert "fitted_on" in config.provenance


def test_expert_question_outranks_bad_questions(embedding_grader, headache_sample):
    questions = {
        "expert": "When did your headache start?",
        "greeting": "How are you?",
        "unrelated organ": "Have you noticed any swelling in your ankles?",
        "generic": "Is there anything else?",
    }
    sims = dict(
        zip(
            questions,
            embedding_grader.similarities(
                list(questions.values()), [headache_sample] * len(questions)
            ),
            strict=True,
        )
    )
    assert sims["expert"] > max(sims["greeting"], sims["unrelated organ"], sims["generic"])
    grades = embedding_grader(list(questions.values()), [headache_sample] * len(questions))
    assert grades[0].score == 1.0
    assert all(g.score == 0.0 for g in grades[1:])


def test_empty_info_set_cannot_be_graded(embedding_grader):
    (result,) = embedding_grader(["Any fever?"], [make_sample("e_0", [])])
    assert result.score is None and "no I*" in result.error


def test_continuous_mode(embedding_grader, headache_sample):
    from learn2ask.rewards.graders.embedding import EmbeddingGrader

    continuous = EmbeddingGrader(
        EmbeddingGraderConfig(version="t", full_threshold=0.7, half_threshold=0.4, continuous=True)
    )
    assert continuous.score(0.3) == 0.0
    assert continuous.score(0.55) == pytest.approx(0.75)
    assert continuous.score(0.95) == 1.0


class CountingGrader:
    """Records what it was asked to grade; fails on demand (failure injection)."""

    version = "counting"

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[str] = []
        self.fail = fail

    def __call__(self, questions, samples):
        self.calls.extend(questions)
        if self.fail:
            return [GradeResult(None, "judge unreachable") for _ in questions]
        return [GradeResult(0.5) for _ in questions]


def test_scorer_grades_only_right_continue_decisions(headache_sample):
    grader = CountingGrader()
    scorer = RewardScorer(grader, FusionConfig())
    stop_sample = make_sample("s_0", [])
    results = scorer.score(
        [headache_sample, headache_sample, stop_sample, stop_sample],
        ["Where does it hurt?", "<stop />", "<stop />", "Any fever?"],
    )
    assert grader.calls == ["Where does it hurt?"]
    assert [r.reward for r in results] == [pytest.approx(3.0), 0.0, 4.0, 0.0]


def test_scorer_failures_are_counted_not_zeroed(headache_sample):
    scorer = RewardScorer(CountingGrader(fail=True), FusionConfig())
    (result,) = scorer.score([headache_sample], ["Where does it hurt?"])
    assert result.reward is None and result.error == "judge unreachable"


def test_trl_reward_function_handles_conversational_completions(embedding_grader, headache_sample):
    scorer = RewardScorer(embedding_grader, FusionConfig())
    reward = LearnToAskReward(scorer, [headache_sample])
    logged: dict[str, float] = {}
    values = reward(
        prompts=[[{"role": "user", "content": "x"}]] * 2,
        completions=[
            [{"role": "assistant", "content": "When did the headache start?"}],
            "How are you? Fine? Good?",
        ],
        sample_id=[headache_sample.id] * 2,
        log_metric=lambda name, value: logged.__setitem__(name, value),
    )
    assert values[0] == pytest.approx(4.0)
    assert values[1] == pytest.approx(1.0)  # right decision, R_a 0, three questions -> P 0
    assert reward.__name__ == "learn2ask_hierarchical"
    assert logged["r_s"] == 1.0 and logged["grading_failures"] == 0.0


def test_trl_reward_excludes_grading_failures_by_default(headache_sample):
    # TRL 1.16 maps None to NaN and gives an all-NaN completion no advantage: no made-up R_a.
    reward = LearnToAskReward(
        RewardScorer(CountingGrader(fail=True), FusionConfig()), [headache_sample]
    )
    values = reward(
        prompts=["p", "p"],
        completions=["Where does it hurt?", "<stop />"],
        sample_id=[headache_sample.id] * 2,
        trainer_state=None,
        log_extra=None,
    )
    assert values == [None, 0.0]
    assert reward.last_metrics["grading_failures"] == 1.0


def test_trl_reward_zero_policy_and_unknown_ids(headache_sample):
    reward = LearnToAskReward(
        RewardScorer(CountingGrader(fail=True), FusionConfig()),
        [headache_sample],
        on_failure="zero",
    )
    assert reward(
        prompts=["p"], completions=["Where does it hurt?"], sample_id=[headache_sample.id]
    ) == [pytest.approx(2.0)]  # R_s (1+0) + P
    with pytest.raises(KeyError, match="not among"):
        reward(prompts=["p"], completions=["Why?"], sample_id=["nope"])


def test_int8_grader_still_ranks_the_expert_first(headache_sample):
    from learn2ask.rewards.graders.embedding import EmbeddingGrader

    config = dataclasses.replace(EmbeddingGraderConfig.load(), quantize_int8=True)
    grader = EmbeddingGrader(config)
    sims = grader.similarities(
        ["When did your headache start?", "How are you?"], [headache_sample] * 2
    )
    assert sims[0] > 0.8 > sims[1]


def test_texts_that_share_the_encoder_window_are_embedded_once(embedding_grader):
    import torch

    def visit(position: int, word: str) -> str:
        words = ["visit"] * 300  # 302 tokens with [CLS] and [SEP]: past the 256-token window
        words[position] = word
        return " ".join(words)

    late_a, late_b = visit(280, "zebra"), visit(280, "mango")  # differ after the window
    early_a, early_b = visit(100, "zebra"), visit(100, "mango")  # differ inside it
    keys = embedding_grader.encoder_keys([late_a, late_b, early_a, early_b, "Any fever?"])
    assert keys[late_a] == keys[late_b]
    assert keys[early_a] != keys[early_b]
    assert keys["Any fever?"] == "Any fever?"
    vectors = embedding_grader.embed([late_a, late_b, early_a, early_b])
    # late_b was never encoded itself: its vector is late_a's, and that is what encoding it gives
    direct = embedding_grader.model.encode(
        [late_b, early_b], convert_to_tensor=True, normalize_embeddings=True
    )
    assert torch.allclose(vectors[1], direct[0], atol=1e-5)
    assert torch.allclose(vectors[3], direct[1], atol=1e-5)
    assert not torch.allclose(vectors[2], vectors[3], atol=1e-3)
