"""Training recipes (one readable file each): ``sft``, ``decision_sft``, ``dpo``, ``grpo``.

``run_training(config)`` runs the recipe ``config.method`` names in
``learn2ask.plugins.METHODS`` (or a plug-in's ``package.module:run``); every recipe writes
``OUT/model`` (loadable with plain transformers), ``OUT/train_log.jsonl`` and
``OUT/training_summary.json`` (see :class:`learn2ask.runs.TrainRun`).
"""

from __future__ import annotations

from pathlib import Path

from learn2ask.plugins import METHODS
from learn2ask.training.config import TrainConfig, load_train_config


def run_training(config: TrainConfig, resume: bool = False) -> Path:
    """Run the recipe ``config.method``; returns the saved model directory."""
    from learn2ask.training.common import interruptible

    recipe = METHODS.get(config.method)
    with interruptible():
        return Path(recipe(config, resume=resume))


__all__ = ["TrainConfig", "load_train_config", "run_training"]
