"""The stop head's L2 strength on the fused P(stop), judged on every training dialogue the LM
never trained on, not only on a run's validation carve.

    python -m benchmarks.tune_head_crossfit --run demo_out/runs/decision \
        --train-file demo_out/data/train_mix.jsonl --out DIR [--max-points 1200] [--lexical]

Why: ``benchmarks/tune_run_validation.py`` scores the head's ``C`` on the run's own carve
(10% of the training dialogues: 86-89 MTS-Dialog dialogues in the demo), too few to resolve
differences the size of those between C 0.001 and 0.01. But ``decision_sft`` trains its LM on
``max_samples`` points only (640 of the demo's ~9,000): every training dialogue none of whose
points the LM trained on is as unseen to the LM as the carve. The stop head, though, trains on
4,000 balanced points of those dialogues, so it is refitted here K-fold by dialogue: for each
fold, on the run's own head points minus the fold's dialogues, and scores only that fold.

Scored: balanced points (within each source) of those LM-unseen dialogues and of the carve, up
to ``--max-points``; the LM's P(stop) computed on them by the run's model; the head at each
``--c-values`` cross-fitted as above and fused with the LM as the run fuses (equal weights).
Reported per ``C``: AUC of the fused P(stop) per source with its difference from the run's
``C`` (95% dialogue-bootstrap interval), and the rule cut on it as ``decision_sft`` cuts it
(a Platt fit, the run's own ask-reward estimate as the value of a right question), fitted on
one random half of the dialogues and scored on the other over ``--splits`` halves: mean reward
per point, per dialogue and per dialogue of each source, and each dialogue's held-out reward's
paired difference from the run's ``C`` (95% dialogue-bootstrap interval). At the run's ``C``,
what else the rule could threshold (the LM or the head alone, a fitted fusion, points weighted
per dialogue): held-out balanced accuracy per source, per-dialogue reward against the run's
rule, and against always ``<stop />`` on the carve's dialogues only (the other dialogues are
those the LM's balanced sample missed, fewer of them STOP-heavy: a bias towards any rule); and
the run's rule cut on 100, 200 or 400 calibration points instead of a whole half.
With ``--lexical``, the head's lexical term (``models/lexical_head.py``: TF-IDF of the whole
context, a logistic regression) cross-fitted the same way and fused as a third equal term: its
AUC, the three-term fusion's AUC difference from the run's two terms, the rule cut on each; and
whether it carries to a source it never saw (head and lexical term fitted on MTS-Dialog's head
points alone, scored at ACI-Bench's points). Runs written before the lexical term existed fuse
two terms, so "as run" is that; a run with the term is compared with it as a third term here
too (the cross-fitted one, not the run's own, which saw these dialogues).
A right question is worth the run's own ask-reward estimate everywhere here (no question is
graded: the run's question memory holds these dialogues' own questions).

Writes ``DIR/tune_head_crossfit.json`` (printed) and ``DIR/points.jsonl`` (each point's label,
the LM's logit P(stop) and the cross-fitted head's log-odds at every ``C``), which
``--from-points`` reads back to rescore without the LM (seconds instead of ~11 min).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.tune_lm_rerank import standardised
from benchmarks.tune_run_validation import (
    auc_difference_ci,
    by_source,
    calibrated_rule_rewards,
    decision_reward,
    dialogue_halves,
    dialogue_means,
    equal_fusion,
    platt_stops,
    run_arguments,
    run_splits,
)
from benchmarks.tune_stop_head import fit_and_score
from learn2ask.data.sampling import source_of
from learn2ask.data.types import Sample
from learn2ask.training.threshold import balanced_points


def lm_unseen_points(
    pool: Sequence[Sample], lm_trained: Sequence[Sample], validation: Sequence[Sample]
) -> list[Sample]:
    """Every point of the carve and of the ``pool`` dialogues none of whose points the LM
    trained on (``lm_trained``)."""
    seen = {s.dialogue_id for s in lm_trained}
    return [*validation, *(s for s in pool if s.dialogue_id not in seen)]


def dialogue_folds(points: Sequence[Sample], folds: int, seed: int) -> list[set[str]]:
    """``folds`` disjoint sets of the points' dialogues, seeded."""
    dialogues = sorted({s.dialogue_id for s in points})
    random.Random(seed).shuffle(dialogues)
    return [set(dialogues[k::folds]) for k in range(folds)]


def crossfit(
    train: Sequence[Sample],
    points: Sequence[Sample],
    folds: Sequence[set[str]],
    fit_score: Callable[[list[int], list[int]], Sequence[float]],
) -> list[float]:
    """Each point's score from ``fit_score(train rows, point rows)``, called per fold with the
    ``train`` rows outside the fold's dialogues and the point rows inside them: no point is
    scored by a model that trained on its dialogue."""
    scores = [0.0] * len(points)
    for fold in folds:
        keep = [i for i, s in enumerate(train) if s.dialogue_id not in fold]
        rows = [i for i, s in enumerate(points) if s.dialogue_id in fold]
        if rows:
            for i, z in zip(rows, fit_score(keep, rows), strict=True):
                scores[i] = float(z)
    return scores


def crossfit_head(
    x_train: Any,
    train: Sequence[Sample],
    x_points: Any,
    points: Sequence[Sample],
    folds: Sequence[set[str]],
    c: float,
) -> list[float]:
    """The head's log-odds at each point (features ``x_points``), cross-fitted at ``c`` on
    ``train``'s features ``x_train``."""
    return crossfit(
        train,
        points,
        folds,
        lambda keep, rows: fit_and_score(
            x_train[keep], [train[i].decision == "stop" for i in keep], x_points[rows], c
        ),
    )


def crossfit_lexical(
    train: Sequence[Sample], points: Sequence[Sample], folds: Sequence[set[str]]
) -> list[float]:
    """The head's lexical term's log-odds at each point (``models/lexical_head.py``, as
    ``decision_sft`` fits it), cross-fitted on ``train``."""
    from learn2ask.models.lexical_head import LexicalStopClassifier

    def fit_score(keep: list[int], rows: list[int]) -> list[float]:
        model = LexicalStopClassifier().fit([train[i] for i in keep])
        return model.logits([points[i].context for i in rows])

    return crossfit(train, points, folds, fit_score)


def held_out_decisions(
    columns: Sequence[Sequence[float]],
    points: Sequence[Sample],
    ask_reward: float,
    splits: int,
    weights: Sequence[float] | None = None,
    fit_points: int | None = None,
) -> list[tuple[list[int], list[bool]]]:
    """``(held-out point indices, STOP decisions)`` per half: the rule cut as ``decision_sft``
    cuts it (a Platt fit on ``columns``, each point weighted by ``weights`` when given, and a
    constant ``ask_reward``), fitted on a random half of the dialogues (or on a seeded random
    ``fit_points`` of its points) and applied to the other, over ``splits`` halves (the same
    halves for every call)."""
    is_stop = [s.decision == "stop" for s in points]
    draw = random.Random(1)
    halves = []
    for fit, held in dialogue_halves(points, splits):
        if fit_points is not None and fit_points < len(fit):
            fit = draw.sample(fit, fit_points)
        stops = platt_stops(
            [columns[i] for i in fit],
            [is_stop[i] for i in fit],
            [columns[i] for i in held],
            [ask_reward] * len(held),
            None if weights is None else [weights[i] for i in fit],
        )
        halves.append((held, stops))
    return halves


def dialogue_rewards(
    halves: Sequence[tuple[list[int], list[bool]]], points: Sequence[Sample], ask_reward: float
) -> dict[str, float]:
    """Each dialogue's mean reward under ``halves``' decisions (a right question is worth
    ``ask_reward``), averaged over the halves that held it out."""
    sums: dict[str, list[float]] = {}
    for held, stops in halves:
        chosen = [points[i] for i in held]
        rewards = decision_reward(stops, chosen, [ask_reward] * len(held))
        for dialogue, mean in dialogue_means(rewards, chosen).items():
            sums.setdefault(dialogue, []).append(mean)
    return {d: sum(v) / len(v) for d, v in sums.items()}


def balanced_accuracy_by_source(
    halves: Sequence[tuple[list[int], list[bool]]], points: Sequence[Sample]
) -> dict[str, float]:
    """Balanced accuracy of ``halves``' decisions within each source, pooled over halves."""
    counts: dict[str, list[int]] = {}  # source -> [right STOP, STOP, right CONTINUE, CONTINUE]
    for held, stops in halves:
        for i, stop in zip(held, stops, strict=True):
            row = counts.setdefault(source_of(points[i]), [0, 0, 0, 0])
            truth = points[i].decision == "stop"
            row[0 if truth else 2] += int(stop == truth)
            row[1 if truth else 3] += 1
    return {
        source: round((row[0] / max(1, row[1]) + row[2] / max(1, row[3])) / 2, 4)
        for source, row in sorted(counts.items())
    }


def paired_dialogue_difference(
    a: dict[str, float], b: dict[str, float], dialogues: Sequence[str], draws: int = 2000
) -> dict[str, Any]:
    """Mean over ``dialogues`` of ``a - b`` with a 95% bootstrap interval over dialogues."""
    differences = [a[d] - b[d] for d in dialogues if d in a and d in b]
    if not differences:
        return {"mean": None, "ci": None, "dialogues": 0}
    rng = random.Random(0)
    means = sorted(
        sum(rng.choice(differences) for _ in differences) / len(differences) for _ in range(draws)
    )
    return {
        "mean": round(sum(differences) / len(differences), 4),
        "ci": [round(means[int(0.025 * draws)], 4), round(means[int(0.975 * draws) - 1], 4)],
        "dialogues": len(differences),
    }


def always_stop_by_dialogue(points: Sequence[Sample]) -> dict[str, float]:
    """Each dialogue's mean reward under always ``<stop />`` (4 at its STOP points, else 0)."""
    return dialogue_means([4.0 if s.decision == "stop" else 0.0 for s in points], points)


def per_source_differences(
    a: dict[str, float], b: dict[str, float], points: Sequence[Sample]
) -> dict[str, Any]:
    """``paired_dialogue_difference(a, b)`` over every dialogue and within each source."""
    by_source_dialogues: dict[str, set[str]] = {}
    for s in points:
        by_source_dialogues.setdefault(source_of(s), set()).add(s.dialogue_id)
    return {
        "all": paired_dialogue_difference(a, b, sorted({s.dialogue_id for s in points})),
        **{
            source: paired_dialogue_difference(a, b, sorted(dialogues))
            for source, dialogues in sorted(by_source_dialogues.items())
        },
    }


def equal_sum(*columns: Sequence[float]) -> list[float]:
    """The equal fusion's log-odds before its Platt fit: each column scaled to mean 0 and unit
    spread (as ``stop_head.fusion_weights`` scales them) and summed. Its scale and bias stay
    unfitted here, since the Platt fit on top sets them (fitting them twice moves a few boundary
    decisions by lbfgs' tolerance)."""
    return [sum(row) for row in zip(*(standardised(list(c)) for c in columns), strict=True)]


def rule_variants(
    lm_logits: Sequence[float], head: Sequence[float], points: Sequence[Sample]
) -> dict[str, tuple[list[list[float]], list[float] | None]]:
    """What the rule could threshold, as (Platt columns, point weights): the run's equal
    fusion; the LM or the head alone; both with free weights (``stop_head_fusion: fitted``);
    the equal fusion with each point weighted by 1 / its dialogue's points (the report's
    per-dialogue weighting)."""
    equal = equal_sum(lm_logits, head)
    size: dict[str, int] = {}
    for s in points:
        size[s.dialogue_id] = size.get(s.dialogue_id, 0) + 1
    return {
        "equal fusion (as run)": ([[z] for z in equal], None),
        "LM alone": ([[z] for z in lm_logits], None),
        "head alone": ([[z] for z in head], None),
        "fitted fusion": ([[a, b] for a, b in zip(lm_logits, head, strict=True)], None),
        "equal fusion, points weighted per dialogue": (
            [[z] for z in equal],
            [1.0 / size[s.dialogue_id] for s in points],
        ),
    }


def compare_rules(
    variants: dict[str, tuple[list[list[float]], list[float] | None]],
    points: Sequence[Sample],
    carve: set[str],
    ask_reward: float,
    splits: int,
) -> dict[str, Any]:
    """Each variant's held-out balanced accuracy per source, its per-dialogue reward's paired
    difference from the first variant (every dialogue), and from always ``<stop />`` on the
    carve's dialogues only: the carve is a random draw of dialogues, the rest are those the
    LM's balanced sample happened to miss, fewer of them STOP-heavy, which favours any rule
    over always-stop there."""
    always_stop = always_stop_by_dialogue(points)
    carve_points = [s for s in points if s.dialogue_id in carve]
    rewards = {}
    rows = {}
    for name, (columns, weights) in variants.items():
        halves = held_out_decisions(columns, points, ask_reward, splits, weights)
        rewards[name] = dialogue_rewards(halves, points, ask_reward)
        first = next(iter(rewards.values()))
        rows[name] = {
            "balanced_accuracy": balanced_accuracy_by_source(halves, points),
            "per_dialogue_minus_first": per_source_differences(rewards[name], first, points),
            "carve_per_dialogue_minus_always_stop": per_source_differences(
                rewards[name], always_stop, carve_points
            ),
        }
    return rows


def calibration_size(
    columns: Sequence[Sequence[float]],
    points: Sequence[Sample],
    ask_reward: float,
    splits: int,
    sizes: Sequence[int] = (100, 200, 400),
) -> dict[str, Any]:
    """How many calibration points the cut needs (``decision_sft`` cuts on 200): the rule
    fitted on ``sizes`` random points of each fitted half, against the whole half (about 700
    points here): held-out balanced accuracy per source and per-dialogue reward's difference."""
    whole = held_out_decisions(columns, points, ask_reward, splits)
    whole_rewards = dialogue_rewards(whole, points, ask_reward)
    rows: dict[str, Any] = {
        "whole half": {"balanced_accuracy": balanced_accuracy_by_source(whole, points)}
    }
    for size in sizes:
        halves = held_out_decisions(columns, points, ask_reward, splits, fit_points=size)
        rows[str(size)] = {
            "balanced_accuracy": balanced_accuracy_by_source(halves, points),
            "per_dialogue_minus_whole_half": per_source_differences(
                dialogue_rewards(halves, points, ask_reward), whole_rewards, points
            ),
        }
    return rows


def lexical_study(
    lm_logits: Sequence[float],
    head: Sequence[float],
    lexical: Sequence[float],
    points: Sequence[Sample],
    carve: set[str],
    ask_reward: float,
    splits: int,
) -> dict[str, Any]:
    """The head's lexical term (cross-fitted) as a third equal term of the fusion: its AUC
    alone and the three-term fusion's per source, the fusion's AUC difference from the run's
    two-term one (95% dialogue bootstrap), and the rule cut on each as ``compare_rules``
    scores it."""
    two = equal_sum(lm_logits, head)
    three = equal_sum(lm_logits, head, lexical)
    variants: dict[str, tuple[list[list[float]], list[float] | None]] = {
        "equal fusion (as run)": ([[z] for z in two], None),
        "equal fusion with the lexical term": ([[z] for z in three], None),
        "lexical term alone": ([[z] for z in lexical], None),
    }
    return {
        "lexical_auc": by_source(lexical, points),
        "fused_auc": by_source(three, points),
        "fused_auc_minus_as_run_ci": auc_difference_ci(three, two, points),
        "rules": compare_rules(variants, points, carve, ask_reward, splits),
    }


def lexical_transfer(
    embedder: Any,
    head_train: Sequence[Sample],
    points: Sequence[Sample],
    lm_logits: Sequence[float],
    c: float,
    fitted_on: str = "mts-dialog",
) -> dict[str, Any]:
    """Does the lexical term carry to a source it never saw? The head and the lexical term
    fitted on ``fitted_on``'s head points alone, scored at the other sources' points, fused
    equally with the run's LM (which did train on them) with and without the lexical term."""
    import numpy as np

    from learn2ask.models.lexical_head import LexicalStopClassifier
    from learn2ask.models.stop_head import StopClassifier

    train = [s for s in head_train if source_of(s) == fitted_on]
    rows = [i for i, s in enumerate(points) if source_of(s) != fitted_on]
    held = [points[i] for i in rows]
    features = StopClassifier(embedder).features
    head = fit_and_score(
        np.asarray(features([s.context for s in train])),
        [s.decision == "stop" for s in train],
        np.asarray(features([s.context for s in held])),
        c,
    )
    lexical = LexicalStopClassifier().fit(train).logits([s.context for s in held])
    lm = [lm_logits[i] for i in rows]
    two = equal_sum(lm, head)
    three = equal_sum(lm, head, lexical)
    return {
        "fitted_on": fitted_on,
        "train_points": len(train),
        "points": len(held),
        "lm_auc": by_source(lm, held),
        "head_auc": by_source(list(head), held),
        "lexical_auc": by_source(lexical, held),
        "fused_auc": by_source(two, held),
        "fused_with_lexical_auc": by_source(three, held),
        "with_minus_without_ci": auc_difference_ci(three, two, held),
    }


def c_grid(
    heads: dict[float, list[float]],
    lm_logits: Sequence[float],
    points: Sequence[Sample],
    run_c: float,
    ask_reward: float,
    splits: int,
) -> list[dict[str, Any]]:
    """One row per ``C``: the cross-fitted head and its fusion with the LM, scored as the
    module's docstring says."""
    is_stop = [s.decision == "stop" for s in points]
    fused = {c: equal_fusion(lm_logits, head, is_stop) for c, head in heads.items()}
    asks = [ask_reward] * len(points)
    held = {
        c: dialogue_rewards(
            held_out_decisions([[v] for v in z], points, ask_reward, splits), points, ask_reward
        )
        for c, z in fused.items()
    }
    return [
        {
            "C": c,
            "head_auc": by_source(heads[c], points),
            "fused_auc": by_source(fused[c], points),
            "fused_auc_minus_run_c_ci": auc_difference_ci(fused[c], fused[run_c], points),
            "calibrated_rule": calibrated_rule_rewards(points, fused[c], asks, splits),
            "per_dialogue_minus_run_c": per_source_differences(held[c], held[run_c], points),
        }
        for c in sorted(fused)
    ]


def score_points(
    policy: Any,
    points: Sequence[Sample],
    head_train: Sequence[Sample],
    c_values: Sequence[float],
    folds: Sequence[set[str]],
) -> tuple[list[float], dict[float, list[float]]]:
    """The run's LM's logit P(stop) at ``points`` and the head's cross-fitted log-odds at each
    of ``c_values``."""
    import numpy as np

    from learn2ask.models.stop_head import StopClassifier, logit

    contexts = [s.context for s in points]
    lm_p_stop: list[float] = []
    for start in range(0, len(contexts), 64):  # in chunks, so a long run shows progress
        lm_p_stop += policy.remembered_p_stop(policy.messages(contexts[start : start + 64]))
        print(f"  LM P(stop) {len(lm_p_stop)}/{len(contexts)}", flush=True)
    classifier = StopClassifier(policy.memory.grader)
    x_train = np.asarray(classifier.features([s.context for s in head_train]))
    x_points = np.asarray(classifier.features(contexts))
    heads = {c: crossfit_head(x_train, head_train, x_points, points, folds, c) for c in c_values}
    return [logit(p) for p in lm_p_stop], heads


def write_point_scores(
    path: Path, points: Sequence[Sample], lm_logits: Sequence[float], heads: dict[float, list]
) -> None:
    """One line per scored point: its label, source, the LM's logit P(stop) and the
    cross-fitted head's log-odds at each ``C`` (``--from-points`` reads it back)."""
    with path.open("w", encoding="utf-8") as out:
        for i, s in enumerate(points):
            row = {
                "id": s.id,
                "dialogue_id": s.dialogue_id,
                "source": source_of(s),
                "stop": s.decision == "stop",
                "lm_logit": round(lm_logits[i], 6),
                "head": {str(c): round(scores[i], 6) for c, scores in heads.items()},
            }
            out.write(json.dumps(row) + "\n")


def read_point_scores(
    path: Path, points: Sequence[Sample], c_values: Sequence[float]
) -> tuple[list[float], dict[float, list[float]]]:
    """What :func:`write_point_scores` wrote for the same ``points`` (refused otherwise)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if [r["id"] for r in rows] != [s.id for s in points]:
        raise SystemExit(f"{path}: scored other points than this run's carve and settings give")
    missing = [c for c in c_values if str(c) not in rows[0]["head"]]
    if missing:
        raise SystemExit(f"{path}: no head scores at C {missing}")
    return [r["lm_logit"] for r in rows], {c: [r["head"][str(c)] for r in rows] for c in c_values}


def main(argv: list[str] | None = None) -> None:
    parser = run_arguments(__doc__.splitlines()[0], splits=200)
    parser.add_argument("--max-points", type=int, default=1200)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--lexical",
        action="store_true",
        help="also score the head's lexical term (models/lexical_head.py), cross-fitted",
    )
    parser.add_argument(
        "--from-points", type=Path, help="a points.jsonl of an earlier call: no LM pass, no fits"
    )
    args = parser.parse_args(argv)
    from learn2ask.models.decision import load_deciding_policy
    from learn2ask.training.common import select_samples
    from learn2ask.training.config import TrainConfig

    started = time.perf_counter()
    summary = json.loads((args.run / "training_summary.json").read_text(encoding="utf-8"))
    config = TrainConfig.model_validate({**summary["config"], "train_file": str(args.train_file)})
    pool, validation, settings = run_splits(args.run, args.train_file)
    lm_trained = select_samples(pool, config)
    points = balanced_points(
        lm_unseen_points(pool, lm_trained, validation), args.max_points, settings["seed"]
    )
    policy = load_deciding_policy(str(args.run / "model"))
    run_c = policy.stop_head.classifier.C
    ask_reward = policy.rule.calibration["ask_reward_estimate"]["ask_reward"]
    c_values = sorted({*args.c_values, run_c})
    print(f"{len(points)} points of {len({s.dialogue_id for s in points})} dialogues", flush=True)
    head_train = balanced_points(pool, settings["stop_head_points"], settings["seed"])
    folds = dialogue_folds(points, args.folds, settings["seed"])
    if args.from_points:
        lm_logits, heads = read_point_scores(args.from_points, points, c_values)
    else:
        lm_logits, heads = score_points(policy, points, head_train, c_values, folds)
    carve = {s.dialogue_id for s in validation}
    variants = rule_variants(lm_logits, heads[run_c], points)
    result = {
        "run": str(args.run),
        "points": len(points),
        "points_by_source": {
            source: sum(source_of(s) == source for s in points)
            for source in sorted({source_of(s) for s in points})
        },
        "dialogues": len({s.dialogue_id for s in points}),
        "carve_points": sum(s.dialogue_id in carve for s in points),
        "lm_trained_dialogues": len({s.dialogue_id for s in lm_trained}),
        "run_c": run_c,
        "ask_reward": ask_reward,
        "lm_auc": by_source(lm_logits, points),
        "c_grid": c_grid(heads, lm_logits, points, run_c, ask_reward, args.splits),
        "rules_at_run_c": compare_rules(variants, points, carve, ask_reward, args.splits),
        "calibration_points": calibration_size(
            variants["equal fusion (as run)"][0], points, ask_reward, args.splits
        ),
    }
    if args.lexical:
        lexical = crossfit_lexical(head_train, points, folds)
        study = lexical_study(
            lm_logits, heads[run_c], lexical, points, carve, ask_reward, args.splits
        )
        study["transfer"] = lexical_transfer(
            policy.memory.grader, head_train, points, lm_logits, run_c
        )
        result["lexical"] = study
    result["seconds"] = round(time.perf_counter() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.from_points:
        write_point_scores(args.out / "points.jsonl", points, lm_logits, heads)
    (args.out / "tune_head_crossfit.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
