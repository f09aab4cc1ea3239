"""Human labels: reading, validating and splitting them.

Two kinds of label files (JSONL), both written by ``learn2ask label`` (its export) or by hand:

* grade labels ``{"id", "question", "label": 0|0.5|1}``, optionally with the whole ``"sample"``
  embedded (then no samples file is needed);
* extraction labels ``{"text": <expert turn>, "info_seeking": bool}``, or the labelling page's
  extraction cards ``{"kind": "extraction", "items": [{"text", "verdict": "right"|"wrong"}],
  "missing": [str]}`` (right and missing items are information-seeking, wrong ones are not).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learn2ask.calibration.agreement import in_held_out
from learn2ask.calibration.embedding import LabelledQuestion
from learn2ask.data.types import Sample
from learn2ask.errors import InputError
from learn2ask.io import iter_jsonl

GRADE_VALUES: tuple[float, ...] = (0, 0.5, 1)


def _sample_of(obj: dict[str, Any], samples: dict[str, Sample], path: Path, line: int) -> Sample:
    """The sample a label refers to: embedded, or looked up by id."""
    if isinstance(obj.get("sample"), dict):
        try:
            return Sample.from_dict(obj["sample"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(path, f"embedded sample is not valid ({exc})", line=line) from None
    if obj.get("id") not in samples:
        hint = "" if samples else " (give the samples file, or embed 'sample' in each label)"
        raise InputError(path, f"unknown sample id {obj.get('id')!r}{hint}", line=line)
    return samples[obj["id"]]


def load_grade_labels(path: Path, samples: dict[str, Sample]) -> list[LabelledQuestion]:
    """Read grade labels (skips the page's extraction cards); validates ids and values."""
    labelled = []
    for number, obj in iter_jsonl(path):
        if not isinstance(obj, dict):
            raise InputError(path, "expected a JSON object", line=number)
        if obj.get("kind", "grade") != "grade":
            continue
        if obj.get("label") not in GRADE_VALUES or not isinstance(obj.get("question"), str):
            raise InputError(path, "need 'question' (str) and 'label' in {0, 0.5, 1}", line=number)
        sample = _sample_of(obj, samples, path, number)
        labelled.append(LabelledQuestion(sample, obj["question"], float(obj["label"])))
    if not labelled:
        raise InputError(path, "no grade labels in file")
    return labelled


def split_labels(
    labelled: list[LabelledQuestion], held_out_fraction: float
) -> tuple[list[LabelledQuestion], list[LabelledQuestion]]:
    """(calibration, held-out) split BY DIALOGUE, so no dialogue informs both sides."""
    if not 0.0 < held_out_fraction < 1.0:
        raise ValueError(f"held-out fraction must be in (0, 1), got {held_out_fraction}")
    held = [x for x in labelled if in_held_out(x.sample.dialogue_id, held_out_fraction)]
    calibration = [x for x in labelled if not in_held_out(x.sample.dialogue_id, held_out_fraction)]
    if held and calibration:
        return calibration, held
    dialogues = sorted({x.sample.dialogue_id for x in labelled})
    if len(dialogues) < 2:
        raise ValueError("labels from at least two dialogues are needed for a held-out split")
    held_ids = set(dialogues[: max(1, round(len(dialogues) * held_out_fraction))])
    return (
        [x for x in labelled if x.sample.dialogue_id not in held_ids],
        [x for x in labelled if x.sample.dialogue_id in held_ids],
    )


@dataclass(frozen=True)
class ExtractionLabel:
    """A person's verdict on one candidate I* item: is it information the expert elicits?"""

    text: str
    info_seeking: bool
    dialogue_id: str = ""


def extraction_rows(obj: dict[str, Any], path: Path, line: int) -> list[ExtractionLabel]:
    """The item verdicts of one label line (either form; other kinds give none)."""
    dialogue = str(obj.get("dialogue_id", obj.get("id", "")))
    if obj.get("kind") == "extraction":
        rows = []
        for item in obj.get("items", []):
            text, verdict = item.get("text"), item.get("verdict")
            if verdict not in ("right", "wrong") or not isinstance(text, str):
                raise InputError(path, "items need 'text' and 'verdict' right|wrong", line=line)
            rows.append(ExtractionLabel(item["text"], item["verdict"] == "right", dialogue))
        rows.extend(ExtractionLabel(str(m), True, dialogue) for m in obj.get("missing", []) if m)
        return rows
    if obj.get("kind", "extraction-item") != "extraction-item":
        return []
    if not isinstance(obj.get("text"), str) or not isinstance(obj.get("info_seeking"), bool):
        raise InputError(path, "need 'text' (str) and 'info_seeking' (bool)", line=line)
    return [ExtractionLabel(obj["text"], obj["info_seeking"], dialogue)]


def load_extraction_labels(path: Path) -> list[ExtractionLabel]:
    """Read extraction labels in either form (see the module docstring)."""
    labels: list[ExtractionLabel] = []
    for number, obj in iter_jsonl(path):
        if not isinstance(obj, dict):
            raise InputError(path, "expected a JSON object", line=number)
        labels.extend(extraction_rows(obj, path, number))
    if not labels:
        raise InputError(path, "no extraction labels in file")
    return labels
