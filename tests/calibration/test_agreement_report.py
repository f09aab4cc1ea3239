"""Weighted kappa, bootstrap CIs, the --report of calibrate, and the missing-agreement warning."""

from __future__ import annotations

import json
import logging
import math
import random
from pathlib import Path

import pytest

from learn2ask.calibration.agreement import measure_agreement, weighted_kappa
from learn2ask.calibration.report import agreement_of_file, warn_if_no_agreement
from learn2ask.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SAMPLES = FIXTURES / "grader_samples.jsonl"
LABELS = FIXTURES / "grader_labels.jsonl"


def test_weighted_kappa_matches_sklearn():
    from sklearn.metrics import cohen_kappa_score

    rng = random.Random(3)
    for _ in range(20):
        human = [rng.choice((0.0, 0.5, 1.0)) for _ in range(40)]
        grader = [h if rng.random() < 0.6 else rng.choice((0.0, 0.5, 1.0)) for h in human]
        expected = cohen_kappa_score(
            [int(h * 2) for h in human], [int(g * 2) for g in grader], weights="linear"
        )
        assert weighted_kappa(human, grader) == pytest.approx(expected)


def test_failures_are_counted_not_agreement():
    figure = measure_agreement([1.0, 0.0, 0.5, 1.0, 0.0, 1.0], [1.0, 0.0, None, 1.0, 0.0, 0.0])
    assert figure.n == 5 and figure.failures == 1 and figure.coverage == pytest.approx(5 / 6)
    low, high = figure.kappa_ci
    assert low <= figure.kappa <= high
    assert math.isnan(weighted_kappa([1.0, 1.0], [1.0, 1.0]))  # chance agreement is perfect
    nothing = measure_agreement([1.0, 0.0], [None, None])
    assert nothing.kappa is None and "n/a" in nothing.text()


def test_embedding_report_before_after_with_cis(tmp_path, capsys):
    out = tmp_path / "grader.json"
    args = ["calibrate", str(SAMPLES), "--labels", str(LABELS), "--report", "--out", str(out)]
    assert main([*args, "--bootstrap", "300"]) == 0
    printed = capsys.readouterr().out
    assert "before calibration: kappa" in printed and "after calibration:  kappa" in printed
    block = json.loads(out.read_text())["agreement"]
    assert block["labels"] == block["calibration_labels"] + block["held_out_labels"]
    for side in ("before", "after"):
        low, high = block[side]["kappa_ci"]
        assert low <= block[side]["kappa"] <= high and block[side]["n"] == block["held_out_labels"]
    assert agreement_of_file(out) == block and warn_if_no_agreement(out) is None


def test_report_needs_labels(tmp_path, capsys):
    code = main(["calibrate", str(SAMPLES), "--report", "--out", str(tmp_path / "g.json")])
    assert code == 2 and "--report needs --labels" in capsys.readouterr().err


def test_bundled_grader_file_records_its_fixture_agreement():
    """The figure in embedding-v1.json is what the fixture gives today (never a stale number)."""
    from learn2ask.calibration.embedding import threshold_agreement
    from learn2ask.calibration.labels import load_grade_labels
    from learn2ask.data.samples import load_samples
    from learn2ask.rewards.graders.embedding import DEFAULT_GRADER_FILE, EmbeddingGrader

    grader = EmbeddingGrader()
    labelled = load_grade_labels(LABELS, {s.id: s for s in load_samples(SAMPLES)})
    figure = threshold_agreement(
        grader, labelled, grader.config.full_threshold, grader.config.half_threshold
    )
    from importlib.resources import files

    recorded = agreement_of_file(Path(str(files("learn2ask").joinpath(DEFAULT_GRADER_FILE))))
    assert recorded["after"] == figure.to_dict() and recorded["labels"] == len(labelled)
    assert warn_if_no_agreement(None, "embedding") is None


def test_grade_warns_when_the_grader_file_has_no_agreement(tmp_path, caplog):
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"version": "p", "thresholds": {"full": 0.7, "half": 0.4}}))
    with caplog.at_level(logging.WARNING, logger="learn2ask.calibration"):
        code = main(
            [
                "grade",
                str(SAMPLES),
                "--responses",
                "expert",
                "--out",
                str(tmp_path / "g"),
                "--grader-file",
                str(plain),
            ]
        )
    assert code == 0
    assert any("records no agreement" in r.getMessage() for r in caplog.records)
    assert warn_if_no_agreement(None, "llm") is not None  # the uncalibrated rubric prompt


def test_qa_rules_against_extraction_labels(tmp_path, capsys):
    out = tmp_path / "qa.json"
    labels = FIXTURES / "extraction_labels.jsonl"
    assert main(["calibrate", "--extractor", "qa", "--labels", str(labels), "--out", str(out)]) == 0
    assert "precision" in capsys.readouterr().out
    data = json.loads(out.read_text())
    # closers, repairs, checks and scheduling are dropped: precision rises, recall holds
    assert data["after"]["precision"] > data["before"]["precision"]
    assert data["after"]["recall"] >= data["before"]["recall"]
    assert data["labels"] == len(labels.read_text().splitlines())
