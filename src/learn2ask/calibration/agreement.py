"""Agreement between a grader and human labels on the R_a scale {0, 0.5, 1}.

Weighted Cohen's kappa with LINEAR weights (a 0 vs 0.5 disagreement costs half of a 0 vs 1 one),
exact accuracy, and a percentile bootstrap confidence interval over labelled pairs (seeded, so a
rerun prints the same figures). Grading failures are not agreement: pairs the grader could not
score are left out of kappa and counted in ``failures``; ``coverage`` says what share was scored.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import asdict, dataclass
from typing import Any

SCALE: tuple[float, ...] = (0.0, 0.5, 1.0)


def _category(value: float) -> int:
    """Index of a score on the R_a scale; ``ValueError`` for anything else."""
    for index, point in enumerate(SCALE):
        if abs(value - point) < 1e-9:
            return index
    raise ValueError(f"score {value} is not on the R_a scale {SCALE}")


def weighted_kappa(human: list[float], grader: list[float]) -> float:
    """Linearly weighted Cohen's kappa; NaN when chance agreement is already perfect."""
    if len(human) != len(grader):
        raise ValueError("human and grader lists differ in length")
    n, k = len(human), len(SCALE)
    if n == 0:
        return math.nan
    observed = [[0.0] * k for _ in range(k)]
    for h, g in zip(human, grader, strict=True):
        observed[_category(h)][_category(g)] += 1.0 / n
    rows = [sum(observed[i]) for i in range(k)]
    cols = [sum(observed[i][j] for i in range(k)) for j in range(k)]
    weight = [[1.0 - abs(i - j) / (k - 1) for j in range(k)] for i in range(k)]
    p_o = sum(weight[i][j] * observed[i][j] for i in range(k) for j in range(k))
    p_e = sum(weight[i][j] * rows[i] * cols[j] for i in range(k) for j in range(k))
    if p_e >= 1.0 - 1e-12:
        return math.nan
    return (p_o - p_e) / (1.0 - p_e)


def accuracy(human: list[float], grader: list[float]) -> float:
    """Share of pairs where the grader gives exactly the human label."""
    if not human:
        return math.nan
    return sum(abs(h - g) < 1e-9 for h, g in zip(human, grader, strict=True)) / len(human)


@dataclass(frozen=True)
class AgreementFigure:
    """Agreement of one grader setting with the labels of one split."""

    kappa: float | None
    kappa_ci: tuple[float, float] | None
    accuracy: float | None
    n: int
    failures: int
    bootstrap: int
    ci_level: float

    @property
    def coverage(self) -> float:
        """Share of labelled pairs the grader scored."""
        total = self.n + self.failures
        return self.n / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON form, rounded to 4 places (grader files and reports)."""
        data = asdict(self)
        data["kappa"] = _round(self.kappa)
        data["accuracy"] = _round(self.accuracy)
        data["kappa_ci"] = [_round(x) for x in self.kappa_ci] if self.kappa_ci else None
        data["coverage"] = round(self.coverage, 4)
        return data

    def text(self) -> str:
        """One line: ``kappa 0.612 [0.48, 0.73] acc 0.78 (n=90, 2 failures)``."""
        if self.kappa is None:
            return f"kappa n/a (n={self.n}, {self.failures} failures)"
        low, high = self.kappa_ci or (math.nan, math.nan)
        acc = f"{self.accuracy:.3f}" if self.accuracy is not None else "n/a"
        return (
            f"kappa {self.kappa:.3f} [{low:.3f}, {high:.3f}] acc {acc} "
            f"(n={self.n}, {self.failures} failures)"
        )


def _round(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 4)


def _percentile(ordered: list[float], q: float) -> float:
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def bootstrap_kappa_ci(
    human: list[float], grader: list[float], resamples: int, level: float, seed: int
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the weighted kappa; None when it cannot be formed."""
    rng = random.Random(seed)
    n = len(human)
    values = []
    for _ in range(resamples):
        picks = [rng.randrange(n) for _ in range(n)]
        value = weighted_kappa([human[i] for i in picks], [grader[i] for i in picks])
        if not math.isnan(value):
            values.append(value)
    if len(values) < max(10, resamples // 2):
        return None
    values.sort()
    tail = (1.0 - level) / 2
    return _percentile(values, tail), _percentile(values, 1.0 - tail)


def measure_agreement(
    human: list[float],
    grader: list[float | None],
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> AgreementFigure:
    """Kappa, its bootstrap CI and accuracy of ``grader`` against ``human`` (None = failure)."""
    pairs = [(h, g) for h, g in zip(human, grader, strict=True) if g is not None]
    failures = len(human) - len(pairs)
    if not pairs:
        return AgreementFigure(None, None, None, 0, failures, resamples, level)
    h_list = [h for h, _ in pairs]
    g_list = [g for _, g in pairs]
    kappa = weighted_kappa(h_list, g_list)
    ci = bootstrap_kappa_ci(h_list, g_list, resamples, level, seed)
    return AgreementFigure(
        kappa=None if math.isnan(kappa) else kappa,
        kappa_ci=ci,
        accuracy=accuracy(h_list, g_list),
        n=len(pairs),
        failures=failures,
        bootstrap=resamples,
        ci_level=level,
    )


def in_held_out(group: str, held_out_fraction: float, salt: str = "learn2ask-calibration") -> bool:
    """Deterministic split by group (a dialogue id): the same group always lands on one side."""
    digest = hashlib.sha256(f"{salt}:{group}".encode()).hexdigest()
    return int(digest[:8], 16) / 0xFFFFFFFF < held_out_fraction
