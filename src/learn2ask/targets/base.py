"""The extractor interface (defined in :mod:`learn2ask.data.extraction`, re-exported here)."""

from __future__ import annotations

from learn2ask.data.extraction import ExtractionFailure, Extractor, decision_from_items
from learn2ask.data.replies import reference_reply

__all__ = ["ExtractionFailure", "Extractor", "decision_from_items", "reference_reply"]
