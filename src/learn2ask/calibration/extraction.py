"""How well the offline ``qa`` extractor keeps only information-seeking I* items, against labels.

Each extraction label is one answered expert turn (or one I* item from the labelling page) with
a person's verdict: does it elicit information (``info_seeking``)? The extractor "keeps" a turn
when it yields an item for it. Precision = kept turns that are information-seeking / kept turns;
recall = kept information-seeking turns / information-seeking turns; both with a bootstrap CI.
"Before" is the v1 rule set (pleasantries only), "after" the current default rules.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learn2ask.calibration.labels import ExtractionLabel, extraction_rows, load_extraction_labels
from learn2ask.data.types import InfoItem, Sample
from learn2ask.models.client import ClientConfig
from learn2ask.targets.base import ExtractionFailure
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


# --- the LLM extractor: prompt variants scored by item precision/recall against labels ---

EXTRACTOR_VARIANTS: dict[str, str] = {
    "base": "",
    "no-closers": (
        "Never list closers ('anything else?', 'any questions?'), repairs ('could you repeat "
        "that?'), confirmations ('is that right?', '..., okay?'), exam announcements, or "
        "appointment and scheduling talk: they ask for no information."
    ),
    "quote-question": (
        "For every item, copy the expert's question word for word into 'question'; list one "
        "item per question the user answers."
    ),
}
MATCH_JACCARD = 0.5


@dataclass(frozen=True)
class ExtractionPoint:
    """A labelled decision point: the I* items a person judged right (plus those they said were
    missing) and those they judged wrong."""

    sample: Sample
    positives: tuple[str, ...]
    negatives: tuple[str, ...]


def load_extraction_points(path: Path) -> list[ExtractionPoint]:
    """Extraction cards with their sample (the labelling page's export, or the fixture)."""
    from learn2ask.errors import InputError
    from learn2ask.io import iter_jsonl

    points = []
    for number, obj in iter_jsonl(path):
        if not isinstance(obj, dict) or obj.get("kind") != "extraction":
            continue
        if not isinstance(obj.get("sample"), dict):
            raise InputError(path, "extraction labels need the embedded 'sample'", line=number)
        rows = extraction_rows(obj, path, number)
        points.append(
            ExtractionPoint(
                Sample.from_dict(obj["sample"]),
                tuple(x.text for x in rows if x.info_seeking),
                tuple(x.text for x in rows if not x.info_seeking),
            )
        )
    if not points:
        raise InputError(path, "no extraction cards with samples in file")
    return points


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def matches(extracted: str, labelled: str) -> bool:
    """Same item: one text contains the other, or their word sets overlap by half or more."""
    a, b = _tokens(extracted), _tokens(labelled)
    if not a or not b:
        return False
    return a <= b or b <= a or len(a & b) / len(a | b) >= MATCH_JACCARD


def item_scores(
    points: list[ExtractionPoint], results: list[list[InfoItem] | ExtractionFailure]
) -> dict[str, Any]:
    """Item precision (extracted items matching a right/missing item) and recall (right/missing
    items some extracted item matches); failed extractions are counted, not scored."""
    kept = hits = found = positives = failures = 0
    for point, items in zip(points, results, strict=True):
        if isinstance(items, ExtractionFailure):
            failures += 1
            continue
        texts = [i.question or i.text for i in items]
        kept += len(texts)
        hits += sum(any(matches(t, p) for p in point.positives) for t in texts)
        positives += len(point.positives)
        found += sum(any(matches(t, p) for t in texts) for p in point.positives)
    precision = hits / kept if kept else None
    recall = found / positives if positives else None
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall > 0
        else None
    )
    return {
        "precision": None if precision is None else round(precision, 4),
        "recall": None if recall is None else round(recall, 4),
        "f1": None if f1 is None else round(f1, 4),
        "extracted_items": kept,
        "labelled_items": positives,
        "points": len(points),
        "failures": failures,
    }


def _run_extractor(
    points: list[ExtractionPoint], client: ClientConfig, work_dir: Path, instructions: str
) -> list[list[InfoItem] | ExtractionFailure]:
    from learn2ask.targets.llm import LLMExtractor, LLMExtractorConfig

    extractor = LLMExtractor(
        LLMExtractorConfig(
            client=client, cache_dir=work_dir / "extract-cache", instructions=instructions
        )
    )
    return extractor.extract([(p.sample.context, p.sample.future) for p in points])


def calibrate_llm_extractor(
    path: Path, client: ClientConfig, work_dir: Path, held_out: float, max_variants: int
) -> dict[str, Any]:
    """Score extraction prompt variants by item F1 on the calibration dialogues, keep the best,
    report precision/recall of the base prompt and the best on the held-out dialogues."""
    from learn2ask.calibration.agreement import in_held_out
    from learn2ask.calibration.autoprompt import StepLog
    from learn2ask.errors import ConfigError

    points = load_extraction_points(path)
    held = [p for p in points if in_held_out(p.sample.dialogue_id, held_out)]
    calibration = [p for p in points if not in_held_out(p.sample.dialogue_id, held_out)]
    if not held or not calibration:
        if len(points) < 2:
            raise ConfigError(f"{path}: need extraction labels from at least two dialogues")
        calibration, held = points[: len(points) // 2], points[len(points) // 2 :]
    log = StepLog(work_dir)
    variants = list(EXTRACTOR_VARIANTS.items())[: max(1, max_variants)]
    scored = []
    for name, text in variants:
        scores = item_scores(calibration, _run_extractor(calibration, client, work_dir, text))
        log.add("extractor-score", variant=name, split="calibration", scores=scores)
        scored.append((scores, name, text))
    best_scores, best_name, best_text = max(scored, key=lambda x: x[0]["f1"] or -1.0)
    before = item_scores(held, _run_extractor(held, client, work_dir, variants[0][1]))
    after = item_scores(held, _run_extractor(held, client, work_dir, best_text))
    log.add("extractor-keep", variant=best_name, held_out_before=before, held_out_after=after)
    lines = [
        f"llm extractor, {len(held)} held-out labelled points (item match: containment or "
        f"word overlap >= {MATCH_JACCARD}):",
        f"  before ({variants[0][0]}): {_scores_text(before)}",
        f"  after ({best_name}): {_scores_text(after)}",
    ]
    return {
        "lines": lines,
        "file": {
            "kind": "llm-extractor",
            "model": client.model,
            "temperature": 0.0,
            "prompt": {"name": best_name, "instructions": best_text},
            "labels_file": str(path),
            "points": len(points),
            "calibration_points": len(calibration),
            "held_out_points": len(held),
            "before": before,
            "after": after,
            "variants": [{"name": n, "calibration": s} for s, n, _ in scored],
        },
    }


def _scores_text(scores: dict[str, Any]) -> str:
    def show(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    return (
        f"precision {show(scores['precision'])} recall {show(scores['recall'])} "
        f"({scores['extracted_items']} items extracted, {scores['failures']} failed points)"
    )
