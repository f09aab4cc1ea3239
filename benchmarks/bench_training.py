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
    rows.append(row("training", "peak RSS", round(peak_rss_mib()), "MiB"))
    return rows
