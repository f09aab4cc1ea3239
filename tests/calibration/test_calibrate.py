"""``learn2ask calibrate``: thresholds fitted from data and from human labels."""

from __future__ import annotations

import json

from learn2ask.cli import main
from learn2ask.data.samples import save_samples
from learn2ask.rewards.graders.embedding import EmbeddingGraderConfig
from tests.rewards.conftest import make_sample


def test_fit_to_human_labels_and_use_the_file(tmp_path):
    samples = [
        make_sample("a_0", ["When did the cough start?", "Do you have fever?"]),
        make_sample("b_0", ["Where exactly is the knee pain?", "Can you walk?"]),
    ]
    save_samples(tmp_path / "s.jsonl", samples)
    labels = [
        {"id": "a_0", "question": "How long have you been coughing?", "label": 1},
        {"id": "a_0", "question": "Is your temperature high?", "label": 1},
        {"id": "a_0", "question": "What is your favourite colour?", "label": 0},
        {"id": "b_0", "question": "Which part of the knee hurts?", "label": 1},
        {"id": "b_0", "question": "Any allergies to medicine?", "label": 0},
    ]
    (tmp_path / "labels.jsonl").write_text("".join(json.dumps(x) + "\n" for x in labels))
    out = tmp_path / "grader.json"
    assert (
        main(
            [
                "calibrate",
                str(tmp_path / "s.jsonl"),
                "--labels",
                str(tmp_path / "labels.jsonl"),
                "--out",
                str(out),
                "--version",
                "t1",
            ]
        )
        == 0
    )
    config = EmbeddingGraderConfig.load(out)
    assert config.version == "t1" and config.half_threshold <= config.full_threshold
    assert (
        main(
            [
                "grade",
                str(tmp_path / "s.jsonl"),
                "--responses",
                "expert",
                "--out",
                str(tmp_path / "g"),
                "--grader-file",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "g" / "summary.json").read_text())["grader"] == "embedding:t1"


def test_bad_label_line(tmp_path, capsys):
    save_samples(tmp_path / "s.jsonl", [make_sample("a_0", ["Why?"])])
    (tmp_path / "l.jsonl").write_text('{"id": "a_0", "question": "x", "label": 3}\n')
    assert (
        main(
            [
                "calibrate",
                str(tmp_path / "s.jsonl"),
                "--labels",
                str(tmp_path / "l.jsonl"),
                "--out",
                str(tmp_path / "g.json"),
            ]
        )
        == 2
    )
    assert "l.jsonl:1:" in capsys.readouterr().err
