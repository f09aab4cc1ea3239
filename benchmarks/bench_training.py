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
