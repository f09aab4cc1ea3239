"""How often a run's question memory asks a question a person judged on the point, at typed
intakes labelled by the developer (``benchmarks/results/relevance_labelled/``).

    python -m benchmarks.relevance_labels --policy demo_out/runs/decision
    python -m benchmarks.relevance_labels --policy RUN --anchor-weight 0 0.5 --out DIR
    python -m benchmarks.relevance_labels --policy RUN --anchor-weight 0.5 --likelihood-weight 0 0.5
    python -m benchmarks.relevance_labels --policy RUN --labels ratings.json  # a deployment's

For every labelled context (the user's first 1-4 messages of a typed intake and the questions
asked in between) the memory chooses its question, with each ``--anchor-weight`` and
``--likelihood-weight`` in turn (the run's own when none is given); a choice counts as
relevant when its wording was labelled so. Prints, per label set (the bundled file's
``choose``: the intakes the 2026-11-29 settings were tried on; ``confirm``: written after one
was chosen; ``fresh``: written after the served anchor weight was decided; ``recheck``: written
to check the likelihood weight, 2026-11-30; ``served``: an operator's ratings,
``export-sessions --ratings``) and for all, the share relevant, how many choices have no label
(a wording nobody judged: label it before trusting the share) and, for every setting after the
first, the paired difference with a 95% interval that resamples conversations. Writes
``DIR/relevance_labels.json`` with ``--out``. The memory only, unless a likelihood weight above
0 needs the run's language model to score its questions.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from learn2ask.data.types import Turn
from learn2ask.errors import ConfigError
from learn2ask.evaluation.metrics import dialogue_sums, pooled_ci_entry
from learn2ask.serving.probe import run_memory

SETTINGS = ("anchor_weight", "likelihood_weight")  # the memory's, one row per combination
LABELS = Path(__file__).resolve().parent / "results" / "relevance_labelled" / "labels.json"


def load_labels(path: Path) -> tuple[list[dict[str, Any]], dict[tuple[int, str], int]]:
    """``(contexts, {(context id, question): 1 relevant / 0 not})`` of a labels file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    labels = {(row["context"], row["question"]): int(row["relevant"]) for row in data["labels"]}
    return data["context_turns"], labels


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


def main(argv: list[str] | None = None) -> None:
    """Score the run at each setting; print the table (and write it with ``--out``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", required=True, help="a run or model with a question memory")
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument("--anchor-weight", type=float, nargs="+", default=[None])
    parser.add_argument("--likelihood-weight", type=float, nargs="+", default=[None])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    first_scored = next((w for w in args.likelihood_weight if w), None)  # loads the LM if any
    try:
        memory = run_memory(args.policy, likelihood_weight=first_scored)
    except ConfigError as exc:  # one line, not a traceback
        raise SystemExit(str(exc)) from None
    contexts, labels = load_labels(args.labels)
    rows, reference = [], None
    for anchor, likelihood in itertools.product(args.anchor_weight, args.likelihood_weight):
        if anchor is not None:
            memory.settings = replace(memory.settings, anchor_weight=anchor)
        if likelihood is not None:
            memory.settings = replace(memory.settings, likelihood_weight=likelihood)
        scores = scored(contexts, choices(memory, contexts), labels)
        row = {key: getattr(memory.settings, key) for key in SETTINGS}
        row.update(summary(contexts, scores, reference))
        rows.append(row)
        reference = reference or scores
        names = "  ".join(f"{key} {row[key]:<4}" for key in SETTINGS)
        print(f"{names} {line(row)}", flush=True)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        result = {"policy": args.policy, "labels": str(args.labels), "rows": rows}
        (args.out / "relevance_labels.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
