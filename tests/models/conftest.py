"""Fixtures the model tests share: the embedding grader, and a tiny model with a question
memory built beside it."""

from __future__ import annotations

import shutil

import pytest

from learn2ask.models.decision import DecisionRule, save_decision_rule
from learn2ask.models.question_memory import QuestionMemory


@pytest.fixture(scope="module")
def grader():
    from learn2ask.rewards.graders.embedding import EmbeddingGrader

    return EmbeddingGrader()


@pytest.fixture()
def model_with_memory(tiny_model_dir, small_test_samples, tmp_path, grader):
    from learn2ask.data.samples import load_samples

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    save_decision_rule(model, DecisionRule(threshold=1.0, stop_token_id=44, stop_token="<"))
    train = load_samples(small_test_samples.parent / "train.jsonl")
    memory = QuestionMemory.build(train, grader=grader)
    memory.save(model)
    return model, memory
