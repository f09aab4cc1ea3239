"""Training recipes (one readable file each): ``sft``, ``dpo``, ``grpo``.

``run_training(config)`` dispatches on ``config.method``; every recipe writes ``OUT/model``
(loadable with plain transformers), ``OUT/train_log.jsonl`` and ``OUT/training_summary.json``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from learn2ask.training.config import METHODS, TrainConfig, load_train_config


def run_training(config: TrainConfig, resume: bool = False) -> Path:
    """Run the recipe ``config.method``; returns the saved model directory."""
    if config.method not in METHODS:
        raise ValueError(f"unknown method '{config.method}'")
    recipe = importlib.import_module(f"learn2ask.training.{config.method}")
    return recipe.run(config, resume=resume)


__all__ = ["TrainConfig", "load_train_config", "run_training"]
