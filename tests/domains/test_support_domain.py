"""A non-medical domain end to end: prepare --preset support -> train -> evaluate, and not one
medical word reaches the policy's prompt or the evaluation summary."""

from __future__ import annotations

import json
import re

import pytest

from learn2ask.cli import main
from learn2ask.data.samples import load_samples
from learn2ask.models.policy import build_policy_messages, load_model_domain, load_prompt_config
from learn2ask.runs import EvalRun, PreparedData, TrainRun
from learn2ask.training.config import load_train_config

MEDICAL_WORDS = re.compile(
    r"\b(doctor|patient|medical|medicine|medication|clinic\w*|symptom\w*|diagnos\w*|"
    r"pharmacist|nurse|physician)\b",
    re.IGNORECASE,
)


def medical_words(text: str) -> list[str]:
    """Every medical word in ``text`` (empty when there is none)."""
    return MEDICAL_WORDS.findall(text)


def test_the_word_check_can_fail():
    assert medical_words('{"system": "You are a doctor talking with a patient."}') == [
        "doctor",
        "patient",
    ]


def test_support_prompt_has_no_medical_word():
    config = load_train_config(None, ["prompt.domain=support"])
    messages = build_policy_messages([], config.prompt.to_policy_config())
    assert "helpdesk agent" in messages[0]["content"]
    assert medical_words(json.dumps(messages)) == []


@pytest.mark.slow
def test_prepare_train_evaluate_on_support_logs(tmp_path, tiny_model_dir):
    data, run, evaluation = tmp_path / "data", tmp_path / "run", tmp_path / "eval"
    assert main(["prepare", "--preset", "support", "--domain", "support", "--out", str(data)]) == 0
    stats = json.loads(PreparedData(data).stats.read_text())
    assert stats["dialogues"] >= 60 and stats["stop_samples"] > 0
    train = [
        "train", "--method", "sft", "--domain", "support", "--model", str(tiny_model_dir),
        "--train-file", str(PreparedData(data).train), "--output", str(run), "--max-steps", "2",
        "--set", "batch_size=2", "--set", "max_samples=8", "--set", "max_length=192",
        "--set", "lora.r=2", "--set", "save_steps=2", "--set", "prompt.max_context_chars=300",
    ]  # fmt: skip
    assert main(train) == 0
    model = TrainRun(run).model
    assert TrainRun(run).policy_file.is_file() and TrainRun(run).log.is_file()
    # The domain travels with the model: its prompt and the whole domain file.
    prompt = load_prompt_config(model)
    assert prompt.domain == "support" and prompt.expert == "helpdesk agent"
    assert load_model_domain(model).name == "support"
    test = load_samples(PreparedData(data).test)
    seen = [build_policy_messages(s.context, prompt) for s in test]
    assert medical_words(json.dumps(seen)) == []
    summary = json.loads(TrainRun(run).summary.read_text())
    assert summary["config"]["prompt"]["domain"] == "support"
    evaluate = [
        "evaluate", "--model", str(model), "--samples", str(PreparedData(data).test),
        "--out", str(evaluation), "--max-samples", "4", "--balanced", "--max-new-tokens", "6",
        "--batch-size", "4", "--no-references", "--domain", "support",
    ]  # fmt: skip
    assert main(evaluate) == 0
    eval_summary = EvalRun(evaluation).summary.read_text()
    assert medical_words(eval_summary) == []
    rollouts = EvalRun(evaluation).rollouts.read_text()
    assert rollouts and medical_words(rollouts) == []
