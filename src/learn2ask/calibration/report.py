"""Agreement figures in grader files, the printed report, and the "no agreement figure" warning.

A calibrated grader file carries ``"agreement"``: the weighted kappa (with a bootstrap CI) and
accuracy of the grader BEFORE calibration (bundled thresholds or rubric prompt) and AFTER it,
both measured on the held-out split of the human labels, plus how many labels were used.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from learn2ask.calibration.agreement import AgreementFigure

LOG = "learn2ask.calibration"


def agreement_block(
    before: AgreementFigure,
    after: AgreementFigure,
    labels: int,
    calibration: int,
    held_out: int,
    source: str,
) -> dict[str, Any]:
    """The ``agreement`` object written into a grader file."""
    return {
        "metric": "linearly weighted Cohen's kappa on {0, 0.5, 1}, percentile bootstrap CI",
        "split": "held-out dialogues of the labels (never used for fitting)",
        "labels": labels,
        "calibration_labels": calibration,
        "held_out_labels": held_out,
        "labels_file": source,
        "before": before.to_dict(),
        "after": after.to_dict(),
    }


def report_lines(grader: str, before: AgreementFigure, after: AgreementFigure) -> list[str]:
    """The human-readable before/after lines of one grader."""
    return [
        f"{grader} grader, held-out labels:",
        f"  before calibration: {before.text()}",
        f"  after calibration:  {after.text()}",
    ]


def agreement_of_file(path: str | Path) -> dict[str, Any] | None:
    """The ``agreement`` block of a grader file, or None when it has none (or is unreadable)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    block = data.get("agreement") if isinstance(data, dict) else None
    if not isinstance(block, dict) or not isinstance(block.get("after"), dict):
        return None
    return block if block["after"].get("kappa") is not None else None


def warn_if_no_agreement(path: str | Path | None, grader: str = "embedding") -> str | None:
    """Log (and return) a warning when a grader file records no agreement with human labels.

    ``path`` None means the bundled file of ``grader`` (the embedding grader's); the LLM grader
    without a grader file runs the uncalibrated rubric prompt, which has no figure either.
    """
    if path is None and grader == "embedding":
        from importlib.resources import files

        from learn2ask.rewards.graders.embedding import DEFAULT_GRADER_FILE

        path = Path(str(files("learn2ask").joinpath(DEFAULT_GRADER_FILE)))
    if path is not None and agreement_of_file(path) is not None:
        return None
    where = f"grader file {path}" if path is not None else f"the uncalibrated {grader} grader"
    message = (
        f"{where} records no agreement with human labels (kappa); its R_a is unverified. "
        "Label a few questions (learn2ask label) and run learn2ask calibrate --labels ... --report"
    )
    logging.getLogger(LOG).warning(message)
    return message
