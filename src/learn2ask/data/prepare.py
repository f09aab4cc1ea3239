"""``learn2ask prepare``: logs -> samples with hindsight targets, split by dialogue.

Writes ``train.jsonl`` and ``test.jsonl`` (one :class:`Sample` per line, loadable with HF
``datasets``) and ``stats.json`` as one set: all three appear together or none does.
"""

from __future__ import annotations

import difflib
import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from learn2ask.data.extraction import ExtractionFailure, Extractor, decision_from_items
from learn2ask.data.readers import DEFAULT_SPEAKER_MAP, ReaderConfig, read_dialogues
from learn2ask.data.samples import save_samples
from learn2ask.data.segment import segment_dialogue
from learn2ask.data.types import Dialogue, Sample
from learn2ask.errors import ConfigError, InputError
from learn2ask.io import staged_outputs, write_json_atomic
from learn2ask.runs import PreparedData

BUNDLED_DATA = "resources/data"
PRESETS: dict[str, tuple[str, ...]] = {
    "mts-dialog": (
        "mts-dialog/MTS-Dialog-TrainingSet.csv",
        "mts-dialog/MTS-Dialog-ValidationSet.csv",
        "mts-dialog/MTS-Dialog-TestSet-1-MEDIQA-Chat-2023.csv",
        "mts-dialog/MTS-Dialog-TestSet-2-MEDIQA-Sum-2023.csv",
    ),
    "aci-bench": (
        "aci-bench/train.json",
        "aci-bench/valid.json",
        "aci-bench/clinicalnlp_taskB_test1.json",
        "aci-bench/clinicalnlp_taskC_test2.json",
        "aci-bench/clef_taskC_test3.json",
    ),
    "realmedconv-sample": ("realmedconv/sample.jsonl",),
    # IT helpdesk tickets written for the project (CC0): use with --domain support.
    "support": ("support/helpdesk.jsonl",),
}
PRESETS["all"] = PRESETS["mts-dialog"] + PRESETS["aci-bench"]
# The demo trains on CPU: MTS-Dialog's short conversations keep prompts short.
PRESETS["demo"] = PRESETS["mts-dialog"]


@dataclass(frozen=True)
class PrepareConfig:
    """Everything ``prepare`` needs: inputs, reading, splitting and where to write."""

    inputs: tuple[Path, ...]
    out: Path
    reader: ReaderConfig = field(default_factory=ReaderConfig)
    test_fraction: float = 0.1
    seed: int = 0


@dataclass
class PrepareStats:
    """What ``prepare`` produced (written to ``stats.json``)."""

    dialogues: int = 0
    train_dialogues: int = 0
    test_dialogues: int = 0
    samples: int = 0
    train_samples: int = 0
    test_samples: int = 0
    continue_samples: int = 0
    stop_samples: int = 0
    mean_items_per_sample: float = 0.0
    skipped_records: int = 0
    skipped_reasons: list[str] = field(default_factory=list)
    extraction_failures: int = 0
    extraction_failure_reasons: list[str] = field(default_factory=list)
    extractor: str = ""
    # qa extractor: s* flips and I* counts against its v1 rules (closers and repairs kept)
    s_star_changes: dict[str, int] = field(default_factory=dict)
    # qa extractor: conversations without a "?" in any expert turn, whose questions were found by
    # their interrogative openings (speech-recognition transcripts; targets/qa.py rule 4)
    unpunctuated_dialogues: int = 0
    # Each speaker label the logs named, with the role it was read as and its turns: to check
    # that "Dr Lee" became the expert (the most frequent SPEAKERS_SHOWN; readers that name them)
    speakers: dict[str, dict[str, Any]] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    seed: int = 0
    test_fraction: float = 0.0
    seconds: float = 0.0


SPEAKERS_SHOWN = 30


def speaker_roles(dialogues: Sequence[Dialogue], shown: int = SPEAKERS_SHOWN) -> dict[str, Any]:
    """``{label: {"role", "turns"}}`` for the ``shown`` most frequent speaker labels of
    ``dialogues`` (labels as the log wrote them, case and spacing aside), most turns first."""
    counts: Counter[tuple[str, str]] = Counter(
        (turn.speaker.strip().lower(), turn.role)
        for dialogue in dialogues
        for turn in dialogue.turns
        if turn.speaker.strip()
    )
    return {
        label: {"role": role, "turns": n}
        for (label, role), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:shown]
    }


def preset_paths(name: str) -> tuple[Path, ...]:
    """Paths of a bundled dataset preset."""
    if name not in PRESETS:
        close = difflib.get_close_matches(name, PRESETS, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        known = ", ".join(sorted(PRESETS))
        raise ConfigError(f"unknown preset '{name}' ({hint}choose from {known})")
    root = files("learn2ask").joinpath(BUNDLED_DATA)
    return tuple(Path(str(root.joinpath(rel))) for rel in PRESETS[name])


def split_dialogue_ids(ids: list[str], test_fraction: float, seed: int) -> set[str]:
    """Seeded choice of the test dialogues; never splits one dialogue across both sets."""
    if not 0.0 <= test_fraction < 1.0:
        raise ConfigError(f"--test-fraction must be in [0, 1), got {test_fraction}")
    ordered = sorted(ids)
    random.Random(seed).shuffle(ordered)
    n_test = math.ceil(len(ordered) * test_fraction) if len(ordered) > 1 else 0
    return set(ordered[:n_test])


def build_samples(
    dialogues: list[Dialogue], extractor: Extractor, stats: PrepareStats
) -> list[Sample]:
    """Segment every dialogue and attach I*/s*; extraction failures are left out and counted."""
    points = [p for d in dialogues for p in segment_dialogue(d)]
    sources = {d.id: d.meta for d in dialogues}
    results = extractor.extract([(p.context, p.future) for p in points])
    samples = []
    for point, items in zip(points, results, strict=True):
        if isinstance(items, ExtractionFailure):
            stats.extraction_failures += 1
            stats.extraction_failure_reasons.append(f"{point.id}: {items.reason}")
            continue
        meta = {"turn_index": point.turn_index, "extractor": extractor.name}
        meta.update({k: v for k, v in sources[point.dialogue_id].items() if k != "line"})
        samples.append(
            Sample(
                id=point.id,
                dialogue_id=point.dialogue_id,
                index=point.index,
                context=point.context,
                future=point.future,
                info_set=[i.text for i in items],
                decision=decision_from_items(items),
                items=items,
                meta=meta,
            )
        )
    return samples


def prepare_dataset(config: PrepareConfig, extractor: Extractor) -> PrepareStats:
    """Read, segment, extract, split and write; returns the statistics written."""
    started = time.perf_counter()
    result = read_dialogues(list(config.inputs), config.reader)
    if not result.dialogues:
        raise InputError(config.inputs[0] if config.inputs else "<none>", "no dialogues to prepare")
    stats = PrepareStats(
        dialogues=len(result.dialogues),
        skipped_records=len(result.skipped),
        skipped_reasons=[str(e) for e in result.skipped],
        extractor=extractor.name,
        speakers=speaker_roles(result.dialogues),
        inputs=[str(p) for p in config.inputs],
        seed=config.seed,
        test_fraction=config.test_fraction,
    )
    samples = build_samples(result.dialogues, extractor, stats)
    test_ids = split_dialogue_ids(
        [d.id for d in result.dialogues], config.test_fraction, config.seed
    )
    train = [s for s in samples if s.dialogue_id not in test_ids]
    test = [s for s in samples if s.dialogue_id in test_ids]
    stats.samples = len(samples)
    stats.train_samples, stats.test_samples = len(train), len(test)
    stats.train_dialogues = len(result.dialogues) - len(test_ids)
    stats.test_dialogues = len(test_ids)
    stats.continue_samples = sum(s.decision == "continue" for s in samples)
    stats.stop_samples = stats.samples - stats.continue_samples
    if hasattr(extractor, "changes_from_v1"):
        stats.s_star_changes = extractor.changes_from_v1(samples)
    if hasattr(extractor, "unpunctuated_dialogues"):
        stats.unpunctuated_dialogues = extractor.unpunctuated_dialogues(samples)
    stats.mean_items_per_sample = (
        round(sum(len(s.info_set) for s in samples) / len(samples), 4) if samples else 0.0
    )
    check_not_empty(train, stats, config)
    with staged_outputs(config.out) as stage:
        layout = PreparedData(stage)
        save_samples(layout.train, train)
        save_samples(layout.test, test)
        stats.seconds = round(time.perf_counter() - started, 3)
        write_json_atomic(layout.stats, asdict(stats))
    return stats


def check_not_empty(train: list[Sample], stats: PrepareStats, config: PrepareConfig) -> None:
    """An ``InputError`` (nothing written) when the training set would be empty."""
    if train:
        return
    if stats.samples == 0:
        reason = (
            f"no training samples: none of the {stats.dialogues} dialogues has an expert turn "
            "after user input"
        )
    else:
        reason = (
            f"no training samples: all {stats.samples} samples fell in the test set "
            f"(--test-fraction {config.test_fraction})"
        )
    raise InputError(config.inputs[0] if len(config.inputs) == 1 else "<inputs>", reason)


__all__ = [
    "DEFAULT_SPEAKER_MAP",
    "PRESETS",
    "PrepareConfig",
    "PrepareStats",
    "build_samples",
    "prepare_dataset",
    "preset_paths",
    "split_dialogue_ids",
]
