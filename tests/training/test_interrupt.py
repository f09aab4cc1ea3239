"""Ctrl-C halfway through a training run, then ``--resume``: what a user does on a laptop."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time

import pytest

from learn2ask.cli import main
from learn2ask.training.common import last_complete_checkpoint, read_log

pytestmark = pytest.mark.slow

STEPS = 8  # the Ctrl-C lands at step 2-4: a step or two after the first checkpoint


def wait_for_checkpoint(process: subprocess.Popen, out, timeout: float = 240.0):
    """Poll until the run has written its first complete checkpoint."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"run ended before a checkpoint: {process.communicate()}")
        checkpoint = last_complete_checkpoint(out)
        if checkpoint is not None:
            return checkpoint
        time.sleep(0.02)
    process.kill()
    raise AssertionError("no checkpoint within the timeout")


def test_ctrl_c_then_resume_finishes_the_same_run(tiny_config):
    path, out = tiny_config("sft", max_steps=STEPS, save_steps=2)
    process = subprocess.Popen(
        [sys.executable, "-m", "learn2ask", "train", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_checkpoint(process, out)
    process.send_signal(signal.SIGINT)  # what Ctrl-C in a terminal sends
    # The run finishes its current step and saves before exiting; on a loaded 2-core machine
    # that took over 120 s once, so the bound is generous (a hang still fails).
    stdout, stderr = process.communicate(timeout=600)

    assert process.returncode == 130, stderr[-2000:]
    assert "--resume" in stdout
    assert not (out / "training_summary.json").exists()
    interrupted_at = json.loads((last_complete_checkpoint(out) / "trainer_state.json").read_text())[
        "global_step"
    ]
    assert 2 <= interrupted_at < STEPS

    assert main(["train", "--config", str(path), "--resume"]) == 0

    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["steps"] == STEPS
    logged = [record["step"] for record in read_log(out) if "loss" in record]
    assert logged == list(range(1, STEPS + 1))  # no step lost, none logged twice
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(out / "model") is not None  # plain transformers


def test_a_checkpoint_cut_off_while_saving_is_skipped(tiny_config):
    path, out = tiny_config("sft", max_steps=4, save_steps=2)
    assert main(["train", "--config", str(path)]) == 0
    checkpoints = out / "checkpoints"
    # Simulate Ctrl-C while checkpoint-4 was being written: its trainer state never landed.
    (checkpoints / "checkpoint-4" / "trainer_state.json").unlink()
    shutil.rmtree(out / "model")
    (out / "training_summary.json").unlink()

    assert last_complete_checkpoint(out) == checkpoints / "checkpoint-2"
    assert main(["train", "--config", str(path), "--resume"]) == 0
    assert json.loads((out / "training_summary.json").read_text())["steps"] == 4
    assert [r["step"] for r in read_log(out) if "loss" in r] == [1, 2, 3, 4]


def test_a_swallowed_ctrl_c_still_stops_at_the_next_step(tmp_path):
    """Python ignores a KeyboardInterrupt raised inside a finalizer; once a Ctrl-C landed there
    and the run trained on to the end. The handler remembers it, and every recipe's step-end
    check raises it again."""
    import os

    from learn2ask.training.common import interruptible, raise_if_interrupted, trainer_callbacks

    before = signal.getsignal(signal.SIGINT)
    callbacks = trainer_callbacks(tmp_path / "log.jsonl")
    with interruptible():
        raise_if_interrupted()  # nothing pressed yet: no exception
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)  # the handler runs here
        except KeyboardInterrupt:
            pass  # what a finalizer does with it
        with pytest.raises(KeyboardInterrupt):
            raise_if_interrupted()
        with pytest.raises(KeyboardInterrupt):
            callbacks[-1].on_step_end(None, None, None)
    assert signal.getsignal(signal.SIGINT) is before
    raise_if_interrupted()  # outside a run, nothing is pending
