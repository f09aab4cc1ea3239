"""Pieces every training recipe shares: data selection, model loading, LoRA, logging, saving."""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learn2ask.data.samples import load_samples
from learn2ask.data.sampling import balanced_subset
from learn2ask.data.types import Sample
from learn2ask.io import (
    append_jsonl,
    read_jsonl_tolerant,
    write_json_atomic,
    write_jsonl_atomic,
)
from learn2ask.models.policy import build_policy_messages, save_prompt_config
from learn2ask.models.registry import resolve_model
from learn2ask.runs import TrainRun
from learn2ask.training.config import TrainConfig

# File names of a run directory, defined once in learn2ask.runs.TrainRun.
LOG_FILE = TrainRun.LOG
SUMMARY_FILE = TrainRun.SUMMARY
MODEL_DIR = TrainRun.MODEL
CHECKPOINT_DIR = TrainRun.CHECKPOINTS


def select_samples(samples: list[Sample], config: TrainConfig) -> list[Sample]:
    """Seeded training subset with ``stop_fraction`` STOP samples in every data source
    (``data/sampling.py`` says why per source); None keeps the data's own mix."""
    rng = random.Random(config.seed)
    pool = list(samples)
    rng.shuffle(pool)
    if config.stop_fraction is not None:
        pool = balanced_subset(
            pool, config.stop_fraction, config.max_samples, config.seed, config.balance_per_source
        )
        rng.shuffle(pool)
    elif config.max_samples:
        pool = pool[: config.max_samples]
    if not pool:
        raise ValueError("no training samples selected")
    return pool


def load_training_samples(config: TrainConfig) -> list[Sample]:
    """Load ``train_file`` and select the training subset."""
    return select_samples(load_samples(config.train_file), config)


def prompt_messages(sample: Sample, config: TrainConfig) -> list[dict[str, str]]:
    """The policy prompt for a sample under this run's prompt settings."""
    return build_policy_messages(sample.context, config.prompt.to_policy_config())


def use_cuda() -> bool:
    """Whether a CUDA device is available."""
    import torch

    return torch.cuda.is_available()


def release_cached_memory() -> None:
    """Hand the GPU memory PyTorch holds but no longer uses back to the device (training's
    freed optimizer state and caches), so the calibration's batches do not stack on top of
    it; nothing on a CPU."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def set_threads(config: TrainConfig) -> None:
    """Pin the CPU thread count when configured (avoids oversubscription on small machines)."""
    if config.torch_threads:
        import torch

        torch.set_num_threads(config.torch_threads)


@dataclass
class RunStart:
    """What every recipe begins with: the clock, the run directory, the model to train."""

    started: float
    out: Path
    model: Any
    tokenizer: Any


def start_run(config: TrainConfig) -> RunStart:
    """Start the clock, pin threads, load the start model and tokenizer."""
    started = time.perf_counter()
    set_threads(config)
    model, tokenizer = load_start_model(config)
    return RunStart(started, Path(config.output_dir), model, tokenizer)


def load_start_model(config: TrainConfig) -> tuple[Any, Any]:
    """Model and tokenizer to start from: ``init_from``'s model, else ``model``."""
    import torch
    from transformers import AutoModelForCausalLM

    from learn2ask.models.loading import load_tokenizer

    source = init_source(config)
    dtype = torch.bfloat16 if use_cuda() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    tokenizer = load_tokenizer(source, padding_side="left")
    return model, tokenizer


def init_source(config: TrainConfig) -> str:
    """The checkpoint this run starts from (``init_from`` may be a run dir or a model dir)."""
    if config.init_from:
        candidate = Path(config.init_from)
        if (candidate / MODEL_DIR / "config.json").is_file():
            return str(candidate / MODEL_DIR)
        return resolve_model(candidate)
    return resolve_model(config.model)


def lora_config(config: TrainConfig, model: Any) -> Any:
    """A peft ``LoraConfig`` for the run, or None for full fine-tuning."""
    if not config.lora.enabled:
        return None
    from peft import LoraConfig

    layers = None
    targets = config.lora.target_modules
    if config.lora.layers:
        total = model.config.num_hidden_layers
        layers = list(range(max(0, total - config.lora.layers), total))
        if targets == "all-linear":  # peft needs explicit names to restrict layers
            targets = linear_module_names(model)
    return LoraConfig(
        r=config.lora.r,
        lora_alpha=config.lora.alpha,
        lora_dropout=config.lora.dropout,
        target_modules=targets,
        layers_to_transform=layers,
        task_type="CAUSAL_LM",
    )


def linear_module_names(model: Any) -> list[str]:
    """Names of the Linear layers inside the transformer blocks (the LM head excluded)."""
    import torch

    names = {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and ".layers." in name
    }
    return sorted(names)


def trainer_arguments(config: TrainConfig, out: Path) -> dict[str, Any]:
    """Arguments every TRL config shares, from the typed config."""
    cuda = use_cuda()
    return {
        "output_dir": str(out / CHECKPOINT_DIR),
        "learning_rate": config.learning_rate,
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps,
        "per_device_train_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation,
        "warmup_steps": config.warmup_steps,
        "logging_steps": config.logging_steps,
        "save_strategy": "steps" if config.save_steps else "no",  # 0: no checkpoints
        "save_steps": config.save_steps or 1,
        "save_total_limit": config.save_total_limit,
        "report_to": list(config.report_to) or "none",
        "seed": config.seed,
        "use_cpu": not cuda,
        "bf16": cuda,
        "dataloader_num_workers": 0,
        "gradient_checkpointing": config.gradient_checkpointing,
        "disable_tqdm": False,
    }


def last_complete_checkpoint(out: Path) -> Path | None:
    """The newest checkpoint of a run that was written to the end, or None.

    transformers writes ``trainer_state.json`` last, so a checkpoint without it was cut off
    (Ctrl-C or a crash while saving) and resuming from it would fail; the one before is used.
    """
    complete = [
        path
        for path in (out / CHECKPOINT_DIR).glob("checkpoint-*")
        if path.name.split("-")[-1].isdigit() and (path / "trainer_state.json").is_file()
    ]
    return max(complete, key=lambda path: int(path.name.split("-")[-1]), default=None)


def checkpoint_step(checkpoint: Path) -> int:
    """The global step a checkpoint was saved at."""
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    return int(state["global_step"])


def trim_log(out: Path, last_step: int) -> None:
    """Drop log records after ``last_step`` (a resumed run repeats and logs those steps again)."""
    path = out / LOG_FILE
    if not path.is_file():
        return
    kept = [record for record in read_log(out) if record.get("step", 0) <= last_step]
    write_jsonl_atomic(path, kept)


class InterruptRequest:
    """The SIGINT handler while a run trains: raises ``KeyboardInterrupt`` as Python's default
    does, and remembers that it did. Python ignores an exception raised inside a finalizer, so a
    Ctrl-C that lands there was lost once (the run trained on to the end); the step-end check
    (:func:`raise_if_interrupted`) stops the run at the next step however the first one fared."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: Any) -> None:
        self.requested = True
        raise KeyboardInterrupt


@contextmanager
def interruptible() -> Iterator[None]:
    """Install :class:`InterruptRequest` for SIGINT (main thread only), restore it after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, InterruptRequest())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` when Ctrl-C was pressed during this run."""
    handler = signal.getsignal(signal.SIGINT)
    if isinstance(handler, InterruptRequest) and handler.requested:
        raise KeyboardInterrupt


def trainer_callbacks(log_path: Path) -> list[Any]:
    """The callbacks every TRL recipe passes its trainer: the JSONL log, and the step-end
    interrupt check."""
    from transformers import TrainerCallback

    class _StopOnInterrupt(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            raise_if_interrupted()

    return [JsonlLogCallback(log_path).callback(), _StopOnInterrupt()]


class JsonlLogCallback:
    """Appends every training log (one JSON object per logging step) to ``train_log.jsonl``.

    Besides TRL's own keys it writes ``step``, ``loss``, ``reward``, ``r_a``, ``r_s`` and ``p``
    under those plain names, which the reports read.
    """

    ALIASES = {
        "loss": ("loss",),
        "reward": ("reward",),
        "r_a": ("r_a",),
        "r_s": ("r_s",),
        "p": ("p",),
        "grading_failures": ("grading_failures",),
    }

    def __init__(self, path: Path) -> None:
        self.path = path
        self._last = time.perf_counter()

    def callback(self) -> Any:
        """The transformers ``TrainerCallback`` that writes the log."""
        from transformers import TrainerCallback

        outer = self

        class _Callback(TrainerCallback):
            def on_log(
                self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any
            ) -> None:
                if logs and state.is_world_process_zero:
                    outer.write(state.global_step, dict(logs))

        return _Callback()

    def write(self, step: int, logs: dict[str, Any]) -> None:
        """Normalise and append one log record."""
        now = time.perf_counter()
        record: dict[str, Any] = {"step": step, "seconds": round(now - self._last, 3)}
        self._last = now
        for key, value in logs.items():
            if isinstance(value, (int, float)):
                record[key] = value
        for plain, suffixes in self.ALIASES.items():
            if plain not in record:
                for key, value in logs.items():
                    if isinstance(value, (int, float)) and key.split("/")[-1] in suffixes:
                        record[plain] = value
                        break
        append_jsonl(self.path, record)


def read_log(out: Path) -> list[dict[str, Any]]:
    """The training log records of a run directory (empty when there is none)."""
    return read_jsonl_tolerant(out / LOG_FILE)


def save_final_model(trainer: Any, tokenizer: Any, config: TrainConfig, out: Path) -> Path:
    """Save the trained policy (LoRA merged unless configured otherwise) with its tokenizer
    and prompt settings into ``OUT/model``."""
    if not trainer.is_world_process_zero():
        return out / MODEL_DIR
    model = trainer.model
    if config.lora.enabled and config.lora.merge and hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    return save_policy_files(model, tokenizer, config, out)


def save_policy_files(model: Any, tokenizer: Any, config: TrainConfig, out: Path) -> Path:
    """``OUT/model``: the weights, the tokenizer, and the prompt with its whole domain."""
    target = out / MODEL_DIR
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    save_prompt_config(target, config.prompt.to_policy_config(), config.prompt.load_domain())
    return target


def write_summary(
    config: TrainConfig,
    out: Path,
    trainer: Any,
    started: float,
    extra: dict[str, Any] | None = None,
) -> None:
    """``training_summary.json`` of a TRL trainer's run: config, steps, reward/loss curve, wall
    time (written by the main process only)."""
    if not trainer.is_world_process_zero():
        return
    write_run_summary(
        config,
        out,
        started,
        ("step", "loss", "reward", "r_a", "r_s", "p"),
        {"steps": int(trainer.state.global_step), **(extra or {})},
        world_size=int(trainer.args.world_size),
    )


def write_run_summary(
    config: TrainConfig,
    out: Path,
    started: float,
    curve_keys: tuple[str, ...],
    extra: dict[str, Any],
    world_size: int = 1,
) -> None:
    """``training_summary.json``: config, wall time, the training log's ``curve_keys`` at each
    logged step, the model's directory, and ``extra``."""
    summary = {
        "method": config.method,
        "config": config.to_dict(),
        "world_size": world_size,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "curve": [
            {k: r[k] for k in curve_keys if k in r}
            for r in read_log(out)
            if "loss" in r or "reward" in r
        ],
        "model_dir": str(out / MODEL_DIR),
        **extra,
    }
    write_json_atomic(out / SUMMARY_FILE, summary)


def train_and_save(
    trainer: Any,
    run: RunStart,
    config: TrainConfig,
    resume: bool,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Train (from the last checkpoint when ``resume``), save the model, write the summary."""
    out = run.out
    checkpoint = last_complete_checkpoint(out) if resume else None
    if trainer.is_world_process_zero():  # a fresh start keeps no log of an earlier attempt
        trim_log(out, checkpoint_step(checkpoint) if checkpoint else 0)
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    model_dir = save_final_model(trainer, run.tokenizer, config, out)
    write_summary(config, out, trainer, run.started, extra)
    return model_dir
