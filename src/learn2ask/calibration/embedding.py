"""Fit the embedding grader's thresholds from data (no human labels needed).

Negatives are questions the expert asked in a DIFFERENT dialogue, compared with a sample's I*:
they target nothing the expert still wanted here. The ``full`` threshold is the similarity that
only ``full_fpr`` of those negatives reach (a question scoring R_a = 1 should almost never be an
unrelated one), the ``half`` threshold the one that ``half_fpr`` reach. Fitting uses the train
split only; the AUC on the test split is measured separately (benchmarks/bench_rewards.py).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learn2ask.calibration.agreement import AgreementFigure, measure_agreement, weighted_kappa
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


def other_dialogue_questions(samples: list[Sample], rng: random.Random) -> list[tuple[str, Sample]]:
    """Pair each CONTINUE sample with a question the expert asked in another dialogue."""
    pool = [(s.dialogue_id, s.items[0].text) for s in samples if s.items]
    pairs = []
    for sample in samples:
        if sample.decision != "continue" or not sample.info_set:
            continue
        # Draw only among other dialogues' questions: none left means no pair, never a loop.
        others = [question for dialogue_id, question in pool if dialogue_id != sample.dialogue_id]
        if others:
            pairs.append((rng.choice(others), sample))
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


def write_grader_file(
    path: str | Path,
    fit: ThresholdFit,
    version: str,
    source: str,
    agreement: dict[str, Any] | None = None,
) -> None:
    """Save a versioned embedding grader file with the fit's provenance (and agreement figures
    with human labels, when there are labels)."""
    data: dict[str, Any] = {
        "version": version,
        "model": "all-MiniLM-L6-v2",
        "thresholds": {"full": fit.full, "half": fit.half},
        "continuous": False,
        "provenance": {
            "method": "negatives = expert questions from other dialogues vs a sample's I*; "
            f"full = their {1 - fit.full_fpr:.0%} quantile, "
            f"half = their {1 - fit.half_fpr:.0%} quantile"
            if fit.negatives
            else "grid search of the thresholds with the best weighted kappa on the "
            "calibration split of human labels",
            "negatives": fit.negatives,
            "fitted_on": source,
        },
    }
    if agreement is not None:
        data["agreement"] = agreement
    write_json_atomic(path, data)


@dataclass(frozen=True)
class LabelledQuestion:
    """A human judgement of one question for one sample: 0, 0.5 or 1 (the R_a rubric)."""

    sample: Sample
    question: str
    label: float


def discrete_score(similarity: float | None, full: float, half: float) -> float | None:
    """R_a of a similarity under thresholds (None when there was nothing to compare with)."""
    if similarity is None:
        return None
    return 1.0 if similarity >= full else 0.5 if similarity >= half else 0.0


def agreement(
    grader: EmbeddingGrader,
    labelled: list[LabelledQuestion],
    full: float,
    half: float,
    similarities: list[float | None] | None = None,
) -> float:
    """Share of human labels the thresholds reproduce exactly."""
    sims = similarities or grader.similarities(
        [x.question for x in labelled], [x.sample for x in labelled]
    )
    hits = 0
    for item, sim in zip(labelled, sims, strict=True):
        predicted = discrete_score(sim, full, half)
        hits += (0.0 if predicted is None else predicted) == item.label
    return hits / len(labelled)


def _kappa_of(
    labelled: list[LabelledQuestion], sims: list[float | None], full: float, half: float
) -> float:
    """Weighted kappa of thresholds on labels (-1 when undefined, so it never wins a search)."""
    pairs = [(x.label, discrete_score(s, full, half)) for x, s in zip(labelled, sims, strict=True)]
    pairs = [(h, g) for h, g in pairs if g is not None]
    if not pairs:
        return -1.0
    value = weighted_kappa([h for h, _ in pairs], [g for _, g in pairs])
    return -1.0 if math.isnan(value) else value


def fit_thresholds_to_labels(
    grader: EmbeddingGrader,
    labelled: list[LabelledQuestion],
    step: float = 0.01,
    objective: str = "accuracy",
) -> tuple[ThresholdFit, float]:
    """Grid-search the thresholds that agree best with a few human labels.

    ``objective`` is ``accuracy`` (exact matches) or ``kappa`` (linearly weighted Cohen's kappa).
    Returns the fit and its score; ties prefer the stricter (higher) thresholds.
    """
    if not labelled:
        raise ValueError("no labelled questions")
    if objective not in ("accuracy", "kappa"):
        raise ValueError(f"unknown objective '{objective}'")
    sims = grader.similarities([x.question for x in labelled], [x.sample for x in labelled])
    grid = [round(i * step, 4) for i in range(int(1 / step) + 1)]
    best = (-2.0, 0.0, 0.0)
    for half in grid:
        for full in grid:
            if full < half:
                continue
            if objective == "kappa":
                score = _kappa_of(labelled, sims, full, half)
            else:
                score = agreement(grader, labelled, full, half, sims)
            if (score, full, half) > best:
                best = (score, full, half)
    score, full, half = best
    return ThresholdFit(full=full, half=half, negatives=0, full_fpr=0.0, half_fpr=0.0), score


def threshold_agreement(
    grader: EmbeddingGrader,
    labelled: list[LabelledQuestion],
    full: float,
    half: float,
    resamples: int = 1000,
    seed: int = 0,
) -> AgreementFigure:
    """Agreement (kappa with bootstrap CI, accuracy) of thresholds on labels."""
    sims = grader.similarities([x.question for x in labelled], [x.sample for x in labelled])
    predicted = [discrete_score(s, full, half) for s in sims]
    return measure_agreement([x.label for x in labelled], predicted, resamples=resamples, seed=seed)
