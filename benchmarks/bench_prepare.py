"""`prepare` with the qa extractor over every bundled dialogue (goal: under 10 s on 2 cores)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.common import row
from learn2ask.data.prepare import PrepareConfig, prepare_dataset, preset_paths
from learn2ask.targets.qa import QAExtractor


def run() -> list[dict]:
    """Time prepare over the `all` preset (MTS-Dialog + ACI-Bench)."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        stats = prepare_dataset(
            PrepareConfig(inputs=preset_paths("all"), out=Path(tmp)), QAExtractor()
        )
        seconds = time.perf_counter() - started
    return [
        row(
            "prepare",
            "wall time, all bundled dialogues",
            round(seconds, 2),
            "s",
            f"{stats.dialogues} dialogues -> {stats.samples} samples; goal < 10 s",
        ),
        row("prepare", "samples per second", round(stats.samples / seconds), "samples/s"),
    ]
