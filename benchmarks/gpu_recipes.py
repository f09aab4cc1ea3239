"""Time and peak memory of the GPU recipes (the shipped ``qwen2.5-*`` configs) at their models'
real shapes.

    python -m benchmarks.gpu_recipes --train-file demo_out/data/train_mix.jsonl \
        --tokenizer DIR --out DIR [--recipes qwen2.5-0.5b_decision ...] [--set key=value ...]

No Qwen weights are reachable from this project's machines, so each recipe trains a randomly
initialised model with its Qwen2.5 model's published shape (layers, widths, heads, vocabulary;
the tokenizer is ``--tokenizer``'s, e.g. the bundled SmolLM2's; Qwen's, with three times the
vocabulary, likely makes English sequences somewhat shorter, so these figures should lean
high). What training costs depends on the shapes and the token counts, not on the weights, so
a training step's time and memory are the recipe's at these token counts. Generation is not:
a random model never ends early, so every GRPO completion and the memory's own questions run
to their length cap (an upper bound on that part), and no quality figure means anything here. One
recipe per process would be cleaner for memory; one process keeps the CUDA context warm, and
``torch.cuda.reset_peak_memory_stats`` separates the recipes' peaks.

Results go to ``OUT/gpu_recipes.json`` (one row per recipe, written as each finishes).
"""

from __future__ import annotations

import argparse
import json
import time
from importlib.resources import files
from pathlib import Path
from typing import Any

from learn2ask.io import write_json_atomic
from learn2ask.training import run_training
from learn2ask.training.config import BUNDLED_CONFIGS, load_train_config

RECIPES_DIR = Path(str(files("learn2ask").joinpath(BUNDLED_CONFIGS)))

# Qwen2.5-*-Instruct's config.json sizes (the hub's, 2024-09); the rest is transformers' qwen2
# defaults, which match those files (silu, rms_norm_eps 1e-6 aside, set here).
QWEN25_SHAPES: dict[str, dict[str, Any]] = {
    "Qwen/Qwen2.5-0.5B-Instruct": {
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "tie_word_embeddings": True,
    },
    "Qwen/Qwen2.5-1.5B-Instruct": {
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "vocab_size": 151936,
        "tie_word_embeddings": True,
    },
    "Qwen/Qwen2.5-7B-Instruct": {
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "vocab_size": 152064,
        "tie_word_embeddings": False,
    },
}

# --tiny: the same recipes on a 10-layer model of the same architecture (a CPU check of this
# script; tests/training/test_gpu_recipes.py does the same through the CLI).
TINY_SHAPE = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 10,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "tie_word_embeddings": True,
}
TINY_SIZES = [
    "max_samples=16",
    "max_steps=2",
    "batch_size=4",
    "gradient_accumulation=1",
    "save_steps=0",
    "max_completion_length=8",
    "prompt.max_context_chars=300",
    "grpo.num_generations=2",
    "decision.validation_points=20",
    "decision.ask_reward_samples=4",
    "decision.stop_head_points=40",
    "decision.memory_max_points=40",
]


def qwen25_config(shape: dict[str, Any], tokenizer: Any) -> Any:
    """A ``qwen2`` config of ``shape`` whose special tokens are ``tokenizer``'s (its ids must
    lie inside the shape's vocabulary, which keeps the published size for the LM head's cost)."""
    from transformers import AutoConfig

    vocab = max(shape.get("vocab_size", 0), len(tokenizer))
    return AutoConfig.for_model(
        "qwen2",
        **{**shape, "vocab_size": vocab},
        rms_norm_eps=1e-6,
        rope_theta=1_000_000.0,
        max_position_embeddings=32768,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def parameter_count(config: Any) -> int:
    """Parameters of a model of ``config`` (built on the meta device: no memory, no time)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return sum(p.numel() for p in model.parameters())


def save_random_model(config: Any, tokenizer: Any, out: Path) -> Path:
    """A randomly initialised model of ``config`` with ``tokenizer``, saved in bfloat16 to
    ``out`` (built on the GPU when there is one: a 1.5B model's init takes minutes on a CPU)."""
    import torch
    from transformers import AutoModelForCausalLM

    if (out / "config.json").is_file():
        return out
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    del model
    return out


def without_vllm(config: Any) -> list[str]:
    """The override that generates GRPO's completions with transformers where the recipe asks
    for vLLM and vLLM is not installed (the lent GPU has none: its wheel is over the 64 MiB a
    call carries)."""
    import importlib.util

    wants = config.method == "grpo" and config.grpo.use_vllm
    return ["grpo.use_vllm=false"] if wants and importlib.util.find_spec("vllm") is None else []


def run_recipe(
    recipe: Path, train_file: Path, tokenizer: Any, out: Path, overrides: list[str], tiny: bool
) -> dict[str, Any]:
    """Train ``recipe`` on its shape's random model; its time, memory and training figures."""
    import torch

    shipped = load_train_config(recipe)
    shape = TINY_SHAPE if tiny else QWEN25_SHAPES[shipped.model]
    model_config = qwen25_config(shape, tokenizer)
    name = f"{recipe.stem}-tiny" if tiny else recipe.stem  # a rerun reuses its random model
    model_dir = save_random_model(model_config, tokenizer, out / "models" / name)
    changed = [*(TINY_SIZES if tiny else []), *without_vllm(shipped), *overrides]
    config = load_train_config(
        recipe,
        changed,
        train_file=str(train_file),
        output_dir=str(out / "runs" / recipe.stem),
        model=str(model_dir),
    )
    cuda = torch.cuda.is_available()
    peak = torch.cuda.max_memory_allocated if cuda else None
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    run_training(config)
    seconds = time.perf_counter() - started
    summary_path = Path(config.output_dir) / "training_summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    figures = {
        k: summary[k]
        for k in (
            "steps",
            "train_samples",
            "cache_seconds",
            "cache_gib",
            "cache_on",
            "train_seconds",
            "examples_per_second",
        )
        if k in summary
    }
    return {
        "recipe": recipe.name,
        "model_shape": f"{shipped.model} ({'tiny, 10 layers' if tiny else 'random weights'})",
        "parameters": parameter_count(model_config),
        "method": config.method,
        "overrides": changed,
        "wall_seconds": round(seconds, 1),
        "peak_gpu_allocated_mib": round(peak() / 2**20) if peak else None,
        "peak_gpu_reserved_mib": round(torch.cuda.max_memory_reserved() / 2**20) if cuda else None,
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        **figures,
        **step_figures(Path(config.output_dir) / "train_log.jsonl"),
    }


def step_figures(log: Path) -> dict[str, Any]:
    """Median seconds per step after the first (its warm-up is in the wall time) and the mean
    completion length, from a TRL run's log (decision_sft's summary has its own figures)."""
    import statistics

    if not log.is_file():
        return {}
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]
    steps = [r for r in rows if "step_time" in r]
    if not steps:
        return {}
    later = [r["step_time"] for r in steps[1:]] or [steps[0]["step_time"]]
    lengths = [r["completions/mean_length"] for r in steps if "completions/mean_length" in r]
    return {
        "step_seconds_median": round(statistics.median(later), 3),
        "completion_tokens_mean": round(statistics.fmean(lengths), 1) if lengths else None,
    }


def demo_training_mix(out: Path) -> Path:
    """The demo's training mix (MTS-Dialog and ACI-Bench training dialogues), prepared under
    ``out`` as ``learn2ask demo`` prepares it."""
    from learn2ask.demo import DemoSettings, prepare_data

    return prepare_data(out, time.perf_counter(), DemoSettings(out=out).test_fraction)[0]


def main() -> None:
    """Train each selected recipe once, print and save its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--train-file",
        type=Path,
        default=None,
        help="prepared training samples (default: the demo's mix, prepared into OUT/data)",
    )
    parser.add_argument("--tokenizer", required=True, help="a tokenizer directory or model name")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--recipes",
        nargs="*",
        default=None,
        help="recipe names, e.g. qwen2.5-0.5b_decision (default: every qwen2.5-* config)",
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V")
    parser.add_argument("--tiny", action="store_true", help="10-layer model, tiny sizes (CPU)")
    args = parser.parse_args()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    train_file = args.train_file or demo_training_mix(args.out)
    recipes = sorted(RECIPES_DIR.glob("qwen2.5-*.yaml"))
    if args.recipes:
        recipes = [p for p in recipes if p.stem in args.recipes]
    results_path = args.out / "gpu_recipes.json"
    rows = json.loads(results_path.read_text()) if results_path.is_file() else []
    for recipe in recipes:
        row = run_recipe(recipe, train_file, tokenizer, args.out, args.overrides, args.tiny)
        print(json.dumps(row), flush=True)
        rows = [r for r in rows if r["recipe"] != row["recipe"]] + [row]
        write_json_atomic(results_path, rows)


if __name__ == "__main__":
    main()
