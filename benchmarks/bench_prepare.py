"""Benchmark: ``prepare`` with the ``qa`` extractor over every bundled dialogue."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from learn2ask.data.prepare import PrepareConfig, prepare_dataset, preset_paths
from learn2ask.targets.qa import QAExtractor


def run() -> list[dict]:
    """Time one full ``prepare`` of the ``all`` preset (MTS-Dialog + ACI-Bench)."""
    with tempfile.TemporaryDirectory() as tmp:
        config = PrepareConfig(inputs=preset_paths("all"), out=Path(tmp))
        start = time.perf_counter()
        stats = prepare_dataset(config, QAExtractor())
        seconds = time.perf_counter() - start
    note = f"{stats.dialogues} dialogues, {stats.samples} samples"
    return [
        {"benchmark": "prepare", "metric": "wall (qa, all bundled)", "value": round(seconds, 2),
         "unit": "s", "note": note},
        {"benchmark": "prepare", "metric": "samples per second", "value":
         round(stats.samples / seconds, 1), "unit": "samples/s", "note": note},
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
