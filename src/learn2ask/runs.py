"""The one place that names the files of a prepared data directory, a training run and an
evaluation run. Stages read and write through these layouts, never through string literals::

    PreparedData(Path("data")).train          # data/train.jsonl
    TrainRun(Path("runs/sft")).model          # runs/sft/model
    TrainRun(Path("runs/sft")).policy_file    # runs/sft/model/learn2ask_policy.json
    EvalRun(Path("runs/eval")).summary        # runs/eval/eval_summary.json
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

POLICY_FILE = "learn2ask_policy.json"
GRADE_CACHE = "grades.sqlite"


def entry(*parts: str, doc: str) -> property:
    """A read-only ``Path`` property: ``root`` joined with ``parts``."""
    return property(lambda layout: layout.root.joinpath(*parts), doc=doc)


@dataclass(frozen=True)
class PreparedData:
    """What ``prepare`` writes."""

    root: Path
    TRAIN: ClassVar[str] = "train.jsonl"
    TEST: ClassVar[str] = "test.jsonl"
    STATS: ClassVar[str] = "stats.json"

    train = entry(TRAIN, doc="Training samples.")
    test = entry(TEST, doc="Test samples.")
    stats = entry(STATS, doc="Preparation statistics.")


@dataclass(frozen=True)
class TrainRun:
    """What ``train`` writes."""

    root: Path
    MODEL: ClassVar[str] = "model"
    CHECKPOINTS: ClassVar[str] = "checkpoints"
    LOG: ClassVar[str] = "train_log.jsonl"
    SUMMARY: ClassVar[str] = "training_summary.json"

    model = entry(MODEL, doc="The saved model (loadable with plain transformers).")
    policy_file = entry(MODEL, POLICY_FILE, doc="Prompt, domain and decision rule of the model.")
    checkpoints = entry(CHECKPOINTS, doc="Trainer checkpoints (``--resume`` starts there).")
    log = entry(LOG, doc="One JSON record per logged step.")
    summary = entry(SUMMARY, doc="Config, steps, curve and wall time.")
    grade_cache = entry(GRADE_CACHE, doc="The LLM grader's SQLite cache.")


@dataclass(frozen=True)
class EvalRun:
    """What ``evaluate`` writes."""

    root: Path
    ROLLOUTS: ClassVar[str] = "rollouts.jsonl"
    METRICS: ClassVar[str] = "metrics.json"
    SUMMARY: ClassVar[str] = "eval_summary.json"
    STOP_SCORES: ClassVar[str] = "stop_scores.json"
    REPLAY: ClassVar[str] = "replay.jsonl"
    REPLAY_METRICS: ClassVar[str] = "replay_metrics.json"
    REFERENCES: ClassVar[str] = "references.json"
    FINGERPRINT: ClassVar[str] = "fingerprint.json"

    rollouts = entry(ROLLOUTS, doc="One record per generated reply.")
    metrics = entry(METRICS, doc="Per-turn metrics with confidence intervals.")
    summary = entry(SUMMARY, doc="The headline numbers.")
    stop_scores = entry(STOP_SCORES, doc="P(stop) per sample and its AUC.")
    replay = entry(REPLAY, doc="Whole-dialogue replays.")
    replay_metrics = entry(REPLAY_METRICS, doc="Replay metrics.")
    references = entry(REFERENCES, doc="Reference policies scored like the model.")
    fingerprint = entry(FINGERPRINT, doc="What the run was computed from.")
    grade_cache = entry(GRADE_CACHE, doc="The LLM grader's SQLite cache.")
