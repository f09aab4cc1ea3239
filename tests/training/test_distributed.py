"""The distributed path: a 2-process run on CPU (gloo backend) launched with torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("method", ["sft", "grpo"])
def test_two_process_cpu_run(tiny_config, method):
    path, out = tiny_config(method, max_steps=2, batch_size=2)
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "-m", "learn2ask", "train", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["steps"] == 2
    assert summary["world_size"] == 2
    assert (out / "model" / "config.json").is_file()
