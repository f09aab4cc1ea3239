"""Choose the question memory's settings on validation: content of the questions it asks on
CONTINUE points of held-out training dialogues (never the test split).

    python -m benchmarks.tune_memory --train-file demo_out/data/train_mix.jsonl --out DIR

Holds out ``--validation-fraction`` of the training dialogues (seeded), builds the memory from
the rest once per similarity key (the last N turns), with the checks ``--domain`` gives it
(``unaskable``, ``shared_referents``, ``synonyms``) as training does, and scores every
neighbour count on the same held-out points: mean R_a and the share with R_a = 1 (``win``),
per data source, with the embedding grader the evaluation uses. Fixed generic questions are
the reference a memory must beat; the oracle rows (the best of the neighbours' candidates for
each point's own I*, which no policy can see) say how much a better choice among the same
candidates could gain; the rows "the same without ..." what each of the memory's checks
costs or gains, and how many choices it changes; "the same anchored ..." what anchoring the
key on the user's first message (``anchor_weight`` 0.5) costs on logged points. Writes
``DIR/tune_memory.json`` and prints one line per variant.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import replace
from pathlib import Path

from learn2ask.data.samples import load_samples
from learn2ask.data.sampling import source_of
from learn2ask.data.types import Sample
from learn2ask.domain import DEFAULT_DOMAIN, load_domain
from learn2ask.models.question_memory import (
    DEFAULT_NEIGHBOURS,
    QuestionMemory,
    QuestionMemorySettings,
    domain_checks,
)
from learn2ask.rewards.graders.embedding import EmbeddingGrader

GENERIC_QUESTIONS = ("Do you have any other symptoms?", "Are you taking any medications?")


def held_out(samples: list[Sample], fraction: float, seed: int) -> tuple[list, list]:
    """``(train, validation CONTINUE points with I*)``, split by dialogue."""
    dialogues = sorted({s.dialogue_id for s in samples})
    random.Random(seed).shuffle(dialogues)
    held = set(dialogues[: round(len(dialogues) * fraction)])
    train = [s for s in samples if s.dialogue_id not in held]
    validation = [
        s for s in samples if s.dialogue_id in held and s.decision == "continue" and s.info_set
    ]
    return train, validation


def validation_points(
    train_file: Path, fraction: float, max_points: int, seed: int
) -> tuple[list[Sample], list[Sample]]:
    """``(train, up to max_points shuffled validation CONTINUE points)`` of ``train_file``."""
    train, validation = held_out(load_samples(train_file), fraction, seed)
    random.Random(seed + 1).shuffle(validation)
    return train, validation[:max_points]


def content(grader: EmbeddingGrader, questions: list[str], points: list[Sample]) -> dict:
    """Mean R_a and win rate (R_a = 1) per source and overall."""
    scores = [r.score or 0.0 for r in grader(questions, points)]
    result = {}
    for source in sorted({source_of(p) for p in points}) + ["all"]:
        chosen = [x for x, p in zip(scores, points, strict=True) if source in ("all", source_of(p))]
        result[source] = {
            "mean_r_a": round(sum(chosen) / len(chosen), 4),
            "win": round(sum(x == 1.0 for x in chosen) / len(chosen), 4),
            "n": len(chosen),
        }
    return result


def oracle(memory: QuestionMemory, grader: EmbeddingGrader, points: list[Sample]) -> dict:
    """R_a of the best askable candidate among each point's neighbours, graded against that
    point's own I*: the ceiling of any choice among the memory's candidates."""
    best = []
    for point, neighbours in zip(points, memory.nearest([p.context for p in points]), strict=True):
        candidates = memory.candidates(neighbours)
        if not candidates:
            best.append(0.0)
            continue
        own = grader.embed(list(point.info_set)).float()
        grades = grader.scores(memory.item_vectors[candidates] @ own.T)
        best.append(float(grades.max()))
    return {
        "mean_r_a": round(sum(best) / len(best), 4),
        "win": round(sum(b == 1.0 for b in best) / len(best), 4),
        "n": len(best),
    }


def compared(
    variant: str,
    questions: list[str],
    checked: list[str],
    grader: EmbeddingGrader,
    points: list[Sample],
) -> dict:
    """The row of a variant's ``questions`` ("the same" + ``variant``), and how many of the
    ``checked`` choices it changes."""
    return {
        "variant": f"  the same {variant}",
        "changed": sum(a != b for a, b in zip(questions, checked, strict=True)),
        **content(grader, questions, points),
    }


# The memory's checks that one attribute switches off (None: a memory saved before it).
CHECKS = {
    "references": "the back-reference check",  # docs/results.md, "Questions that refer back"
    "pointing": "the pointing-back check",  # "Synonyms and questions that point back"
}


def unchecked(
    memory: QuestionMemory,
    attribute: str,
    grader: EmbeddingGrader,
    points: list[Sample],
    checked: list[str],
) -> dict:
    """The row of the same memory without one of its :data:`CHECKS`."""
    kept = getattr(memory, attribute)
    setattr(memory, attribute, None)
    questions = [q or "" for q in memory.choose([p.context for p in points])]
    setattr(memory, attribute, kept)
    return compared(f"without {CHECKS[attribute]}", questions, checked, grader, points)


def without_synonyms(
    memory: QuestionMemory,
    train: list[Sample],
    grader: EmbeddingGrader,
    points: list[Sample],
    checked: list[str],
) -> dict:
    """The row of the same memory built and choosing without the domain's ``synonyms``
    (docs/results.md, "Synonyms and questions that point back")."""
    plain = QuestionMemory.build(train, replace(memory.settings, synonyms=()), grader)
    plain.settings = replace(plain.settings, neighbours=memory.settings.neighbours)
    questions = [q or "" for q in plain.choose([p.context for p in points])]
    return compared("without the domain's synonyms", questions, checked, grader, points)


def anchored(
    memory: QuestionMemory,
    weight: float,
    grader: EmbeddingGrader,
    points: list[Sample],
    checked: list[str],
) -> dict:
    """The row of the same memory with its key anchored on the user's first message at
    ``weight`` (``anchor_weight``; docs/results.md, "Staying on the complaint")."""
    kept = memory.settings
    memory.settings = replace(kept, anchor_weight=weight)
    questions = [q or "" for q in memory.choose([p.context for p in points])]
    memory.settings = kept
    return compared(
        f"anchored on the first message at {weight:g}", questions, checked, grader, points
    )


def main(argv: list[str] | None = None) -> None:
    """Run the sweep; print and save its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-file", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--validation-fraction", type=float, default=0.2)
    parser.add_argument("--max-points", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--domain",
        default=DEFAULT_DOMAIN,
        help="whose checks the memory applies (`unaskable`, `shared_referents`, `synonyms`)",
    )
    args = parser.parse_args(argv)
    checks = domain_checks(load_domain(args.domain))
    train, validation = validation_points(
        args.train_file, args.validation_fraction, args.max_points, args.seed
    )
    grader = EmbeddingGrader()
    rows = []
    for question in GENERIC_QUESTIONS:
        rows.append(
            {
                "variant": f"always '{question}'",
                **content(grader, [question] * len(validation), validation),
            }
        )
    contexts = [p.context for p in validation]
    for turns in (1, 2, 4):
        started = time.perf_counter()
        memory = QuestionMemory.build(
            train, QuestionMemorySettings(context_turns=turns, **checks), grader
        )
        build = time.perf_counter() - started
        for neighbours in (10, 20, 50, 100):
            memory.settings = replace(memory.settings, neighbours=neighbours)
            questions = [q or "" for q in memory.choose(contexts)]
            variant = f"memory: last {turns} turns, {neighbours} neighbours"
            rows.append(
                {
                    "variant": variant,
                    "build_seconds": round(build, 1),
                    **content(grader, questions, validation),
                }
            )
            if turns == 4 and neighbours == DEFAULT_NEIGHBOURS:
                for attribute in CHECKS:
                    rows.append(unchecked(memory, attribute, grader, validation, questions))
                rows.append(without_synonyms(memory, train, grader, validation, questions))
                rows.append(anchored(memory, 0.5, grader, validation, questions))
            if turns == 4 and neighbours in (10, 50):
                rows.append(
                    {
                        "variant": f"oracle: best of the {neighbours} neighbours' candidates",
                        "all": oracle(memory, grader, validation),
                    }
                )
    for r in rows:
        cells = "  ".join(
            f"{k} {v['mean_r_a']:.3f}/{v['win']:.3f}" for k, v in r.items() if isinstance(v, dict)
        )
        changed = f"  ({r['changed']} choices differ)" if "changed" in r else ""
        print(f"{r['variant']:<45} {cells}{changed}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tune_memory.json").write_text(
        json.dumps(
            {
                "train_file": str(args.train_file),
                "validation": f"{args.validation_fraction:.0%} of the training dialogues",
                "seed": args.seed,
                "domain": args.domain,
                "cells": "mean R_a / share with R_a = 1, embedding grader v1",
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
