"""Seeded STOP/CONTINUE subsets of decision points, balanced *within each data source*.

Why within each source: in a mixed training file the sources differ in their STOP share (in the
demo's ``train_mix.jsonl`` 77% of the STOP points are ACI-Bench consultations and 71% of the
CONTINUE points MTS-Dialog snippets). Balanced over the pooled file, "looks like ACI-Bench" is
then a good predictor of STOP, and a policy or a threshold learns the source instead of the
stop point. Balancing inside each source (``meta.format``) removes that shortcut; sources keep
their share of the balanced points each can provide.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from learn2ask.data.types import Sample


def source_of(sample: Sample) -> str:
    """The data source a sample came from (its reader's format), ``unknown`` when not recorded."""
    return str(sample.meta.get("format", "unknown"))


def balanced_subset(
    samples: Sequence[Sample],
    stop_fraction: float = 0.5,
    limit: int | None = None,
    seed: int = 0,
    by_source: bool = True,
) -> list[Sample]:
    """Up to ``limit`` samples with ``stop_fraction`` STOP points in every source, seeded.

    Each source contributes the largest subset with that STOP share it holds; when the sources
    together hold more than ``limit``, each is scaled down in proportion. The result is ordered
    STOP points first, then CONTINUE points (shuffle it for training). ``by_source=False``
    balances the pooled samples instead (kept to measure what the per-source balance buys)."""
    if not 0.0 < stop_fraction < 1.0:
        raise ValueError(f"stop_fraction must lie strictly between 0 and 1, got {stop_fraction}")
    pool = sorted(samples, key=lambda s: s.id)
    random.Random(seed).shuffle(pool)
    groups: dict[str, tuple[list[Sample], list[Sample]]] = {}
    for sample in pool:
        key = source_of(sample) if by_source else "all"
        stops, continues = groups.setdefault(key, ([], []))
        (stops if sample.decision == "stop" else continues).append(sample)
    capacity = {
        source: min(len(stops) / stop_fraction, len(continues) / (1 - stop_fraction))
        for source, (stops, continues) in groups.items()
    }
    total = sum(capacity.values())
    scale = min(1.0, limit / total) if limit is not None and total > 0 else 1.0
    chosen_stops: list[Sample] = []
    chosen_continues: list[Sample] = []
    for source in sorted(groups):
        stops, continues = groups[source]
        size = int(capacity[source] * scale + 1e-9)  # 1e-9: 2k x (n / 2k) may round below n
        n_stop = min(len(stops), round(size * stop_fraction))
        chosen_stops += stops[:n_stop]
        chosen_continues += continues[: min(len(continues), size - n_stop)]
    return chosen_stops + chosen_continues


def samples_by_dialogue(samples: Sequence[Sample]) -> dict[str, list[Sample]]:
    """Each dialogue's samples, in order of position."""
    by_dialogue: dict[str, list[Sample]] = {}
    for sample in samples:
        by_dialogue.setdefault(sample.dialogue_id, []).append(sample)
    for points in by_dialogue.values():
        points.sort(key=lambda s: s.index)
    return by_dialogue


def whole_dialogue_subset(samples: Sequence[Sample], limit: int | None, seed: int) -> list[Sample]:
    """Every point of seeded whole dialogues, taken while their points fit ``limit`` (at least
    one dialogue)."""
    by_dialogue = samples_by_dialogue(samples)
    order = sorted(by_dialogue)
    random.Random(seed).shuffle(order)
    chosen: list[Sample] = []
    for dialogue_id in order:
        points = by_dialogue[dialogue_id]
        if limit is not None and chosen and len(chosen) + len(points) > limit:
            continue
        chosen.extend(points)
    return sorted(chosen, key=lambda s: s.id)
