"""Can a learned ranker choose among the question memory's candidates better than the vote?

    python -m benchmarks.tune_question_ranker --train-file demo_out/data/train_mix.jsonl --out DIR

The same split as ``tune_memory`` (20% of the training dialogues held out, seeded; never the
test split). For ``--fit-points`` CONTINUE points of the remaining training dialogues the
memory's 50 nearest neighbours are taken *from other dialogues* (a point's own dialogue would
leak its future), every candidate gets a row of features and its R_a against that point's own
I* as the label; rankers fitted on those rows then choose one candidate per held-out point.
Features: the vote (summed R_a over the neighbours, the memory's own choice), the vote weighted
by context similarity, the vote of the 10 nearest, how many neighbours hold the item verbatim
and as their very next question, the candidate's similarity to the context's turns (already
asked?), to the last turn and to the context key, its mean R_a over 1,500 training points (a
generic question's prior), its length, the context's length, and the neighbours' mean I* size.
Prints one line per ranker (mean R_a of the chosen questions, share with R_a = 1, paired
difference from the vote with its standard error) and writes ``DIR/tune_question_ranker.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path
from typing import Any

from benchmarks.tune_memory import validation_points
from learn2ask.data.types import Sample
from learn2ask.models.question_memory import QuestionMemory, context_key
from learn2ask.rewards.graders.embedding import EmbeddingGrader

FEATURES = (
    "vote",
    "similarity-weighted vote",
    "vote of 10 nearest",
    "neighbours holding it",
    "neighbours asking it next",
    "max similarity to context turns",
    "similarity to last turn",
    "similarity to context key",
    "prior mean R_a",
    "log length",
    "log context turns",
    "neighbours' mean I* size",
)
PRIOR_POINTS = 1500
CONTEXT_TURNS_COMPARED = 12


class CandidateFeatures:
    """Feature rows and R_a labels for the memory's candidates at one decision point."""

    def __init__(self, memory: QuestionMemory, dialogue_of_point: list[str], seed: int) -> None:
        self.memory = memory
        self.grader = memory.grader
        self.dialogue_of_point = dialogue_of_point
        sampled = random.Random(seed).sample(
            range(len(memory.point_items)), min(PRIOR_POINTS, len(memory.point_items))
        )
        self.prior = memory.grades_against(memory.item_vectors, sampled).mean(dim=1)

    def neighbours(self, sample: Sample, exclude_own_dialogue: bool) -> tuple[list[int], Any]:
        """The nearest training points (and the query's key vector), other dialogues only
        when ``exclude_own_dialogue``."""
        settings = self.memory.settings
        key = self.grader.embed([context_key(sample.context, settings.context_turns)]).float()[0]
        order = (self.memory.keys @ key).argsort(descending=True).tolist()
        chosen = []
        for n in order:
            if exclude_own_dialogue and self.dialogue_of_point[n] == sample.dialogue_id:
                continue
            chosen.append(n)
            if len(chosen) == settings.neighbours:
                break
        return chosen, key

    def rows(self, sample: Sample, exclude_own_dialogue: bool) -> tuple[Any, Any] | None:
        """``(features, labels)`` for every candidate, or None when there is none."""
        import torch

        memory = self.memory
        neighbours, key = self.neighbours(sample, exclude_own_dialogue)
        candidates = memory.candidates(neighbours)
        if not candidates:
            return None
        vectors = memory.item_vectors[candidates]
        per_neighbour = memory.grades_against(vectors, neighbours)
        weights = memory.keys[neighbours] @ key
        turns = [t.content for t in sample.context[-CONTEXT_TURNS_COMPARED:]] or [""]
        coverage = vectors @ self.grader.embed(turns).float().T
        holders = [[c in memory.point_items[n] for n in neighbours] for c in candidates]
        next_askers = [
            sum(1 for n in neighbours if memory.point_items[n][:1] == [c]) for c in candidates
        ]
        size = sum(len(memory.point_items[n]) for n in neighbours) / len(neighbours)
        count = len(candidates)
        features = torch.stack(
            [
                per_neighbour.mean(dim=1),
                (per_neighbour * weights).sum(dim=1) / weights.sum(),
                per_neighbour[:, :10].mean(dim=1),
                torch.tensor(holders, dtype=torch.float32).sum(dim=1),
                torch.tensor(next_askers, dtype=torch.float32),
                coverage.max(dim=1).values,
                coverage[:, -1],
                vectors @ key,
                self.prior[candidates],
                torch.tensor([math.log(len(memory.items[c])) for c in candidates]),
                torch.full((count,), math.log1p(len(sample.context))),
                torch.full((count,), size),
            ],
            dim=1,
        )
        own = self.grader.embed(list(sample.info_set)).float()
        labels = self.grader.scores(vectors @ own.T).max(dim=1).values
        return features.numpy(), labels.numpy()


def chosen_quality(scores: list[Any], labels: list[Any], baseline: list[Any]) -> dict:
    """Mean R_a and R_a = 1 share of each point's top-scored candidate, and the paired
    difference from the baseline's choice."""
    import numpy as np

    picked = np.array([y[int(np.argmax(s))] for s, y in zip(scores, labels, strict=True)])
    base = np.array([y[int(np.argmax(s))] for s, y in zip(baseline, labels, strict=True)])
    diff = picked - base
    return {
        "mean_r_a": round(float(picked.mean()), 4),
        "win": round(float((picked == 1.0).mean()), 4),
        "minus_vote": round(float(diff.mean()), 4),
        "minus_vote_se": round(float(diff.std() / math.sqrt(len(diff))), 4),
    }


def rankers() -> dict[str, Any]:
    """The rankers compared: linear ones on standardised features, and boosted trees."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "ridge on R_a": make_pipeline(StandardScaler(), Ridge(alpha=1.0)),
        "logistic on R_a = 1 (C 0.01)": make_pipeline(
            StandardScaler(), LogisticRegression(C=0.01, max_iter=2000)
        ),
        "logistic on R_a = 1 (C 1)": make_pipeline(
            StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)
        ),
        "boosted trees on R_a (lr 0.05)": HistGradientBoostingRegressor(
            max_iter=300, learning_rate=0.05, max_leaf_nodes=15, random_state=0
        ),
    }


def main(argv: list[str] | None = None) -> None:
    """Build the rows, fit every ranker, print and save the comparison."""
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-file", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--validation-fraction", type=float, default=0.2)
    parser.add_argument("--max-points", type=int, default=600)
    parser.add_argument("--fit-points", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    train, validation = validation_points(
        args.train_file, args.validation_fraction, args.max_points, args.seed
    )
    memory = QuestionMemory.build(train, grader=EmbeddingGrader())
    points = [s for s in train if s.decision == "continue" and s.info_set]
    features = CandidateFeatures(memory, [s.dialogue_id for s in points], args.seed + 2)
    fitted = [
        features.rows(s, exclude_own_dialogue=True)
        for s in random.Random(args.seed + 3).sample(points, min(args.fit_points, len(points)))
    ]
    fitted = [r for r in fitted if r is not None]
    held = [r for r in (features.rows(s, exclude_own_dialogue=False) for s in validation) if r]
    x = np.concatenate([f for f, _ in fitted])
    y = np.concatenate([label for _, label in fitted])
    labels = [label for _, label in held]
    vote = [f[:, 0] for f, _ in held]
    results = {
        "oracle: best candidate for the point's own I*": {
            "mean_r_a": round(float(np.mean([label.max() for label in labels])), 4)
        },
    }
    for column, name in enumerate(FEATURES):
        column_scores = [f[:, column] for f, _ in held]
        results[f"one feature: {name}"] = chosen_quality(column_scores, labels, vote)
    for name, model in rankers().items():
        target = (y == 1.0).astype(int) if name.startswith("logistic") else y
        model.fit(x, target)
        score = model.decision_function if hasattr(model, "decision_function") else model.predict
        results[name] = chosen_quality([score(f) for f, _ in held], labels, vote)
    for name, row in results.items():
        cells = "  ".join(f"{k} {v:.3f}" for k, v in row.items())
        print(f"{name:<45} {cells}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tune_question_ranker.json").write_text(
        json.dumps(
            {
                "train_file": str(args.train_file),
                "validation": f"{args.validation_fraction:.0%} of the training dialogues",
                "validation_points": len(held),
                "fit_points": len(fitted),
                "fit_rows": int(len(y)),
                "seed": args.seed,
                "seconds": round(time.perf_counter() - started, 1),
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
