"""Auto-Prompt: calibrate the LLM grader's prompt against a few human labels.

1. Split the labels by dialogue into a calibration and a held-out part.
2. Propose prompt variants from the rubric: rewrites of the rubric, few-shot examples drawn from
   the CALIBRATION labels (balanced over 0/0.5/1), and their position (before or after the
   rubric).
3. Grade the calibration labels with each variant through the endpoint; score it by linearly
   weighted Cohen's kappa, then accuracy, then coverage (replies that failed validation are
   counted as failures, never as a grade).
4. Keep the best; measure the rubric prompt ("before") and the best ("after") on the held-out
   labels with bootstrap CIs; write a versioned grader file.

Every step is appended to ``steps.jsonl`` in the work directory and every grade is cached in
SQLite there, so an interrupted run resumes where it stopped and a rerun costs no model call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from learn2ask.calibration.agreement import AgreementFigure, measure_agreement
from learn2ask.calibration.embedding import LabelledQuestion
from learn2ask.calibration.labels import split_labels
from learn2ask.calibration.report import agreement_block
from learn2ask.errors import ConfigError
from learn2ask.io import append_jsonl, read_jsonl_tolerant, write_json_atomic
from learn2ask.models.client import ClientConfig
from learn2ask.rewards.graders.llm import (
    DEFAULT_RUBRIC,
    FewShotExample,
    GraderPrompt,
    LLMGrader,
    LLMGraderConfig,
)

LOG = logging.getLogger("learn2ask.calibration")
RUBRIC_REWRITES: dict[str, str] = {
    "strict": (
        "You check whether a question asked by an assistant targets the information a real "
        "expert still needed. You see the conversation so far and the list of information the "
        "expert went on to ask for. Give exactly one score:\n"
        "1 = the question asks for one item of the list (wording may differ, meaning must "
        "match);\n"
        "0.5 = the question is about the same topic as an item but asks for something "
        "different or broader;\n"
        "0 = the question asks for nothing on the list, repeats what is already known, or is "
        'generic ("anything else?", "could you repeat that?", "is that right?").'
    ),
    "steps": (
        "Grade a question against a list of information still to be asked for.\n"
        "Step 1: find the list item closest in meaning to the question.\n"
        "Step 2: if the question would get the user to give that item, score 1.\n"
        "Step 3: otherwise, if it is clearly about the same symptom, history or topic, "
        "score 0.5.\n"
        "Step 4: otherwise score 0. Greetings, closers, repeats and generic questions score 0."
    ),
}


@dataclass(frozen=True)
class AutoPromptConfig:
    """Endpoint, splits, budget and output of one Auto-Prompt run."""

    client: ClientConfig
    work_dir: Path
    held_out: float = 0.5
    max_variants: int = 8
    max_tokens: int = 128  # >= min_grading_tokens(): a constrained reply always closes
    bootstrap: int = 1000
    seed: int = 0
    version: str = "custom"
    base_rubric: str = DEFAULT_RUBRIC
    parse_retries: int = 0


def draw_examples(
    labelled: list[LabelledQuestion], count: int, rng: random.Random
) -> tuple[FewShotExample, ...]:
    """``count`` examples, round-robin over the label values so each grade is shown."""
    by_value: dict[float, list[LabelledQuestion]] = {}
    for item in labelled:
        by_value.setdefault(item.label, []).append(item)
    pools = [rng.sample(v, len(v)) for _, v in sorted(by_value.items(), reverse=True)]
    chosen: list[LabelledQuestion] = []
    while len(chosen) < count and any(pools):
        for pool in pools:
            if pool and len(chosen) < count:
                chosen.append(pool.pop())
    return tuple(FewShotExample(tuple(x.sample.info_set[:6]), x.question, x.label) for x in chosen)


def propose_variants(
    calibration: list[LabelledQuestion], base_rubric: str, max_variants: int, seed: int
) -> list[GraderPrompt]:
    """The rubric prompt first, then rewrites, then few-shot variants in both orders."""
    rng = random.Random(seed)
    rubrics = {"rubric": base_rubric, **RUBRIC_REWRITES}
    variants = [GraderPrompt(rubric=text, name=name) for name, text in rubrics.items()]
    for shots in (3, 6):
        examples = draw_examples(calibration, shots, rng)
        if not examples:
            continue
        for name in ("rubric", "strict"):
            for first in (False, True):
                label = f"{shots}shot+{name}" if first else f"{name}+{shots}shot"
                variants.append(GraderPrompt(rubrics[name], examples, first, label))
    return variants[: max(1, max_variants)]


def labels_digest(labelled: list[LabelledQuestion]) -> str:
    """Content hash of a label set (a logged step is reused only for the same labels)."""
    key = json.dumps([[x.sample.id, x.question, x.label] for x in labelled])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


class StepLog:
    """``steps.jsonl``: one line per scored (variant, split); read back to resume."""

    def __init__(self, work_dir: Path) -> None:
        work_dir.mkdir(parents=True, exist_ok=True)
        self.path = work_dir / "steps.jsonl"
        self._done = {
            (row.get("prompt"), row.get("labels")): row
            for row in read_jsonl_tolerant(self.path)
            if row.get("step") == "score"
        }

    def get(self, prompt: GraderPrompt, labels: str) -> AgreementFigure | None:
        """The logged figure of this prompt on this label set, if any."""
        row = self._done.get((prompt.digest(), labels))
        if row is None:
            return None
        figure = dict(row["figure"])
        figure.pop("coverage", None)
        ci = figure.get("kappa_ci")
        figure["kappa_ci"] = tuple(ci) if ci else None
        return AgreementFigure(**figure)

    def add(self, step: str, **fields: Any) -> None:
        """Append one step (also logged at INFO)."""
        row = {"step": step, "time": datetime.now(UTC).isoformat(timespec="seconds"), **fields}
        append_jsonl(self.path, row)
        if step == "score":
            self._done[(fields["prompt"], fields["labels"])] = row
        LOG.info("auto-prompt %s: %s", step, json.dumps(fields)[:300])


def score_prompt(
    config: AutoPromptConfig,
    prompt: GraderPrompt,
    labelled: list[LabelledQuestion],
    split: str,
    log: StepLog,
) -> AgreementFigure:
    """Agreement of one prompt on one split (from the step log when already scored)."""
    digest = labels_digest(labelled)
    logged = log.get(prompt, digest)
    if logged is not None:
        return logged
    grader = LLMGrader(
        LLMGraderConfig(
            client=config.client,
            cache_path=config.work_dir / "grades.sqlite",
            max_tokens=config.max_tokens,
            parse_retries=config.parse_retries,
            prompt=prompt,
        )
    )
    results = grader([x.question for x in labelled], [x.sample for x in labelled])
    figure = measure_agreement(
        [x.label for x in labelled],
        [r.score for r in results],
        resamples=config.bootstrap,
        seed=config.seed,
    )
    errors = sorted({r.error for r in results if r.error})[:3]
    log.add(
        "score",
        variant=prompt.name,
        prompt=prompt.digest(),
        labels=digest,
        split=split,
        figure=figure.to_dict(),
        model_calls=grader.stats["model_calls"],
        invalid_replies=grader.stats.get("invalid_replies", 0),
        example_errors=errors,
    )
    return figure


def _rank(figure: AgreementFigure) -> tuple[float, float, float]:
    return (
        -2.0 if figure.kappa is None else figure.kappa,
        figure.accuracy or 0.0,
        figure.coverage,
    )


def run_autoprompt(
    config: AutoPromptConfig, labelled: list[LabelledQuestion], source: str, out: Path
) -> dict[str, Any]:
    """Propose, score and keep the best prompt; write the grader file to ``out``."""
    try:
        calibration, held_out = split_labels(labelled, config.held_out)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    log = StepLog(config.work_dir)
    variants = propose_variants(calibration, config.base_rubric, config.max_variants, config.seed)
    log.add("propose", variants=[v.name for v in variants], calibration=len(calibration))
    scored = [(score_prompt(config, v, calibration, "calibration", log), v) for v in variants]
    best_figure, best = max(scored, key=lambda pair: _rank(pair[0]))
    before = score_prompt(config, variants[0], held_out, "held-out", log)
    after = score_prompt(config, best, held_out, "held-out", log)
    block = agreement_block(before, after, len(labelled), len(calibration), len(held_out), source)
    block["before"]["setting"] = variants[0].name
    block["after"]["setting"] = best.name
    data = {
        "kind": "llm",
        "version": config.version,
        "grader_version": f"llm:{best.name}",
        "model": config.client.model,
        "temperature": 0.0,
        "max_tokens": config.max_tokens,
        "prompt": best.to_dict(),
        "agreement": block,
        "variants": [
            {"name": v.name, "prompt": v.digest(), "calibration": f.to_dict()} for f, v in scored
        ],
    }
    write_json_atomic(out, data)
    kappa = best_figure.to_dict()["kappa"]
    log.add("keep", variant=best.name, calibration_kappa=kappa, out=str(out))
    return {"before": before, "after": after, "agreement": block, "best": best, "file": data}


def prompt_from_grader_file(path: str | Path) -> GraderPrompt:
    """The calibrated prompt of an LLM grader file (``calibrate --grader llm``)."""
    source = Path(path)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
        if data.get("kind") != "llm":
            raise ValueError("not an LLM grader file (kind != 'llm')")
        return GraderPrompt.from_dict(data["prompt"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{source}: not a usable LLM grader file ({exc})") from None
