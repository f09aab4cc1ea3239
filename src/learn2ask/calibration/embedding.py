"""Fit the embedding grader's thresholds from data (no human labels needed).

Negatives are questions the expert asked in a DIFFERENT dialogue, compared with a sample's I*:
they target nothing the expert still wanted here. The ``full`` threshold is the similarity that
only ``full_fpr`` of those negatives reach (a question scoring R_a = 1 should almost never be an
unrelated one), the ``half`` threshold the one that ``half_fpr`` reach. Fitting uses the train
split only; the AUC on the test split is measured separately (benchmarks/bench_rewards.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from learn2ask.data.types import Sample
from learn2ask.io import write_json_atomic
from learn2ask.rewards.graders.embedding import EmbeddingGrader


@dataclass(frozen=True)
class ThresholdFit:
    """Fitted thresholds and the numbers behind them."""

    full: float
    half: float
    negatives: int
    full_fpr: float
    half_fpr: float


def other_dialogue_questions(
    samples: list[Sample], rng: random.Random
) -> list[tuple[str, Sample]]:
    """Pair each CONTINUE sample with a question the expert asked in another dialogue."""
    pool = [(s.dialogue_id, s.items[0].text) for s in samples if s.items]
    pairs = []
    for sample in samples:
        if sample.decision != "continue" or not sample.info_set or len(pool) < 2:
            continue
        dialogue_id, question = rng.choice(pool)
        while dialogue_id == sample.dialogue_id:
            dialogue_id, question = rng.choice(pool)
        pairs.append((question, sample))
    return pairs


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile (linear interpolation) of a non-empty list."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def fit_embedding_thresholds(
    grader: EmbeddingGrader,
    samples: list[Sample],
    full_fpr: float = 0.01,
    half_fpr: float = 0.10,
    max_pairs: int = 2000,
    seed: int = 0,
) -> ThresholdFit:
    """Thresholds where unrelated questions score 1 (0.5) at rate ``full_fpr`` (``half_fpr``)."""
    rng = random.Random(seed)
    pairs = other_dialogue_questions(samples, rng)
    rng.shuffle(pairs)
    pairs = pairs[:max_pairs]
    if not pairs:
        raise ValueError("no CONTINUE samples with I* to fit on")
    sims = grader.similarities([q for q, _ in pairs], [s for _, s in pairs])
    values = [v for v in sims if v is not None]
    return ThresholdFit(
        full=round(quantile(values, 1.0 - full_fpr), 4),
        half=round(quantile(values, 1.0 - half_fpr), 4),
        negatives=len(values),
        full_fpr=full_fpr,
        half_fpr=half_fpr,
    )


def write_grader_file(path: str | Path, fit: ThresholdFit, version: str, source: str) -> None:
    """Save a versioned embedding grader file with the fit's provenance."""
    write_json_atomic(
        path,
        {
            "version": version,
            "model": "all-MiniLM-L6-v2",
            "thresholds": {"full": fit.full, "half": fit.half},
            "continuous": False,
            "provenance": {
                "method": "negatives = expert questions from other dialogues vs a sample's I*; "
                f"full = their {1 - fit.full_fpr:.0%} quantile, "
                f"half = their {1 - fit.half_fpr:.0%} quantile",
                "negatives": fit.negatives,
                "fitted_on": source,
            },
        },
    )
