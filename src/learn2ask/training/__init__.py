"""Training recipes (one readable file each): ``sft``, ``decision_sft``, ``dpo``, ``grpo``.

``run_training(config)`` runs the recipe ``config.method`` names in
``learn2ask.plugins.METHODS`` (or a plug-in's ``package.module:run``); every recipe writes
``OUT/model`` (loadable with plain transformers), ``OUT/train_log.jsonl`` and
``OUT/training_summary.json`` (see :class:`learn2ask.runs.TrainRun`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from learn2ask.plugins import METHODS
from learn2ask.training.config import TrainConfig, load_train_config


def run_training(config: TrainConfig, resume: bool = False, embedder: Any = None) -> Path:
    """Run the recipe ``config.method``; returns the saved model directory. ``embedder`` (the
    bundled embedding grader, already loaded) goes to a recipe that embeds (``decision_sft``)
    only when given, so recipes and plug-ins without the keyword keep working."""
    from learn2ask.training.common import interruptible

    recipe = METHODS.get(config.method)
    shared = {"embedder": embedder} if embedder is not None else {}
    with interruptible():
        return Path(recipe(config, resume=resume, **shared))


__all__ = ["TrainConfig", "load_train_config", "run_training"]
