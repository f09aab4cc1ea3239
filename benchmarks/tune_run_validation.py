"""What a trained run could still decide better with, measured on its own validation dialogues.

    python -m benchmarks.tune_run_validation --run demo_out/runs/decision \
        --train-file demo_out/data/train_mix.jsonl --out DIR

The run's own carve (its config's ``validation_fraction`` and ``seed``): every balanced point
of the validation dialogues, which neither its LM, its stop head nor its question memory saw
(``decision_sft`` calibrates on 200 of them). Two questions:

1. **The stop head's L2 strength on the quantity the rule thresholds.** For each ``--c-values``
   the head is refitted on the run's own head points (``stop_head_points`` balanced training
   points) and fused with the LM's P(stop) as the run fuses them (equal weights); AUC of the
   fused P(stop) per source, its difference from the run's own ``C`` with a 95% dialogue
   bootstrap interval (``tune_stop_head --c-values`` scores the head alone), and the reward of
   the rule cut on it as ``decision_sft`` cuts it, cross-fitted over the halves below: per
   point, per dialogue, and per dialogue within each source (the report's headline weighting).
2. **The question memory's vote.** Where the memory asks, the chosen question's mean R_a over
   the 50 neighbours it was chosen from is the memory's own estimate of what asking will earn.
   Is it a stop signal (AUC), does it predict the R_a the question earns at the point, and does
   a decision that uses it earn more? Cross-fitted over ``--splits`` random halves of the
   validation dialogues (fitted on one half, scored on the other): the rule as it is (a Platt
   fit of s* on the fused log-odds, a constant ask reward), the ask reward predicted per point
   from the vote, the vote added to the Platt fit, and both; mean reward per point and per
   dialogue (the report's two weightings).

Writes ``DIR/tune_run_validation.json``; prints the tables.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks.tune_stop_head import fit_and_score
from learn2ask.data.samples import load_samples
from learn2ask.data.sampling import source_of
from learn2ask.data.types import Sample
from learn2ask.models.decision import load_deciding_policy
from learn2ask.models.stop_head import StopClassifier, fused_log_odds, fusion_weights, logit
from learn2ask.training.threshold import auc_by_source, balanced_points, split_validation, stop_auc

C_VALUES = (0.0003, 0.001, 0.003, 0.01, 0.03)
RULES = ("as run", "ask value per point", "vote in the fit", "both")


def by_source(scores: Sequence[float], points: Sequence[Sample]) -> dict[str, float]:
    """AUC over every point and within each source."""
    is_stop = [s.decision == "stop" for s in points]
    return {"all": round(stop_auc(scores, is_stop), 4), **auc_by_source(points, scores)}


def auc_difference_ci(
    a: Sequence[float], b: Sequence[float], points: Sequence[Sample], draws: int = 1000
) -> tuple[float, float]:
    """95% dialogue-bootstrap interval of AUC(a) - AUC(b) on the same points."""
    dialogues: dict[str, list[int]] = {}
    for i, s in enumerate(points):
        dialogues.setdefault(s.dialogue_id, []).append(i)
    groups = list(dialogues.values())
    rng = random.Random(0)
    differences = []
    for _ in range(draws):
        rows = [i for _ in groups for i in rng.choice(groups)]
        is_stop = [points[i].decision == "stop" for i in rows]
        if len(set(is_stop)) < 2:
            continue
        differences.append(
            stop_auc([a[i] for i in rows], is_stop) - stop_auc([b[i] for i in rows], is_stop)
        )
    differences.sort()
    return (
        round(differences[int(0.025 * len(differences))], 4),
        round(differences[int(0.975 * len(differences)) - 1], 4),
    )


def equal_fusion(lm: Sequence[float], head: Sequence[float], is_stop: Sequence[bool]) -> list:
    """The fused log-odds as ``decision_sft`` fuses them (equal weights)."""
    return fused_log_odds(fusion_weights([lm, head], is_stop, "equal"), [lm, head])


def head_l2_grid(
    classifier: StopClassifier,
    head_train: Sequence[Sample],
    points: Sequence[Sample],
    lm_logits: Sequence[float],
    c_values: Sequence[float],
    run_c: float,
    rewards_of: Any = None,
) -> list[dict[str, Any]]:
    """One row per ``C``: the head alone and fused with the LM, AUC per source, the fused
    AUC's difference from the run's ``C``, and ``rewards_of(fused log-odds)`` when given."""
    x_train = classifier.features([s.context for s in head_train])
    x_points = classifier.features([s.context for s in points])
    labels = [s.decision == "stop" for s in head_train]
    is_stop = [s.decision == "stop" for s in points]
    fused: dict[float, list[float]] = {}
    heads: dict[float, list[float]] = {}
    for c in sorted({*c_values, run_c}):
        heads[c] = [float(z) for z in fit_and_score(x_train, labels, x_points, c)]
        fused[c] = equal_fusion(lm_logits, heads[c], is_stop)
    return [
        {
            "C": c,
            "head_auc": by_source(heads[c], points),
            "fused_auc": by_source(fused[c], points),
            "fused_minus_run_c": round(
                stop_auc(fused[c], is_stop) - stop_auc(fused[run_c], is_stop), 4
            ),
            "fused_minus_run_c_ci": auc_difference_ci(fused[c], fused[run_c], points),
            **({"calibrated_rule": rewards_of(fused[c])} if rewards_of else {}),
        }
        for c in sorted(fused)
    ]


def memory_votes(memory: Any, contexts: Sequence[Sequence[Any]]) -> tuple[list[str], list[float]]:
    """The memory's question for each context and its vote: the question's mean R_a over the
    neighbours it was chosen from (the memory's own estimate of what asking it earns)."""
    from learn2ask.models.question_memory import tidy_question

    questions, votes = [], []
    for neighbours in memory.nearest(contexts):
        candidates = memory.candidates(neighbours)
        summed = memory.grades_against(memory.item_vectors[candidates], neighbours).sum(dim=1)
        best = int(summed.argmax())
        questions.append(tidy_question(memory.items[candidates[best]]))
        votes.append(float(summed[best]) / len(neighbours))
    return questions, votes


def decision_reward(stop: Sequence[bool], points: Sequence[Sample], ask_rewards: Sequence[float]):
    """Reward per point of stopping where ``stop``: 4 at a STOP point, the graded question's
    reward at a CONTINUE point where it asks, 0 for a wrong decision."""
    return [
        (4.0 if s.decision == "stop" else 0.0)
        if decided
        else (0.0 if s.decision == "stop" else reward)
        for decided, s, reward in zip(stop, points, ask_rewards, strict=True)
    ]


def dialogue_means(values: Sequence[float], points: Sequence[Sample]) -> dict[str, float]:
    """The mean of ``values`` over each dialogue's points."""
    dialogues: dict[str, list[float]] = {}
    for v, s in zip(values, points, strict=True):
        dialogues.setdefault(s.dialogue_id, []).append(v)
    return {d: sum(v) / len(v) for d, v in dialogues.items()}


def weighted_means(rewards: Sequence[float], points: Sequence[Sample]) -> tuple[float, float]:
    """``(mean per point, mean of the dialogues' means)``."""
    per_dialogue = list(dialogue_means(rewards, points).values())
    return sum(rewards) / len(rewards), sum(per_dialogue) / len(per_dialogue)


def platt_stops(
    x_fit: Any,
    y_fit: Sequence[bool],
    x_held: Any,
    ask: Sequence[float],
    weights: Sequence[float] | None = None,
) -> list[bool]:
    """STOP where a Platt fit of s* on ``x_fit``'s columns (each row weighted by ``weights``
    when given) makes stopping (4) worth at least asking (``ask`` per held point), as
    ``training/threshold.py`` cuts."""
    from sklearn.linear_model import LogisticRegression

    platt = LogisticRegression(C=1e6, max_iter=1000).fit(x_fit, list(y_fit), sample_weight=weights)
    q = platt.predict_proba(x_held)[:, 1]
    return [bool(4.0 * p >= (1 - p) * a) for p, a in zip(q, ask, strict=True)]


def constant_ask(fit: list[int], is_stop: Sequence[bool], ask_rewards: Sequence[float]) -> float:
    """The mean reward of the questions at ``fit``'s CONTINUE points."""
    continues = [ask_rewards[i] for i in fit if not is_stop[i]]
    return sum(continues) / len(continues)


def rule_decisions(
    fit: list[int],
    held: list[int],
    fused: Sequence[float],
    votes: Sequence[float],
    is_stop: Sequence[bool],
    ask_rewards: Sequence[float],
) -> dict[str, list[bool]]:
    """The four rules' STOP decisions on ``held``, each fitted on ``fit`` only."""
    import numpy as np

    def columns(rows: list[int], with_vote: bool) -> Any:
        return np.array([[fused[i], votes[i]] if with_vote else [fused[i]] for i in rows])

    y = [is_stop[i] for i in fit]
    continues = [i for i in fit if not is_stop[i]]
    constant = [constant_ask(fit, is_stop, ask_rewards)] * len(held)
    slope, intercept = np.polyfit(
        [votes[i] for i in continues], [ask_rewards[i] for i in continues], 1
    )
    per_point = [slope * votes[i] + intercept for i in held]
    decisions = {}
    for name in RULES:
        with_vote = name in ("vote in the fit", "both")
        ask = per_point if name in ("ask value per point", "both") else constant
        decisions[name] = platt_stops(columns(fit, with_vote), y, columns(held, with_vote), ask)
    return decisions


def dialogue_halves(points: Sequence[Sample], splits: int) -> Iterator[tuple[list[int], list[int]]]:
    """``(fit, held)`` point indices for ``splits`` random halves of the points' dialogues,
    the same halves on every call (seeded)."""
    dialogues = sorted({s.dialogue_id for s in points})
    rng = random.Random(0)
    for _ in range(splits):
        rng.shuffle(dialogues)
        half = set(dialogues[: len(dialogues) // 2])
        yield (
            [i for i, s in enumerate(points) if s.dialogue_id in half],
            [i for i, s in enumerate(points) if s.dialogue_id not in half],
        )


def calibrated_rule_rewards(
    points: Sequence[Sample],
    fused: Sequence[float],
    ask_rewards: Sequence[float],
    splits: int,
) -> dict[str, float]:
    """The rule as ``decision_sft`` cuts it (a Platt fit of s* on the fused log-odds, a
    constant ask reward), fitted on one random half of the dialogues and scored on the other
    over ``splits`` halves (the same halves for every call): mean reward per point, per
    dialogue, and per dialogue within each source (the report's headline is MTS-Dialog's;
    over the halves that hold the source)."""
    is_stop = [s.decision == "stop" for s in points]
    sources = sorted({source_of(s) for s in points})
    totals: dict[str, list[float]] = {}
    for fit, held in dialogue_halves(points, splits):
        stops = platt_stops(
            [[fused[i]] for i in fit],
            [is_stop[i] for i in fit],
            [[fused[i]] for i in held],
            [constant_ask(fit, is_stop, ask_rewards)] * len(held),
        )
        rewards = decision_reward(stops, [points[i] for i in held], [ask_rewards[i] for i in held])
        per_point, per_dialogue = weighted_means(rewards, [points[i] for i in held])
        totals.setdefault("per_point", []).append(per_point)
        totals.setdefault("per_dialogue", []).append(per_dialogue)
        for source in sources:
            mine = [k for k, i in enumerate(held) if source_of(points[i]) == source]
            chosen = [points[held[k]] for k in mine]
            if not chosen:  # a source with few dialogues may have none in this half
                continue
            totals.setdefault(f"per_dialogue_{source}", []).append(
                weighted_means([rewards[k] for k in mine], chosen)[1]
            )
    return {name: round(sum(v) / len(v), 4) for name, v in totals.items()}


def cross_fitted(
    points: Sequence[Sample],
    fused: Sequence[float],
    votes: Sequence[float],
    ask_rewards: Sequence[float],
    splits: int,
) -> dict[str, Any]:
    """The rules' mean rewards (per point and per dialogue) and the fused log-odds' AUC with and
    without the vote, over ``splits`` random halves of the dialogues, each rule fitted on one
    half and scored on the other."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    is_stop = [s.decision == "stop" for s in points]
    totals: dict[str, list[tuple[float, float]]] = {name: [] for name in (*RULES, "always stop")}
    auc_gain: list[float] = []
    for fit, held in dialogue_halves(points, splits):
        held_points = [points[i] for i in held]
        rewards_held = [ask_rewards[i] for i in held]
        decisions = rule_decisions(fit, held, fused, votes, is_stop, ask_rewards)
        decisions["always stop"] = [True] * len(held)
        for name, stop in decisions.items():
            totals[name].append(
                weighted_means(decision_reward(stop, held_points, rewards_held), held_points)
            )
        both = LogisticRegression(C=1e6, max_iter=1000).fit(
            np.array([[fused[i], votes[i]] for i in fit]), [is_stop[i] for i in fit]
        )
        combined = both.decision_function(np.array([[fused[i], votes[i]] for i in held]))
        held_stop = [is_stop[i] for i in held]
        auc_gain.append(
            stop_auc(combined, held_stop) - stop_auc([fused[i] for i in held], held_stop)
        )
    base = np.array(totals["as run"])
    rows = {}
    for name, values in totals.items():
        array = np.array(values)
        rows[name] = {
            "per_point": round(float(array[:, 0].mean()), 4),
            "per_dialogue": round(float(array[:, 1].mean()), 4),
            "minus_as_run_per_point": round(float((array - base)[:, 0].mean()), 4),
            "minus_as_run_per_dialogue": round(float((array - base)[:, 1].mean()), 4),
            "halves_better_per_dialogue": round(float(((array - base)[:, 1] > 0).mean()), 3),
        }
    gains = np.array(auc_gain)
    return {
        "rules": rows,
        "auc_gain_of_the_vote": round(float(gains.mean()), 4),
        "auc_gain_halves_above_0": round(float((gains > 0).mean()), 3),
    }


def run_splits(run: Path, train_file: Path) -> tuple[list[Sample], list[Sample], dict]:
    """``(training pool, validation dialogues' points, decision settings)`` of ``run``'s own
    carve, read from its training summary."""
    config = json.loads((run / "training_summary.json").read_text(encoding="utf-8"))["config"]
    settings = {**config["decision"], "seed": config["seed"]}
    pool, validation = split_validation(
        load_samples(train_file), settings["validation_fraction"], settings["seed"]
    )
    return pool, validation, settings


def run_arguments(description: str, splits: int) -> argparse.ArgumentParser:
    """The options of a benchmark that studies one ``decision_sft`` run: ``--run``,
    ``--train-file``, ``--out``, ``--c-values`` and ``--splits`` (default ``splits``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--run", type=Path, required=True, help="a decision_sft run directory")
    parser.add_argument("--train-file", type=Path, required=True, help="the run's training file")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--c-values", type=float, nargs="+", default=list(C_VALUES))
    parser.add_argument("--splits", type=int, default=splits)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = run_arguments(__doc__.splitlines()[0], splits=300).parse_args(argv)
    from learn2ask.rewards.fusion import FusionConfig
    from learn2ask.rewards.scorer import RewardScorer

    started = time.perf_counter()
    pool, validation, settings = run_splits(args.run, args.train_file)
    points = balanced_points(validation, len(validation), settings["seed"])
    contexts = [s.context for s in points]
    is_stop = [s.decision == "stop" for s in points]
    policy = load_deciding_policy(str(args.run / "model"))  # the saved fusion, as it decides
    lm_p_stop = policy.remembered_p_stop(policy.messages(contexts))
    lm_logits = [logit(p) for p in lm_p_stop]
    fused = [logit(p) for p in policy.stop_head.fuse(lm_p_stop, contexts)]
    embedder = policy.memory.grader
    run_c = policy.stop_head.classifier.C
    head_train = balanced_points(pool, settings["stop_head_points"], settings["seed"])
    questions, votes = memory_votes(policy.memory, contexts)
    scorer = RewardScorer(embedder, FusionConfig(beta=2.0))
    graded = scorer.score(list(points), questions)
    ask_rewards = [c.reward or 0.0 for c in graded]
    grid = head_l2_grid(
        StopClassifier(embedder),
        head_train,
        points,
        lm_logits,
        args.c_values,
        run_c,
        lambda z: calibrated_rule_rewards(points, z, ask_rewards, args.splits),
    )
    continue_r_a = [
        (v, c.r_a or 0.0) for v, c, s in zip(votes, graded, is_stop, strict=True) if not s
    ]
    result = {
        "run": str(args.run),
        "points": len(points),
        "dialogues": len({s.dialogue_id for s in points}),
        "stop_points": sum(is_stop),
        "run_c": run_c,
        "auc": {
            "lm": by_source(lm_logits, points),
            "fused_as_run": by_source(fused, points),
            "minus_vote": by_source([-v for v in votes], points),
        },
        "head_l2_grid": grid,
        "vote_vs_r_a_at_continue_points": {
            "pearson": round(pearson(continue_r_a), 4),
            "mean_vote": round(sum(v for v, _ in continue_r_a) / len(continue_r_a), 4),
            "mean_r_a": round(sum(r for _, r in continue_r_a) / len(continue_r_a), 4),
        },
        "cross_fitted": cross_fitted(points, fused, votes, ask_rewards, args.splits),
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tune_run_validation.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def pearson(pairs: Sequence[tuple[float, float]]) -> float:
    """Pearson correlation of the pairs' two members."""
    import numpy as np

    x, y = np.array(pairs, dtype=float).T
    return float(np.corrcoef(x, y)[0, 1])


if __name__ == "__main__":
    main()
