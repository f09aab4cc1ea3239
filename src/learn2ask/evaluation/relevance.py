"""``learn2ask question-relevance``: how often a run's question memory asks a question a person
judged on the point, at labelled typed intakes (an operator's ratings from ``learn2ask
export-sessions --ratings``, or the developer's set in the repository,
``benchmarks/results/relevance_labelled/labels.json``).

For every labelled context (the user's first messages of a typed intake and the questions
asked in between) the memory chooses its question, with each anchor weight and likelihood
weight in turn (the run's own when none is given); a choice counts as relevant when its
wording was labelled so. Per label set (the developer's file has ``choose``: the intakes the
2026-11-29 settings were tried on; ``confirm``: written after one was chosen; ``fresh``: written
after the served anchor weight was decided; ``recheck``: written to check the likelihood weight,
2026-11-30; ``served``: an operator's ratings) and for all: the share relevant, how many
choices have no label (a wording nobody judged: label it before trusting the share) and, for
every setting after the first, the paired difference with a 95% interval that resamples
conversations. The memory only, unless a likelihood weight above 0 needs the run's language
model to score its questions.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from learn2ask.data.types import Turn
from learn2ask.errors import InputError
from learn2ask.evaluation.metrics import dialogue_sums, pooled_ci_entry
from learn2ask.io import parse_json, read_text_strict

SETTINGS = ("anchor_weight", "likelihood_weight")  # the memory's, one row per combination
CONTEXT_KEYS = ("id", "set", "conversation", "turns")  # what scoring reads of each context


def load_labels(path: Path) -> tuple[list[dict[str, Any]], dict[tuple[int, str], int]]:
    """``(contexts, {(context id, question): 1 relevant / 0 not})`` of a labels file; an
    ``InputError`` naming the file (and the line of a JSON error) otherwise."""
    data = parse_json(read_text_strict(path), path)
    try:
        labels = {(row["context"], row["question"]): int(row["relevant"]) for row in data["labels"]}
        contexts = list(data["context_turns"])
    except (KeyError, TypeError, ValueError):
        raise InputError(
            path, "expected {context_turns: [...], labels: [{context, question, relevant}]}"
        ) from None
    for number, context in enumerate(contexts):
        missing = [k for k in CONTEXT_KEYS if not isinstance(context, dict) or k not in context]
        if missing:
            raise InputError(path, f"context_turns[{number}] lacks {', '.join(missing)}")
    return contexts, labels


def choices(memory: Any, contexts: Sequence[dict[str, Any]]) -> list[str | None]:
    """The memory's question at each labelled context."""
    turns = [[Turn(role, text) for role, text in c["turns"]] for c in contexts]
    return memory.choose(turns)


def scored(
    contexts: Sequence[dict[str, Any]],
    asked: Sequence[str | None],
    labels: dict[tuple[int, str], int],
) -> list[int | None]:
    """Per context: 1 when the question asked was labelled relevant, 0 when labelled not (or
    nothing was asked), None when nobody labelled that wording there."""
    return [
        labels.get((c["id"], q)) if q is not None else 0
        for c, q in zip(contexts, asked, strict=True)
    ]


def summary(
    contexts: Sequence[dict[str, Any]],
    scores: Sequence[int | None],
    reference: Sequence[int | None] | None,
) -> dict[str, Any]:
    """Per label set: relevant share, unlabelled count and the paired difference from
    ``reference`` (the first weight's scores; unlabelled choices count as not relevant)."""
    out: dict[str, Any] = {}
    for name in [*sorted({c["set"] for c in contexts}), "all"]:
        keep = [i for i, c in enumerate(contexts) if name in ("all", c["set"])]
        row: dict[str, Any] = {
            "contexts": len(keep),
            "relevant": sum(scores[i] or 0 for i in keep),
            "unlabelled": sum(scores[i] is None for i in keep),
        }
        row["share"] = round(row["relevant"] / len(keep), 4) if keep else None
        if reference is not None:
            changes = {
                (contexts[i]["conversation"], i): (scores[i] or 0) - (reference[i] or 0)
                for i in keep
            }
            row["difference"] = pooled_ci_entry(dialogue_sums(changes), n_boot=2000)
        out[name] = row
    return out


def line(row: dict[str, Any]) -> str:
    """One weight's printed cells: relevant / contexts, unlabelled, difference [CI]."""
    cells = []
    for name in [key for key in row if key not in SETTINGS]:
        cell = f"{name} {row[name]['relevant']}/{row[name]['contexts']}"
        if row[name]["unlabelled"]:
            cell += f" ({row[name]['unlabelled']} unlabelled)"
        if "difference" in row[name]:
            d = row[name]["difference"]
            cell += f" {d['mean']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"
        cells.append(cell)
    return "  ".join(cells)


def score_settings(
    memory: Any,
    contexts: Sequence[dict[str, Any]],
    labels: dict[tuple[int, str], int],
    anchor_weights: Sequence[float | None] = (None,),
    likelihood_weights: Sequence[float | None] = (None,),
) -> Iterator[dict[str, Any]]:
    """One row per combination of the weights (None: the memory's own), in order: the
    settings and :func:`summary` against the first combination's choices."""
    reference = None
    for anchor, likelihood in itertools.product(anchor_weights, likelihood_weights):
        if anchor is not None:
            memory.settings = replace(memory.settings, anchor_weight=anchor)
        if likelihood is not None:
            memory.settings = replace(memory.settings, likelihood_weight=likelihood)
        scores = scored(contexts, choices(memory, contexts), labels)
        row = {key: getattr(memory.settings, key) for key in SETTINGS}
        row.update(summary(contexts, scores, reference))
        reference = reference or scores
        yield row


def setting_line(row: dict[str, Any]) -> str:
    """A row as printed: its weights, then :func:`line`."""
    names = "  ".join(f"{key} {row[key]:<4}" for key in SETTINGS)
    return f"{names} {line(row)}"
