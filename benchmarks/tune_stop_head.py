"""Choose the stop head's regularisation and count features on validation: AUC of s* on held-out
training dialogues (in source) and on a source the head never saw (transfer), never the test split.

    python -m benchmarks.tune_stop_head --train-file demo_out/data/train_mix.jsonl --out DIR

For each seed: (in source) ``--validation-fraction`` of the training dialogues held out, the head
fitted on ``--train-points`` balanced points of the rest and scored on ``--points`` balanced
points of the held-out ones, per source; (transfer) fitted on the MTS-Dialog dialogues alone and
scored on the ACI-Bench dialogues of the same training file (full visits, never seen by it).
Every variant shares one set of embeddings per setting: the surface counts raw or as
log(1 + n), times the L2 strength ``C``. Writes ``DIR/tune_stop_head.json``; prints one line
per variant.

With ``--curve N1 N2 ...`` it instead fits the chosen head (log counts, the classifier's
default ``C``) on nested seeded subsets of ``--train-points`` points, one row per size: how
many training points the head needs (``decision.stop_head_points``). Writes
``DIR/tune_stop_head_points.json``.

With ``--models`` it instead compares model families on the head's features (its embeddings
and log counts): the head's logistic regression, cosine k-nearest neighbours (k 10, 30, 100),
gradient-boosted trees, a one-hidden-layer MLP, and the rank average of the regression and the
trees: is a non-linear head worth its cost? Writes ``DIR/tune_stop_head_models.json``.

With ``--feature-sets`` it instead compares which feature blocks the head should see (the
embeddings of the last two turns, of the last four turns and of the whole context, the five
surface features), in source and across sources both ways (fitted on MTS-Dialog, scored on
ACI-Bench, and back): AUC, and the balanced accuracy and STOP rates at the head's own cut (its
log-odds at 0, fitted on balanced points), which show whether a source it never saw gets its
P(stop) shifted. ``--probe FILE`` adds the mean P(stop) that each in-source head gives the
prepared points of FILE (a sanity check, never a criterion). Writes
``DIR/tune_stop_head_features.json``.

With ``--relative`` it instead asks whether the head's log-odds should be read against the
same conversation's earlier points: z + w * (z - mean of z at the dialogue's earlier points), w
in ``RELATIVE_WEIGHTS`` (w = 0 is the head), which cancels a source's offset within a long
conversation. Scored like ``--feature-sets``. Writes ``DIR/tune_stop_head_relative.json``.

With ``--dialogue-weights`` it instead asks whether the head should weigh its training points
as the report weighs test points: the report averages rewards within a dialogue, then over
dialogues, so a point counts 1 / (points its dialogue gave). The head is fitted with no weights,
1 / sqrt(n) and 1 / n (n counted in its own balanced draw) and scored on every balanced
MTS-Dialog point of the held-out dialogues (drawn as the demo draws its test points): AUC pooled
and dialogue-weighted, and the dialogue-weighted reward of always-stop and of the best threshold
(in hindsight on those points: an upper bound for each head alike). Writes
``DIR/tune_stop_head_dialogue_weights.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from learn2ask.data.samples import load_samples
from learn2ask.data.sampling import balanced_subset, source_of
from learn2ask.data.types import Sample
from learn2ask.evaluation.metrics import roc_auc
from learn2ask.evaluation.stop_scores import threshold_accuracy
from learn2ask.models.question_memory import default_grader
from learn2ask.models.stop_head import StopClassifier
from learn2ask.training.threshold import balanced_points, split_validation

C_VALUES = (0.001, 0.003, 0.01, 0.03, 0.1)
EMBEDDING_COLUMNS = 768  # two all-MiniLM-L6-v2 embeddings; the five surface features follow
COUNT_COLUMNS = (0, 1, 4)  # turns so far, the user's last message's length, expert questions


def auc_by_source(scores: Sequence[float], points: Sequence[Sample]) -> dict[str, float]:
    """AUC of ``scores`` for s* = STOP over all points and within each source."""

    def auc(keep: Sequence[bool]) -> float:
        rows = zip(scores, points, keep, strict=True)
        chosen = [(z, s.decision == "stop") for z, s, k in rows if k]
        return round(
            roc_auc([z for z, stop in chosen if stop], [z for z, stop in chosen if not stop]), 3
        )

    result = {"all": auc([True] * len(points))}
    for source in sorted({source_of(s) for s in points}):
        result[source] = auc([source_of(s) == source for s in points])
    return result


def raw_counts(features: Any) -> Any:
    """The same rows with the log(1 + n) count columns turned back into counts."""
    import numpy as np

    raw = features.copy()
    columns = [EMBEDDING_COLUMNS + c for c in COUNT_COLUMNS]
    raw[:, columns] = np.expm1(raw[:, columns])
    return raw


def fit_and_score(x_train: Any, labels: Sequence[bool], x_held: Any, c: float) -> Any:
    """The held-out log-odds of a standardised logistic regression fitted as the head is."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x_train)
    model = LogisticRegression(max_iter=3000, C=c).fit(scaler.transform(x_train), labels)
    return model.decision_function(scaler.transform(x_held))


def score_variants(
    train: list[Sample], held: list[Sample], embedder: Any, c_values: Sequence[float] = C_VALUES
) -> list[dict]:
    """Fit every (counts, C) variant on ``train``'s features and score it on ``held``."""
    classifier = StopClassifier(embedder)
    x_train = classifier.features([s.context for s in train])
    x_held = classifier.features([s.context for s in held])
    labels = [s.decision == "stop" for s in train]
    rows = []
    for counts, transform in (("raw", raw_counts), ("log1p", lambda x: x)):
        for c in c_values:
            scores = fit_and_score(transform(x_train), labels, transform(x_held), c)
            rows.append({"counts": counts, "C": c, "auc": auc_by_source(scores, held)})
    return rows


def score_sizes(
    train: list[Sample], held: list[Sample], embedder: Any, sizes: Sequence[int], seed: int
) -> list[dict]:
    """Fit the head as ``decision_sft`` does on nested subsets of ``train``, score on ``held``."""
    import random

    classifier = StopClassifier(embedder)
    x_train = classifier.features([s.context for s in train])
    x_held = classifier.features([s.context for s in held])
    order = list(range(len(train)))
    random.Random(seed).shuffle(order)
    rows = []
    for size in sizes:
        chosen = order[: min(size, len(order))]
        labels = [train[i].decision == "stop" for i in chosen]
        scores = fit_and_score(x_train[chosen], labels, x_held, classifier.C)
        rows.append({"train_points": len(chosen), "auc": auc_by_source(scores, held)})
    return rows


def knn_scores(x_train: Any, labels: Any, x_held: Any, k: int) -> Any:
    """Similarity-weighted STOP share of the ``k`` most similar training contexts (cosine on
    the two embeddings)."""
    import numpy as np

    def unit(x: Any) -> Any:
        part = x[:, :EMBEDDING_COLUMNS]
        return part / np.linalg.norm(part, axis=1, keepdims=True)

    similarity = unit(x_held) @ unit(x_train).T
    nearest = np.argsort(-similarity, axis=1)[:, :k]
    weights = np.take_along_axis(similarity, nearest, axis=1)
    return (labels[nearest] * weights).sum(axis=1) / weights.sum(axis=1)


def score_models(train: list[Sample], held: list[Sample], embedder: Any) -> list[dict]:
    """Fit every model family on ``train``'s head features and score it on ``held``."""
    import numpy as np
    from scipy.stats import rankdata
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    classifier = StopClassifier(embedder)
    x_train = classifier.features([s.context for s in train])
    x_held = classifier.features([s.context for s in held])
    labels = np.array([s.decision == "stop" for s in train])
    scores = {"logistic regression (the head)": fit_and_score(x_train, labels, x_held, 0.01)}
    for k in (10, 30, 100):
        scores[f"{k} nearest neighbours"] = knn_scores(x_train, labels, x_held, k)
    trees = HistGradientBoostingClassifier(
        max_iter=300, learning_rate=0.05, max_leaf_nodes=15, l2_regularization=1.0, random_state=0
    )
    scores["gradient-boosted trees"] = trees.fit(x_train, labels).decision_function(x_held)
    scaler = StandardScaler().fit(x_train)
    mlp = MLPClassifier((64,), alpha=1.0, max_iter=300, early_stopping=True, random_state=0)
    mlp.fit(scaler.transform(x_train), labels)
    scores["MLP (64 hidden)"] = mlp.predict_proba(scaler.transform(x_held))[:, 1]
    scores["regression + trees (rank average)"] = rankdata(
        scores["logistic regression (the head)"]
    ) + rankdata(scores["gradient-boosted trees"])
    return [
        {"model": name, "auc": auc_by_source([float(v) for v in values], held)}
        for name, values in scores.items()
    ]


FEATURE_BLOCKS = ("last two turns", "last four turns", "whole context", "surface")
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "last two + whole + surface (the head)": ("last two turns", "whole context", "surface"),
    "last two + surface": ("last two turns", "surface"),
    "last two + last four + surface": ("last two turns", "last four turns", "surface"),
    "last two + whole": ("last two turns", "whole context"),
    "whole + surface": ("whole context", "surface"),
    "last two": ("last two turns",),
}


def feature_blocks(contexts: Sequence[Sequence[Any]], embedder: Any) -> dict[str, Any]:
    """``{block: rows}`` for every block of ``FEATURE_BLOCKS``; the head's own three come from
    :meth:`StopClassifier.features`, so they are the head's features exactly."""
    import numpy as np

    head = StopClassifier(embedder).features(contexts)
    last_four = [" ".join(t.content for t in c[-4:]) for c in contexts]
    return {
        "last two turns": head[:, :384],
        "whole context": head[:, 384:EMBEDDING_COLUMNS],
        "surface": head[:, EMBEDDING_COLUMNS:],
        "last four turns": np.asarray(embedder.embed(last_four)),
    }


def decision_rates(scores: Sequence[float], points: Sequence[Sample]) -> dict[str, float]:
    """At the head's own cut (log-odds 0): the share of STOP and of CONTINUE points it stops
    at, their balanced accuracy, and the best balanced accuracy of any cut (hindsight)."""
    rows = [{"p_stop": z, "decision": s.decision} for z, s in zip(scores, points, strict=True)]
    rates = threshold_accuracy(rows, 0.0)  # log-odds >= 0 stops, as P(stop) >= 0.5 would
    return {
        "stops_at_stop": round(rates["stops_at_stop"], 3),
        "stops_at_continue": round(rates["stops_at_continue"], 3),
        "balanced_accuracy": round(rates["balanced_accuracy_at_threshold"], 3),
        "best_balanced_accuracy": round(rates["hindsight_best_balanced_accuracy"], 3),
    }


def score_feature_sets(
    train: list[Sample], held: list[Sample], embedder: Any, probe: list[Sample]
) -> list[dict]:
    """Fit the head on each of ``FEATURE_SETS`` of ``train``'s features, score it on ``held``
    (and give the mean P(stop) of the ``probe`` points, if any)."""
    import numpy as np

    blocks = {
        name: feature_blocks([s.context for s in points], embedder) if points else {}
        for name, points in (("train", train), ("held", held), ("probe", probe))
    }
    labels = [s.decision == "stop" for s in train]
    rows = []
    for name, chosen in FEATURE_SETS.items():

        def columns(part: str, chosen: tuple[str, ...] = chosen) -> Any:
            return np.hstack([blocks[part][b] for b in chosen])

        x_train = columns("train")
        x_eval = np.vstack([columns("held"), columns("probe")]) if probe else columns("held")
        scores = fit_and_score(x_train, labels, x_eval, 0.01)
        held_scores = [float(v) for v in scores[: len(held)]]
        row = {
            "features": name,
            "auc": auc_by_source(held_scores, held),
            **decision_rates(held_scores, held),
        }
        if probe:
            probe_p = 1 / (1 + np.exp(-scores[len(held) :]))
            row["probe_mean_p_stop"] = round(float(probe_p.mean()), 3)
        rows.append(row)
    return rows


RELATIVE_WEIGHTS = (0.0, 0.5, 1.0, 2.0)


def earlier_points(points: Sequence[Sample], pool: Sequence[Sample]) -> list[list[Sample]]:
    """For each of ``points``, the points of ``pool`` from its dialogue that come before it."""
    by_dialogue: dict[str, list[Sample]] = {}
    for s in pool:
        by_dialogue.setdefault(s.dialogue_id, []).append(s)
    return [[s for s in by_dialogue.get(p.dialogue_id, []) if s.index < p.index] for p in points]


def relative_logits(
    classifier: StopClassifier, points: Sequence[Sample], pool: Sequence[Sample]
) -> tuple[Any, Any]:
    """The head's log-odds at ``points`` and their excess over the mean log-odds at the same
    dialogue's earlier points (0 at a dialogue's first point)."""
    import numpy as np

    history = earlier_points(points, pool)
    needed = {s.id: s for h in history for s in h} | {s.id: s for s in points}
    ids = list(needed)
    z_of = dict(zip(ids, classifier.logits([needed[i].context for i in ids]), strict=True))
    z = np.array([z_of[p.id] for p in points])
    baseline = np.array(
        [
            np.mean([z_of[s.id] for s in h]) if h else z_of[p.id]
            for p, h in zip(points, history, strict=True)
        ]
    )
    return z, z - baseline


def score_relative(
    train: list[Sample], held: list[Sample], embedder: Any, pool: list[Sample]
) -> list[dict]:
    """Fit the head on ``train``; score z + w * (z - baseline) on ``held`` for each w."""
    classifier = StopClassifier(embedder).fit(train)
    z, excess = relative_logits(classifier, held, pool)
    rows = []
    for w in RELATIVE_WEIGHTS:
        scores = [float(v) for v in z + w * excess]
        rows.append(
            {"weight": w, "auc": auc_by_source(scores, held), **decision_rates(scores, held)}
        )
    return rows


WEIGHTINGS = ("none", "1/sqrt(n)", "1/n")


def dialogue_weights(points: Sequence[Sample], scheme: str) -> list[float]:
    """Per-point weights, ``n`` the points ``points`` hold from the same dialogue."""
    from collections import Counter

    counts = Counter(s.dialogue_id for s in points)
    power = {"none": 0.0, "1/sqrt(n)": 0.5, "1/n": 1.0}[scheme]
    return [counts[s.dialogue_id] ** -power for s in points]


def weighted_auc(
    scores: Sequence[float], points: Sequence[Sample], weights: Sequence[float]
) -> float:
    """AUC of ``scores`` for s* = STOP where each (STOP, CONTINUE) pair counts the product of
    its points' weights."""
    import numpy as np

    z, w = np.asarray(scores, dtype=float), np.asarray(weights, dtype=float)
    stop = np.array([s.decision == "stop" for s in points])
    pos, neg = z[stop], z[~stop]
    wins = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    pair = w[stop][:, None] * w[~stop][None, :]
    return float((wins * pair).sum() / pair.sum())


def dialogue_reward(
    scores: Sequence[float], points: Sequence[Sample], cut: float, stop_reward: float, ask: float
) -> float:
    """Mean over dialogues of the mean reward of "STOP where score >= cut" (the report's
    ``ave_total_reward`` for a rule whose right question earns ``ask``)."""
    rewards: dict[str, list[float]] = {}
    for z, s in zip(scores, points, strict=True):
        right = (z >= cut) == (s.decision == "stop")
        value = (stop_reward if s.decision == "stop" else ask) if right else 0.0
        rewards.setdefault(s.dialogue_id, []).append(value)
    return sum(sum(v) / len(v) for v in rewards.values()) / len(rewards)


def score_dialogue_weights(
    train: list[Sample], held: list[Sample], embedder: Any, stop_reward: float, ask: float
) -> list[dict]:
    """Fit the head under each weighting; score it as the report would on ``held``."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    classifier = StopClassifier(embedder)
    x_train = classifier.features([s.context for s in train])
    x_held = classifier.features([s.context for s in held])
    scaler = StandardScaler().fit(x_train)
    labels = [s.decision == "stop" for s in train]
    held_weights = dialogue_weights(held, "1/n")
    always_stop = dialogue_reward([1.0] * len(held), held, 0.5, stop_reward, ask)
    rows = []
    for scheme in WEIGHTINGS:
        weights = np.asarray(dialogue_weights(train, scheme))
        model = LogisticRegression(max_iter=3000, C=classifier.C).fit(
            scaler.transform(x_train), labels, sample_weight=weights * len(weights) / weights.sum()
        )
        scores = [float(v) for v in model.decision_function(scaler.transform(x_held))]
        best = max(
            dialogue_reward(scores, held, cut, stop_reward, ask)
            for cut in np.quantile(scores, np.linspace(0, 1, 201))
        )
        rows.append(
            {
                "weights": scheme,
                "held_points": len(held),
                "held_dialogues": len(set(s.dialogue_id for s in held)),
                "auc": auc_by_source(scores, held)["all"],
                "auc_dialogue_weighted": round(weighted_auc(scores, held, held_weights), 3),
                "always_stop_reward": round(always_stop, 3),
                "best_cut_reward": round(best, 3),
                "best_cut_minus_always_stop": round(best - always_stop, 3),
            }
        )
    return rows


def settings(
    samples: list[Sample],
    fraction: float,
    train_points: int,
    points: int,
    seed: int,
    both_ways: bool = False,
) -> dict[str, tuple[list[Sample], list[Sample]]]:
    """``{setting: (fit points, scored points)}`` for the in-source and the transfer check
    (``both_ways``: also fitted on ACI-Bench and scored on MTS-Dialog)."""
    train, validation = split_validation(samples, fraction, seed)
    mts = [s for s in samples if source_of(s) == "mts-dialog"]
    aci = [s for s in samples if source_of(s) == "aci-bench"]
    result = {
        "in source": (
            balanced_points(train, train_points, seed + 1),
            balanced_points(validation, points, seed + 2),
        )
    }
    if mts and aci:
        result["transfer MTS-Dialog -> ACI-Bench"] = (
            balanced_points(mts, train_points, seed + 1),
            balanced_points(aci, points, seed + 2),
        )
        if both_ways:
            result["transfer ACI-Bench -> MTS-Dialog"] = (
                balanced_points(aci, train_points, seed + 1),
                balanced_points(mts, points, seed + 2),
            )
    return result


def mts_test_like(
    chosen: dict[str, tuple[list[Sample], list[Sample]]],
    samples: list[Sample],
    args: argparse.Namespace,
    seed: int,
) -> tuple[list[Sample], list[Sample]]:
    """The in-source fit points, and every balanced MTS-Dialog point of the held-out
    dialogues, drawn as the demo draws its test points (all STOP points, as many CONTINUE)."""
    _, validation = split_validation(samples, args.validation_fraction, seed)
    mts = [s for s in validation if source_of(s) == "mts-dialog"]
    return chosen["in source"][0], balanced_subset(mts, 0.5, None, seed + 2)


def main(argv: list[str] | None = None) -> None:
    """Run every variant; print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-file", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--validation-fraction", type=float, default=0.2)
    parser.add_argument("--train-points", type=int, default=2000)
    parser.add_argument("--points", type=int, default=800)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--curve", type=int, nargs="+", help="training-point sizes to compare")
    parser.add_argument("--models", action="store_true", help="compare model families instead")
    parser.add_argument(
        "--feature-sets", action="store_true", help="compare the head's feature blocks instead"
    )
    parser.add_argument(
        "--relative", action="store_true", help="compare relative readings of the head instead"
    )
    parser.add_argument(
        "--probe", type=Path, help="prepared points to report mean P(stop) on (--feature-sets)"
    )
    parser.add_argument(
        "--dialogue-weights",
        action="store_true",
        help="compare per-dialogue weights of the head's training points instead",
    )
    parser.add_argument(
        "--ask-reward",
        type=float,
        default=2.71,
        help="a right question's reward for --dialogue-weights (the demo run's validation "
        "estimate; a right STOP earns 4)",
    )
    parser.add_argument(
        "--c-values",
        type=float,
        nargs="+",
        default=list(C_VALUES),
        help="L2 strengths to compare (the default grid)",
    )
    args = parser.parse_args(argv)
    samples = load_samples(args.train_file)
    embedder = default_grader()
    rows = []
    started = time.perf_counter()
    probe = load_samples(args.probe) if args.probe else []
    for seed in args.seeds:
        chosen = settings(
            samples,
            args.validation_fraction,
            args.train_points,
            args.points,
            seed,
            both_ways=args.feature_sets or args.relative,
        )
        if args.dialogue_weights:
            chosen = {"MTS-Dialog, as the demo's test": mts_test_like(chosen, samples, args, seed)}
        for name, (train, held) in chosen.items():
            if args.dialogue_weights:
                scored = score_dialogue_weights(train, held, embedder, 4.0, args.ask_reward)
            elif args.curve:
                scored = score_sizes(train, held, embedder, args.curve, seed)
            elif args.models:
                scored = score_models(train, held, embedder)
            elif args.relative:
                scored = score_relative(train, held, embedder, samples)
            elif args.feature_sets:
                scored = score_feature_sets(train, held, embedder, probe)
            else:
                scored = score_variants(train, held, embedder, args.c_values)
            for row in scored:
                row = {"setting": name, "seed": seed, **row}
                rows.append(row)
                print(json.dumps(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    result = {
        "train_file": str(args.train_file),
        "train_points": args.train_points,
        "points": args.points,
        "seconds": round(time.perf_counter() - started),
        "rows": rows,
    }
    suffix = (
        "_points"
        if args.curve
        else "_models"
        if args.models
        else "_dialogue_weights"
        if args.dialogue_weights
        else "_features"
        if args.feature_sets
        else "_relative"
        if args.relative
        else ""
    )
    name = f"tune_stop_head{suffix}.json"
    (args.out / name).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
