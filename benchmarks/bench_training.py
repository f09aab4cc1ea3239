"""CPU step times of the demo recipes (SFT and GRPO on SmolLM2-135M, 2 cores)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from benchmarks.common import demo_samples, peak_rss_mib, row
from learn2ask.demo import bundled_config
from learn2ask.training import load_train_config, run_training


def step_seconds(out: Path) -> list[float]:
    """Seconds between consecutive logged steps (the first step's warm-up excluded)."""
    records = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    return [r["seconds"] for r in records if "loss" in r][1:]


def run() -> list[dict]:
    """Three steps of each demo recipe; mean step time after the first."""
    rows = []
    data = demo_samples()
    with tempfile.TemporaryDirectory() as tmp:
        sft_out = Path(tmp) / "sft"
        for method, init in (("sft", None), ("grpo", sft_out)):
            out = Path(tmp) / method
            config = load_train_config(
                bundled_config(method),
                train_file=str(data / "train.jsonl"),
                output_dir=str(out),
                max_steps=3,
                save_steps=100,
                init_from=str(init) if init else None,
            )
            run_training(config)
            times = step_seconds(out)
            rows.append(
                row(
                    "training",
                    f"{method.upper()} step, demo recipe",
                    round(sum(times) / len(times), 1),
                    "s/step",
                    f"batch {config.batch_size}, LoRA top {config.lora.layers} layers, "
                    f"prompt <= {config.prompt.max_context_chars} chars",
                )
            )
        rows.extend(decision_sft_rows(data, Path(tmp) / "decision"))
    rows.extend(shared_prefix_rows(data))
    rows.append(row("training", "peak RSS", round(peak_rss_mib()), "MiB"))
    return rows


def decision_sft_rows(data: Path, out: Path) -> list[dict]:
    """Examples/s of the decision-first recipe: caching the frozen layers, then training."""
    config = load_train_config(
        bundled_config("decision"),
        train_file=str(data / "train.jsonl"),
        output_dir=str(out),
        max_samples=160,
        max_steps=10,
        save_steps=0,
    )
    config.decision.calibrate = False
    run_training(config)
    summary = json.loads((out / "training_summary.json").read_text())
    note = f"{summary['train_samples']} examples, top {config.decision.top_layers} layers"
    return [
        row(
            "training",
            "decision_sft: cache frozen layers",
            round(summary["train_samples"] / summary["cache_seconds"], 1),
            "examples/s",
            note,
        ),
        row(
            "training",
            "decision_sft: train top layers",
            summary["examples_per_second"],
            "examples/s",
            f"{summary['steps']} steps of batch <= {config.batch_size}",
        ),
    ]


def shared_prefix_rows(data: Path, n: int = 160) -> list[dict]:
    """The frozen layers' cache with the prompts' shared prefix run once against every token of
    every example, side by side on the same ``n`` training examples (the demo's top 6 layers)."""
    import random
    import time

    from learn2ask.data.samples import load_samples
    from learn2ask.models.loading import load_policy
    from learn2ask.training.decision_sft import cache_batches, encode

    config = load_train_config(bundled_config("decision"), train_file=str(data / "train.jsonl"))
    model, tokenizer = load_policy(config.model, device="cpu")
    samples = load_samples(data / "train.jsonl")
    samples = random.Random(0).sample(samples, min(n, len(samples)))
    examples = [(*encode(s, tokenizer, config), s.decision == "stop") for s in samples]
    n_frozen = model.config.num_hidden_layers - config.decision.top_layers
    rows = []
    for share in (False, True):
        started = time.perf_counter()
        cache_batches(model, examples, n_frozen, config.batch_size, 0, share_prefix=share)
        rows.append(
            row(
                "training",
                "decision_sft: cache frozen layers, shared prefix "
                + ("once" if share else "in every example"),
                round(len(examples) / (time.perf_counter() - started), 2),
                "examples/s",
                f"{len(examples)} demo training examples, {n_frozen} frozen layers",
            )
        )
    return rows
