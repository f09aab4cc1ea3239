"""Helpers shared by the benchmarks."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from learn2ask.data.prepare import PrepareConfig, prepare_dataset, preset_paths
from learn2ask.serving.probe import free_port
from learn2ask.targets.qa import QAExtractor

CACHE = Path("/tmp/learn2ask-bench")


def row(benchmark: str, metric: str, value: Any, unit: str = "", note: str = "") -> dict:
    """One result row."""
    return {"benchmark": benchmark, "metric": metric, "value": value, "unit": unit, "note": note}


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def demo_samples(preset: str = "demo") -> Path:
    """A bundled preset's samples (the demo's MTS-Dialog by default; prepared once per machine
    under /tmp)."""
    out = CACHE / preset
    if not (out / "test.jsonl").is_file():
        prepare_dataset(PrepareConfig(inputs=preset_paths(preset), out=out), QAExtractor())
    return out


@contextmanager
def local_server(model: str = "smollm2-135m-instruct"):
    """Start ``learn2ask serve-model`` on a free loopback port; yield its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "learn2ask", "serve-model", model, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
