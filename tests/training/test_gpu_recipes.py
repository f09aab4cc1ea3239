"""The GPU recipes (``resources/configs/qwen2.5-*.yaml``, Qwen2.5 shapes) as shipped: each
starts with the command that runs it, loads, and trains one step through the CLI on a randomly
initialised Qwen2-architecture model (Qwen2.5's layer classes, its q/k/v biases, 10 layers so
the 0.5B recipe's top 8 are a strict subset), only the sizes overridden with ``--set``.

No Qwen weights are reachable here and nothing in CI has a GPU: what this checks is that the
recipes' settings (top-layer caching, LoRA on all linear layers, gradient checkpointing, the
question memory with the policy's own question competing, the stop head) work on the
architecture they name. vLLM generation is switched off (not installed on the CPU set-up).
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import pytest
import yaml

from learn2ask.cli import main
from learn2ask.training.config import BUNDLED_CONFIGS, config_from_dict
from tests.conftest import save_tiny_causal_lm

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
RECIPES = sorted(Path(str(files("learn2ask").joinpath(BUNDLED_CONFIGS))).glob("qwen2.5-*.yaml"))
# Sizes only: steps, points and batch shrink; every method and architecture setting stays.
SMALL = [
    "max_samples=16",
    "max_steps=1",
    "batch_size=4",
    "gradient_accumulation=1",
    "save_steps=0",
    "max_length=256",
    "max_completion_length=8",
    "prompt.max_context_chars=300",
    "grpo.num_generations=2",
    "grpo.use_vllm=false",
    "decision.validation_points=20",
    "decision.ask_reward_samples=4",
    "decision.stop_head_points=40",
]


@pytest.fixture(scope="module")
def tiny_qwen_dir(tmp_path_factory: pytest.TempPathFactory, bundled_model_dir: Path) -> Path:
    """A randomly initialised 10-layer Qwen2 with the bundled tokenizer."""
    return save_tiny_causal_lm(
        bundled_model_dir, tmp_path_factory.mktemp("tiny-qwen2"), "qwen2", 10
    )


def test_there_are_gpu_recipes_for_each_method():
    methods = {yaml.safe_load(p.read_text())["method"] for p in RECIPES}
    assert {"decision_sft", "grpo"} <= methods
    assert all("Qwen/Qwen2.5-" in yaml.safe_load(p.read_text())["model"] for p in RECIPES)


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_gpu_recipe_starts_with_its_command_and_loads(path):
    first = path.read_text().splitlines()[0]
    assert first.startswith(("# learn2ask train ", "# accelerate launch ")), first
    assert f"--config {path.stem} " in first and " train " in first
    launcher = first.split("--config_file ")[1].split()[0] if "--config_file" in first else None
    assert launcher is None or (REPO / launcher).is_file(), launcher
    config_from_dict(yaml.safe_load(path.read_text()), str(path))


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_gpu_recipe_trains_a_step_on_the_qwen2_architecture(
    path, tiny_qwen_dir, small_samples, tmp_path
):
    shipped = config_from_dict(yaml.safe_load(path.read_text()), str(path))
    out = tmp_path / "run"
    argv = ["train", "--config", path.stem, "--model", str(tiny_qwen_dir)]
    argv += ["--train-file", str(small_samples), "--output", str(out)]
    for override in SMALL:
        argv += ["--set", override]
    assert main(argv) == 0
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["steps"] == 1
    ran = summary["config"]
    # What makes the recipe that recipe reached the run unchanged.
    assert ran["method"] == shipped.method
    assert ran["lora"]["enabled"] == shipped.lora.enabled
    assert ran["gradient_checkpointing"] == shipped.gradient_checkpointing
    assert ran["decision"]["top_layers"] == shipped.decision.top_layers
    assert ran["decision"]["memory_source"] == shipped.decision.memory_source
    model_config = json.loads((out / "model" / "config.json").read_text())
    assert model_config["model_type"] == "qwen2"
    if shipped.method == "decision_sft":
        policy = json.loads((out / "model" / "learn2ask_policy.json").read_text())
        assert policy["questions"]["source"] == shipped.decision.memory_source
        assert policy["assessment"]["head"] == "embedding+lexical"


# Qwen2.5's technical report: 0.49B, 1.54B and 7.61B parameters (embeddings included).
PUBLISHED_PARAMETERS = {
    "Qwen/Qwen2.5-0.5B-Instruct": 494_032_768,
    "Qwen/Qwen2.5-1.5B-Instruct": 1_543_714_304,
    "Qwen/Qwen2.5-7B-Instruct": 7_615_616_512,
}


def test_the_gpu_benchmark_builds_each_recipe_model_at_its_published_size(bundled_model_dir):
    # benchmarks/gpu_recipes.py measures the recipes on random models of these shapes: a wrong
    # width or head count would measure another model.
    from benchmarks.gpu_recipes import QWEN25_SHAPES, parameter_count, qwen25_config
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(bundled_model_dir)
    models = {yaml.safe_load(p.read_text())["model"] for p in RECIPES}
    assert models <= set(QWEN25_SHAPES)
    for name, shape in QWEN25_SHAPES.items():
        assert parameter_count(qwen25_config(shape, tokenizer)) == PUBLISHED_PARAMETERS[name]
