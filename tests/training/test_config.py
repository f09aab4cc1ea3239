"""The training config is validated at load: types, ranges, combinations, all errors at once,
each with its key path; ``--set`` overrides; every shipped YAML says how to run it."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest
import yaml

from learn2ask.cli import main
from learn2ask.errors import ConfigError
from learn2ask.training.config import TrainConfig, config_from_dict, load_train_config

SHIPPED = sorted(Path(str(files("learn2ask").joinpath("resources/configs"))).glob("*.yaml"))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def problems(data: dict) -> list[str]:
    """The lines of the ConfigError ``data`` raises (after the header line)."""
    with pytest.raises(ConfigError) as caught:
        config_from_dict(data, "c.yaml")
    header, *lines = str(caught.value).splitlines()
    assert header == "c.yaml: invalid config"
    return lines


def test_learning_rate_fast_fails_naming_the_key(tmp_path, capsys):
    path = write(tmp_path, "learning_rate: fast\n")
    # Fails at load, before any model: the model named here does not even exist.
    assert main(["train", "--config", str(path), "--model", "/no/such/model"]) == 2
    err = capsys.readouterr().err
    assert "learning_rate: Input should be a valid number" in err and "'fast'" in err


def test_every_error_at_once_one_line_each():
    lines = problems(
        {
            "learning_rate": -1,
            "batch_size": "eight",
            "lora": {"r": "sixteen", "alhpa": 8},
            "grpo": {"fusion": "hierarchal"},
        }
    )
    assert len(lines) == 5
    text = "\n".join(lines)
    assert "learning_rate: Input should be greater than 0" in text
    assert "batch_size: Input should be a valid integer" in text
    assert "lora.r: Input should be a valid integer" in text
    assert "lora.alhpa: unknown key (did you mean 'alpha'?)" in text
    assert "grpo.fusion: unknown fusion 'hierarchal' (did you mean 'hierarchical'?)" in text


def test_yaml_number_strings_are_read_as_numbers(tmp_path):
    config = load_train_config(write(tmp_path, 'learning_rate: 1e-3\nbatch_size: "8"\n'))
    assert config.learning_rate == pytest.approx(0.001) and isinstance(config.learning_rate, float)
    assert config.batch_size == 8


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"method": "gpro"}, "method: unknown training method 'gpro' (did you mean 'grpo'?)"),
        ({"stop_fraction": 1.5}, "stop_fraction: Input should be less than 1"),
        ({"lora": {"dropout": 1.0}}, "lora.dropout: Input should be less than 1"),
        ({"grpo": {"vllm_mode": "remote"}}, "grpo.vllm_mode: Input should be 'colocate' or"),
        ({"prompt": {"domain": "legal"}}, "prompt.domain: unknown domain 'legal'"),
        ({"nmodel": "x"}, "nmodel: unknown key (did you mean 'model'?)"),
    ],
)
def test_bad_values_are_named(data, expected):
    (line,) = problems(data)
    assert line.startswith(expected)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"method": "grpo", "batch_size": 3, "grpo": {"num_generations": 2}},
            "grpo.num_generations: 2 must divide batch_size x gradient_accumulation = 3",
        ),
        ({"lora": {"enabled": False, "layers": 2}}, "lora.layers: needs lora.enabled true"),
        (
            {"method": "dpo", "grpo": {"grader": "llm"}},
            "grpo.grader: llm needs grpo.grader_base_url and grpo.grader_model",
        ),
        ({"max_steps": 0}, "max_steps: 0 trains nothing (-1 = run the epochs)"),
    ],
)
def test_impossible_combinations_are_named(data, expected):
    assert problems(data) == [expected]


def test_set_overrides_any_field(tmp_path):
    path = write(tmp_path, "lora:\n  r: 16\n")
    config = load_train_config(
        path, ["lora.r=4", "prompt.domain=support", "report_to=[tensorboard]", "max_samples=null"]
    )
    assert config.lora.r == 4 and config.lora.alpha == 32
    assert config.prompt.domain == "support" and config.report_to == ["tensorboard"]
    assert config.max_samples is None


def test_set_errors_name_the_key(tmp_path, capsys):
    assert main(["train", "--set", "lora.r=sixteen", "--output", str(tmp_path / "r")]) == 2
    assert "lora.r: Input should be a valid integer" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_train_config(None, ["lora.r"])


def test_attribute_api_and_round_trip():
    config = load_train_config(None, ["grpo.fusion=sum", "prompt.max_context_chars=200"])
    assert config.grpo.fusion == "sum" and config.prompt.max_context_chars == 200
    assert config_from_dict(config.to_dict()) == config
    assert isinstance(config, TrainConfig)


def test_prompt_comes_from_the_domain():
    medical = load_train_config(None).prompt.to_policy_config()
    support = load_train_config(None, ["prompt.domain=support"]).prompt.to_policy_config()
    assert (medical.expert, medical.user) == ("doctor", "patient")
    assert (support.expert, support.user, support.domain) == (
        "helpdesk agent",
        "employee",
        "support",
    )


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_configs_start_with_their_command_and_load(path):
    first = path.read_text().splitlines()[0]
    # By name: the command works where the package is installed, not only in this checkout.
    assert first.startswith(("# learn2ask ", "# accelerate launch ")), first
    assert " learn2ask train " in first and f"--config {path.stem} " in first
    assert load_train_config(path.stem) == config_from_dict(
        yaml.safe_load(path.read_text()), str(path)
    )


def test_a_shipped_config_is_named_and_a_near_miss_is_answered(tmp_path, capsys):
    assert load_train_config("demo_decision").method == "decision_sft"
    with pytest.raises(ConfigError, match=r"unknown config 'demo_decison' \(did you mean 'demo_"):
        load_train_config("demo_decison")
    assert main(["train", "--config", "nope", "--output", str(tmp_path / "r")]) == 2
    assert "unknown config 'nope'" in capsys.readouterr().err
    # A path is read as a path even where a shipped config has its name.
    (tmp_path / "demo_sft").write_text("method: sft\n")
    assert load_train_config(tmp_path / "demo_sft").method == "sft"


def test_a_natural_stop_share_outside_zero_one_is_refused():
    lines = problems({"method": "decision_sft", "decision": {"natural_stop_share": 1.5}})
    assert lines and "decision.natural_stop_share: Input should be less than 1" in lines[0]
