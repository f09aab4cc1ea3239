"""Every recipe end to end through the CLI on a tiny model: artifacts, logs, resume, errors."""

from __future__ import annotations

import json

import pytest

from learn2ask.cli import main
from learn2ask.data.types import Turn
from learn2ask.models.policy import build_policy_messages, load_prompt_config, parse_policy_response
from learn2ask.runs import TrainRun

pytestmark = pytest.mark.slow


def read_log(out):
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def assert_artifacts(out, steps):
    run = TrainRun(out)
    assert run.policy_file.is_file() and (run.model / "tokenizer.json").is_file()
    assert_model_generates_and_parses(run.model)
    summary = json.loads(run.summary.read_text())
    assert summary["steps"] == steps
    assert summary["wall_seconds"] > 0
    return summary


def assert_model_generates_and_parses(model_dir):
    """The saved model loads with plain transformers, answers the prompt saved beside it, and
    its reply goes through the strict parser."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    context = [Turn("user", "My laptop will not turn on.")]
    messages = build_policy_messages(context, load_prompt_config(model_dir))
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    output = model.generate(ids, max_new_tokens=4, do_sample=False)
    assert output.shape[1] == ids.shape[1] + 4 or tokenizer.eos_token_id in output[0].tolist()
    reply = tokenizer.decode(output[0, ids.shape[1] :], skip_special_tokens=True)
    parsed = parse_policy_response(reply)
    assert parsed.raw == reply and parsed.assessment in ("continue", "stop")


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
