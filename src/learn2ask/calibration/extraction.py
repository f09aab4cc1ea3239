"""How well the offline ``qa`` extractor keeps only information-seeking I* items, against labels.

Each extraction label is one answered expert turn (or one I* item from the labelling page) with
a person's verdict: does it elicit information (``info_seeking``)? The extractor "keeps" a turn
when it yields an item for it. Precision = kept turns that are information-seeking / kept turns;
recall = kept information-seeking turns / information-seeking turns; both with a bootstrap CI.
"Before" is the v1 rule set (pleasantries only), "after" the current default rules.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learn2ask.calibration.labels import ExtractionLabel, load_extraction_labels
from learn2ask.targets.qa import V1_CONFIG, QAExtractor


@dataclass(frozen=True)
class KeepFigure:
    """Precision and recall of kept items, with bootstrap CIs."""

    precision: float
    recall: float
    precision_ci: tuple[float, float]
    recall_ci: tuple[float, float]
    kept: int
    labels: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form, rounded."""
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "precision_ci": [round(x, 4) for x in self.precision_ci],
            "recall_ci": [round(x, 4) for x in self.recall_ci],
            "kept": self.kept,
            "labels": self.labels,
        }

    def text(self) -> str:
        """One line for the report."""
        p_low, p_high = self.precision_ci
        r_low, r_high = self.recall_ci
        return (
            f"precision {self.precision:.3f} [{p_low:.3f}, {p_high:.3f}] "
            f"recall {self.recall:.3f} [{r_low:.3f}, {r_high:.3f}] "
            f"(kept {self.kept} of {self.labels} labelled turns)"
        )


def _precision_recall(pairs: list[tuple[bool, bool]]) -> tuple[float, float]:
    kept = [truth for truth, keep in pairs if keep]
    positives = [keep for truth, keep in pairs if truth]
    precision = sum(kept) / len(kept) if kept else 0.0
    recall = sum(positives) / len(positives) if positives else 0.0
    return precision, recall


def keep_figure(pairs: list[tuple[bool, bool]], resamples: int, seed: int) -> KeepFigure:
    """Precision/recall of ``(info_seeking, kept)`` pairs with percentile bootstrap CIs."""
    precision, recall = _precision_recall(pairs)
    rng = random.Random(seed)
    draws = [
        _precision_recall([pairs[rng.randrange(len(pairs))] for _ in pairs])
        for _ in range(resamples)
    ]

    def interval(values: list[float]) -> tuple[float, float]:
        ordered = sorted(values)
        return ordered[int(0.025 * (len(ordered) - 1))], ordered[int(0.975 * (len(ordered) - 1))]

    return KeepFigure(
        precision=precision,
        recall=recall,
        precision_ci=interval([p for p, _ in draws]),
        recall_ci=interval([r for _, r in draws]),
        kept=sum(keep for _, keep in pairs),
        labels=len(pairs),
    )


def kept_pairs(extractor: QAExtractor, labels: list[ExtractionLabel]) -> list[tuple[bool, bool]]:
    """``(info_seeking, kept)`` for each labelled turn."""
    return [(x.info_seeking, extractor.questions_in(x.text) is not None) for x in labels]


def calibrate_qa_extractor(path: Path, resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Before/after figures of the qa rules on extraction labels, as report lines and a file."""
    labels = load_extraction_labels(path)
    before = keep_figure(
        kept_pairs(QAExtractor(V1_CONFIG), labels),
        resamples,
        seed,
    )
    after = keep_figure(kept_pairs(QAExtractor(), labels), resamples, seed)
    positives = sum(x.info_seeking for x in labels)
    lines = [
        f"qa extractor, {len(labels)} labelled turns ({positives} information-seeking):",
        f"  before (v1 rules):      {before.text()}",
        f"  after (current rules):  {after.text()}",
    ]
    return {
        "lines": lines,
        "file": {
            "extractor": "qa",
            "labels_file": str(path),
            "labels": len(labels),
            "information_seeking": positives,
            "before": before.to_dict(),
            "after": after.to_dict(),
        },
    }
