"""Every recipe end to end through the CLI on a tiny model: artifacts, logs, resume, errors."""

from __future__ import annotations

import json

import pytest

from learn2ask.cli import main

pytestmark = pytest.mark.slow


def read_log(out):
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def assert_artifacts(out, steps):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(out / "model")  # plain transformers
    assert model is not None
    assert (out / "model" / "learn2ask_policy.json").is_file()
    assert (out / "model" / "tokenizer.json").is_file()
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["steps"] == steps
    assert summary["wall_seconds"] > 0
    return summary


def test_sft_then_resume(tiny_config):
    path, out = tiny_config("sft")
    assert main(["train", "--config", str(path)]) == 0
    summary = assert_artifacts(out, 2)
    assert summary["config"]["method"] == "sft"
    assert [r["step"] for r in read_log(out) if "loss" in r] == [1, 2]
    # Continue the same run to 4 steps from its last checkpoint.
    assert main(["train", "--config", str(path), "--max-steps", "4", "--resume"]) == 0
    assert_artifacts(out, 4)
    assert [r["step"] for r in read_log(out) if "loss" in r] == [1, 2, 3, 4]


def test_grpo_logs_reward_components(tiny_config, tmp_path):
    path, out = tiny_config("grpo", max_steps=1)
    assert main(["train", "--config", str(path)]) == 0
    assert_artifacts(out, 1)
    step = next(r for r in read_log(out) if "reward" in r)
    assert {"r_a", "r_s", "p", "grading_failures", "loss"} <= step.keys()


def test_grpo_from_sft_run_with_init_from(tiny_config):
    sft_path, sft_out = tiny_config("sft", max_steps=1)
    assert main(["train", "--config", str(sft_path)]) == 0
    grpo_path, grpo_out = tiny_config("grpo", max_steps=1)
    assert main(["train", "--config", str(grpo_path), "--init-from", str(sft_out)]) == 0
    summary = assert_artifacts(grpo_out, 1)
    assert summary["config"]["init_from"] == str(sft_out)


def test_dpo_builds_pairs_and_trains(tiny_config):
    path, out = tiny_config("dpo", max_steps=1)
    assert main(["train", "--config", str(path)]) == 0
    summary = assert_artifacts(out, 1)
    assert summary["preference_pairs"] > 0


def test_unknown_config_key_is_named(tiny_config, tmp_path, capsys):
    path, _ = tiny_config("sft", lora={"rank": 4})
    assert main(["train", "--config", str(path)]) == 2
    assert "lora.rank: unknown key" in capsys.readouterr().err
    missing = tmp_path / "nope.yaml"
    assert main(["train", "--config", str(missing)]) == 2
