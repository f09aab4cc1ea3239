"""Components defined OUTSIDE the package, used by dotted path ``tests.test_plugins:NAME``:
a grader (by ``grade`` and ``train``), a reader and an extractor (by ``prepare``), a training
method (by ``train``); and the registries' "did you mean" on a typo."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from learn2ask.cli import main
from learn2ask.data.types import Dialogue, InfoItem, Sample, Turn
from learn2ask.errors import ConfigError
from learn2ask.plugins import GRADERS, Registry
from learn2ask.rewards.graders.base import GradeResult
from learn2ask.rewards.scorer import GraderConfig, build_scorer

HERE = "tests.test_plugins"


@dataclass
class KeywordGrader:
    """R_a = 1 when the question shares a word of 4+ letters with an item of I*, else 0."""

    config: GraderConfig
    version: str = "keywords-v1"
    built_with: ClassVar[list[GraderConfig]] = []
    questions_graded: ClassVar[list[str]] = []

    def __post_init__(self) -> None:
        KeywordGrader.built_with.append(self.config)

    def __call__(self, questions: list[str], samples: list[Sample]) -> list[GradeResult]:
        """One grade per (question, sample)."""
        KeywordGrader.questions_graded.extend(questions)
        return [GradeResult(self.score(q, s)) for q, s in zip(questions, samples, strict=True)]

    @staticmethod
    def score(question: str, sample: Sample) -> float:
        """1.0 when a long word of the question appears in I*."""
        words = {w.strip("?.,").lower() for w in question.split() if len(w) >= 4}
        items = " ".join(sample.info_set).lower()
        return 1.0 if any(w in items for w in words) else 0.0


def read_pipe_lines(path: Path, config: object):  # noqa: ANN201 - reader protocol
    """A reader for ``E|text`` / ``U|text`` lines, one dialogue per blank-line block."""
    blocks = [b for b in path.read_text(encoding="utf-8").split("\n\n") if b.strip()]
    for number, block in enumerate(blocks):
        turns = []
        for line in block.strip().splitlines():
            who, _, text = line.partition("|")
            turns.append(Turn("expert" if who == "E" else "user", text.strip()))
        yield Dialogue(id=f"{path.stem}-{number}", turns=turns, meta={"format": "pipe"})


@dataclass
class EveryQuestionExtractor:
    """I* = every later expert turn that ends with a question mark (no other rules)."""

    name: str = "every-question"

    def extract(self, points):  # noqa: ANN001, ANN201 - Extractor protocol
        """Items for each (context, future)."""
        return [
            [
                InfoItem(text=t.content, question=t.content)
                for t in future
                if t.role == "expert" and t.content.endswith("?")
            ]
            for _, future in points
        ]


def every_question_extractor(config: object) -> EveryQuestionExtractor:
    """The extractor factory ``prepare --extractor`` calls with its ExtractorConfig."""
    return EveryQuestionExtractor()


def record_recipe(config, resume: bool = False) -> Path:  # noqa: ANN001
    """A training method that only writes its config: proves ``train`` dispatches to it."""
    out = Path(config.output_dir) / "model"
    out.mkdir(parents=True, exist_ok=True)
    (out / "recipe.json").write_text(json.dumps({"lr": config.learning_rate, "resume": resume}))
    return out


@pytest.fixture()
def support_samples(tmp_path) -> Path:
    out = tmp_path / "data"
    assert main(["prepare", "--preset", "support", "--out", str(out), "--test-fraction", "0"]) == 0
    return out / "train.jsonl"


def test_plugin_grader_by_dotted_path_in_grade(support_samples, tmp_path):
    KeywordGrader.questions_graded.clear()
    out = tmp_path / "graded"
    argv = ["grade", str(support_samples), "--responses", "expert", "--out", str(out)]
    assert main([*argv, "--grader", f"{HERE}:KeywordGrader"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["grading_failures"] == 0
    rows = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    continues = [r for r in rows if r["response"] != "<stop />"]
    assert len(KeywordGrader.questions_graded) == len(continues) > 0
    assert all(r["r_a"] == 1.0 for r in continues)  # the expert's own question is in I*


def test_build_scorer_calls_the_plugin_factory_with_its_config():
    scorer = build_scorer(GraderConfig(kind=f"{HERE}:KeywordGrader", fusion="sum"))
    assert isinstance(scorer.grader, KeywordGrader)
    assert scorer.grader.config.fusion == "sum"


@pytest.mark.slow
def test_plugin_grader_by_dotted_path_in_train(support_samples, tmp_path, tiny_model_dir):
    KeywordGrader.built_with.clear()
    argv = [
        "train", "--method", "grpo", "--domain", "support", "--model", str(tiny_model_dir),
        "--train-file", str(support_samples), "--output", str(tmp_path / "run"),
        "--max-steps", "1", "--set", f"grpo.grader={HERE}:KeywordGrader",
        "--set", "batch_size=2", "--set", "grpo.num_generations=2", "--set", "max_samples=4",
        "--set", "max_length=192", "--set", "max_completion_length=6", "--set", "lora.r=2",
        "--set", "stop_fraction=null",
    ]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((tmp_path / "run" / "training_summary.json").read_text())
    assert summary["config"]["grpo"]["grader"] == f"{HERE}:KeywordGrader"
    assert summary["steps"] == 1
    # The reward was built on the plug-in, with the run's domain and fusion.
    (config,) = KeywordGrader.built_with
    assert config.domain.name == "support" and config.fusion == "hierarchical"


def test_plugin_reader_and_extractor_in_prepare(tmp_path):
    logs = tmp_path / "tickets.txt"
    logs.write_text(
        "U|My badge does not open the door.\nE|Which door?\nU|The east entrance.\n"
        "E|Since when?\nU|Today.\nE|I have reset the badge.\n\n"
        "U|The kitchen tap leaks.\nE|How fast?\nU|A drop a second.\nE|A plumber is coming.\n"
    )
    out = tmp_path / "out"
    argv = ["prepare", str(logs), "--out", str(out), "--test-fraction", "0"]
    plugins = ["--format", f"{HERE}:read_pipe_lines"]
    plugins += ["--extractor", f"{HERE}:every_question_extractor"]
    assert main([*argv, *plugins]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["dialogues"] == 2 and stats["extractor"] == "every-question"
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    first = next(r for r in rows if r["id"].endswith("-0_0"))
    assert first["info_set"] == ["Which door?", "Since when?"]


def test_plugin_training_method_in_train(tmp_path):
    out = tmp_path / "run"
    argv = ["train", "--method", f"{HERE}:record_recipe", "--output", str(out)]
    assert main([*argv, "--set", "learning_rate=1e-3"]) == 0
    assert json.loads((out / "model" / "recipe.json").read_text()) == {
        "lr": 0.001,
        "resume": False,
    }


def test_typo_gets_did_you_mean(support_samples, tmp_path, capsys):
    argv = ["grade", str(support_samples), "--responses", "expert", "--out", str(tmp_path / "o")]
    assert main([*argv, "--grader", "embeding"]) == 2
    assert "did you mean 'embedding'" in capsys.readouterr().err
    assert main(["train", "--method", "gpro", "--output", str(tmp_path / "run")]) == 2
    assert "did you mean 'grpo'" in capsys.readouterr().err


def test_bad_dotted_paths_are_named():
    with pytest.raises(ConfigError, match="cannot import plug-in module 'no_such_module'"):
        GRADERS.get("no_such_module:grader")
    with pytest.raises(ConfigError, match="has no 'Missing'"):
        GRADERS.get(f"{HERE}:Missing")


def test_decorator_registers_by_name():
    registry = Registry("thing", {})

    @registry.register("double")
    def double(x: int) -> int:
        return 2 * x

    assert registry.names() == ("double",) and registry.get("double")(3) == 6


def test_preset_typo_gets_did_you_mean(tmp_path, capsys):
    assert main(["prepare", "--preset", "suport", "--out", str(tmp_path / "o")]) == 2
    assert "did you mean 'support'?" in capsys.readouterr().err
