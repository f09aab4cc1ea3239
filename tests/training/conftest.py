"""Small prepared samples and a tiny-model config for training tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from learn2ask.data.prepare import PrepareConfig, prepare_dataset
from learn2ask.data.types import Sample, Turn
from learn2ask.targets.qa import QAExtractor
from tests.conftest import MTS_VALIDATION


def labelled_point(dialogue: str, index: int, stop: bool) -> Sample:
    """A decision point of ``dialogue`` labelled STOP or CONTINUE (the benchmarks' tests)."""
    return Sample(
        id=f"{dialogue}-{index}",
        dialogue_id=dialogue,
        index=index,
        context=[Turn(role="user", content="hello")],
        future=[],
        info_set=[] if stop else ["a question?"],
        decision="stop" if stop else "continue",
    )


# Dialogue a: one STOP point; dialogue b: one STOP and three CONTINUE points.
TWO_DIALOGUES = [
    labelled_point("a", 0, True),
    labelled_point("b", 0, True),
    *(labelled_point("b", i, False) for i in (1, 2, 3)),
]


@pytest.fixture(scope="session")
def small_samples(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("samples")
    prepare_dataset(PrepareConfig(inputs=(MTS_VALIDATION,), out=out), QAExtractor())
    return out / "train.jsonl"


@pytest.fixture()
def tiny_config(tmp_path, small_samples, tiny_model_dir):
    """Write a YAML config for a fast run on the tiny model; returns (path, output dir)."""

    def make(method: str, **extra) -> tuple[Path, Path]:
        out = tmp_path / f"run-{method}"
        config = {
            "method": method,
            "model": str(tiny_model_dir),
            "train_file": str(small_samples),
            "output_dir": str(out),
            "max_samples": 16,
            "batch_size": 4,
            "max_steps": 2,
            "learning_rate": 1e-3,
            "save_steps": 1,
            "max_length": 256,
            "max_completion_length": 8,
            "lora": {"r": 4, "alpha": 8},
            "prompt": {"max_context_chars": 300},
            "grpo": {"num_generations": 2},
            "dpo": {"rejected_candidates": 2},
        }
        for key, value in extra.items():
            if isinstance(value, dict):
                config.setdefault(key, {}).update(value)
            else:
                config[key] = value
        path = tmp_path / f"{method}.yaml"
        path.write_text(yaml.safe_dump(config))
        return path, out

    return make
