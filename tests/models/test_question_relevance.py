"""``learn2ask question-relevance`` counts what a memory asks at labelled contexts: relevant,
not, unlabelled, and the paired difference between two settings, per label set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from learn2ask.cli import main
from learn2ask.data.types import Turn
from learn2ask.errors import InputError
from learn2ask.evaluation.relevance import choices, load_labels, scored, summary
from learn2ask.models.question_memory import QuestionMemory, QuestionMemorySettings
from tests.models.test_question_memory import KNEE_POINTS, PRESS, SWELL

pytestmark = pytest.mark.slow
# The developer's labelled typed intakes, kept in the repository (not in the package).
LABELS = Path(__file__).resolve().parents[2] / "benchmarks/results/relevance_labelled/labels.json"


def test_the_bundled_labels_load_and_name_their_contexts():
    contexts, labels = load_labels(LABELS)
    assert len(contexts) == 292 and len(labels) == 1132
    assert {c["set"] for c in contexts} == {"choose", "confirm", "fresh", "recheck"}
    assert {context for context, _ in labels} == {c["id"] for c in contexts}
    assert set(labels.values()) == {0, 1}


def test_relevant_unlabelled_and_the_paired_difference(tmp_path):
    from learn2ask.rewards.graders.embedding import EmbeddingGrader

    fall = [["user", "I hurt my knee in a fall."]]
    data = {
        "context_turns": [
            {"id": 0, "set": "choose", "conversation": "a", "step": 0, "turns": fall},
            {"id": 1, "set": "confirm", "conversation": "b", "step": 0, "turns": fall},
        ],
        "labels": [
            {"context": 0, "question": PRESS, "relevant": 0},
            {"context": 0, "question": SWELL, "relevant": 1},
            {"context": 1, "question": SWELL, "relevant": 1},
        ],
    }
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(data))
    contexts, labels = load_labels(path)
    memory = QuestionMemory.build(
        KNEE_POINTS, QuestionMemorySettings(neighbours=3), EmbeddingGrader()
    )
    asked = choices(memory, contexts)
    assert asked == [PRESS, PRESS]  # the press test has the votes
    plain = scored(contexts, asked, labels)
    assert plain == [0, None]  # context 1 never had the press test labelled
    memory.block([PRESS])
    blocked = scored(contexts, choices(memory, contexts), labels)
    assert blocked == [1, 1]
    table = summary(contexts, blocked, plain)
    assert table["choose"] == {
        "contexts": 1,
        "relevant": 1,
        "unlabelled": 0,
        "share": 1.0,
        "difference": table["choose"]["difference"],
    }
    assert table["all"]["relevant"] == 2 and table["all"]["difference"]["mean"] == 1.0
    assert summary(contexts, plain, None)["confirm"]["unlabelled"] == 1


def test_the_command_scores_a_run_at_each_setting(model_with_memory, tmp_path, capsys):
    model, memory = model_with_memory
    turns = [["user", "I have had a cough for a week."]]
    asked = memory.choose([[Turn(*t) for t in turns]])[0]
    data = {
        "context_turns": [
            {"id": 0, "set": "served", "conversation": "a", "step": 0, "turns": turns}
        ],
        "labels": [{"context": 0, "question": asked, "relevant": 1}],
    }
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(data))
    out = tmp_path / "out"
    argv = ["question-relevance", "--policy", str(model), "--labels", str(path), "--out", str(out)]
    assert main([*argv, "--anchor-weight", "0", "--likelihood-weight", "0", "0.5"]) == 0
    rows = json.loads((out / "relevance_labels.json").read_text())["rows"]
    assert [(r["anchor_weight"], r["likelihood_weight"]) for r in rows] == [(0.0, 0.0), (0.0, 0.5)]
    assert rows[0]["served"]["relevant"] == 1  # the vote's own choice was labelled on the point
    assert "likelihood_weight 0.5" in capsys.readouterr().out


def test_a_bad_labels_file_is_one_line_before_any_model_loads(tmp_path, capsys):
    broken = tmp_path / "labels.json"
    broken.write_text('{"labels": [\n  {"context": 0,\n}')
    with pytest.raises(InputError, match=r"labels.json:3: not valid JSON"):
        load_labels(broken)
    # No such run either: the labels are read first, so their error is the one shown.
    argv = ["question-relevance", "--policy", str(tmp_path / "no-run"), "--labels", str(broken)]
    assert main(argv) == 2
    assert "labels.json:3: not valid JSON" in capsys.readouterr().err
    broken.write_text('{"labels": [{"context": 0}]}')
    with pytest.raises(InputError, match="expected {context_turns"):
        load_labels(broken)
    broken.write_text('{"context_turns": [{"id": 0, "turns": []}], "labels": []}')
    with pytest.raises(InputError, match=r"context_turns\[0\] lacks set, conversation"):
        load_labels(broken)
