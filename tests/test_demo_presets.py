"""Every `learn2ask demo --preset` names a bundled recipe that loads, and the sizes grow with it."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from learn2ask.demo import PRESETS, DemoSettings, bundled_config
from learn2ask.training import load_train_config
from learn2ask.training.config import TrainConfig


def _recipe(preset: str) -> tuple[DemoSettings, TrainConfig]:
    settings = DemoSettings(out=Path("unused"), **PRESETS[preset])  # type: ignore[arg-type]
    return settings, load_train_config(bundled_config(settings.recipe))


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_recipe_is_a_bundled_decision_config(preset):
    settings, config = _recipe(preset)
    assert config.method == "decision_sft"
    assert config.decision.validation_fraction > 0  # the threshold is calibrated off test
    assert 0 < settings.base_samples <= settings.eval_samples


def test_gpu_preset_trains_every_layer_on_every_point_the_cpu_recipes_do_not():
    _, demo = _recipe("demo")
    _, full = _recipe("full")
    gpu_settings, gpu = _recipe("gpu")
    assert gpu.decision.top_layers >= 30 > full.decision.top_layers > demo.decision.top_layers
    assert gpu.max_samples > full.max_samples > demo.max_samples
    assert gpu_settings.eval_samples >= 400 and gpu_settings.replay_dialogues >= 16


def test_gpu_preset_without_a_gpu_warns_before_it_starts(monkeypatch, capsys):
    import learn2ask.demo as demo

    ran = []
    monkeypatch.setattr("learn2ask.models.loading.pick_device", lambda device="auto": "cpu")
    monkeypatch.setattr(demo, "run_demo", ran.append)  # fault injection: do not train here
    parser = argparse.ArgumentParser()
    demo.add_demo_arguments(parser)
    assert demo.run_demo_command(parser.parse_args(["--preset", "gpu", "--seed", "3"])) == 0
    assert "no GPU is visible" in capsys.readouterr().err
    assert ran[0].recipe == "gpu" and ran[0].seed == 3


def test_resuming_a_demo_directory_with_other_settings_is_refused(tmp_path):
    from learn2ask.demo import SETTINGS_FILE, check_resumable
    from learn2ask.errors import ConfigError

    check_resumable(DemoSettings(out=tmp_path, **PRESETS["gpu"]))  # type: ignore[arg-type]
    check_resumable(DemoSettings(out=tmp_path, **PRESETS["gpu"]))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=f"{SETTINGS_FILE}.*seed=1") as refused:
        check_resumable(DemoSettings(out=tmp_path, seed=1, **PRESETS["gpu"]))  # type: ignore[arg-type]
    assert "\n" not in str(refused.value) and "recipe" not in str(refused.value)
    with pytest.raises(ConfigError, match="recipe='gpu'.*recipe='decision'"):
        check_resumable(DemoSettings(out=tmp_path))
