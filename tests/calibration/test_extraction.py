"""Item matching and precision/recall of extracted I* against extraction labels."""

from __future__ import annotations

from learn2ask.calibration.extraction import ExtractionPoint, item_scores, matches
from learn2ask.data.types import InfoItem, Sample, Turn
from learn2ask.targets.base import ExtractionFailure


def point(positives: tuple[str, ...], negatives: tuple[str, ...] = ()) -> ExtractionPoint:
    sample = Sample("d_0", "d", 0, [Turn("user", "hi")], [], [], "stop")
    return ExtractionPoint(sample, positives, negatives)


def test_matching_is_containment_or_word_overlap():
    assert matches("When did the pain start?", "So, when did the pain start?")
    assert matches("pain started when", "When did the pain start?") is False
    assert not matches("Do you smoke?", "Any allergies to medicine?")
    assert not matches("", "Do you smoke?")


def test_precision_recall_and_counted_failures():
    points = [point(("When did it start?", "Do you smoke?"), ("Anything else?",)), point(("X?",))]
    results = [
        [InfoItem("duration: 2 days", question="When did it start?"), InfoItem("other: anything")],
        ExtractionFailure("invalid reply"),
    ]
    scores = item_scores(points, results)
    assert scores["precision"] == 0.5 and scores["recall"] == 0.5
    assert scores["failures"] == 1 and scores["extracted_items"] == 2
    assert scores["labelled_items"] == 2  # the failed point is counted, not scored
