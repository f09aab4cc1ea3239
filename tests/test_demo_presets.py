"""Every `learn2ask demo --preset` names a bundled recipe that loads, and the sizes grow with it."""

from __future__ import annotations

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
