"""Re-cut a trained policy's STOP threshold on logs of the source it will decide on.

A run's threshold is cut on validation dialogues of the sources it was trained on. On another
source the same model can still rank STOP above CONTINUE points while putting every P(stop)
higher or lower: the demo's run gives 0.74-0.95 at every point of the bundled RealMedConv
record (a pharmacist chat; STOP highest), where its threshold is 0.41, so it would stop at
every turn there. Hindsight labels come free with any logs (s* says whether the expert went on
to elicit anything), so a deployer re-cuts the threshold on a few hundred points of their own
prepared logs (their TRAIN split, never the points they report) without retraining: the same
cut as training (``training/threshold.py``: a Platt fit of s* on the P(stop) the rule
thresholds, fused with the stop head when the run has one, where stopping is worth at least
the policy's own questions there), the natural cut for those logs' own STOP share, and the
sequential cut for walks along their dialogues.

Whether to keep the re-cut: where the saved cut already fits a source (PriMock57), a re-cut
earns nothing and costs a little; where P(stop) sits high (the OSCE interviews), five
interviews' logs are enough to gain (README, "How many logged conversations a re-cut needs").
So the rule also records the re-cut's **cross-fitted gain**: the logs' dialogues split in two,
each half's cut scored against the saved threshold on the other half, a figure of points the
cut never saw (and the same for the sequential cut's expected walk reward, the live
assistant's). Saving the re-cut only where that gain is positive kept 65-97% of the re-cut's
gain on the OSCE interviews and avoided 58-81% of its loss on PriMock57 and on MTS-Dialog
validation dialogues (``benchmarks/recut_curve.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from learn2ask.data.types import Sample
from learn2ask.errors import ConfigError
from learn2ask.evaluation.stop_point import DialoguePath
from learn2ask.models.decision import DecisionRule
from learn2ask.training.threshold import (
    ask_reward_of,
    balanced_accuracy,
    balanced_points,
    cut_rule,
    mean_reward,
    platt_cut,
    platt_fit,
    sequential_cut,
    walk_reward_at,
)

MIN_PER_DECISION = 10


def recalibrate_decision(
    policy: Any,
    chosen: Sequence[Sample],
    natural_share: float,
    share_points: int,
    source: str,
    ask_samples: int = 32,
    beta: float = 2.0,
    paths: Sequence[DialoguePath] = (),
) -> DecisionRule:
    """``policy``'s rule with its thresholds cut on ``chosen`` (:func:`decision_points` of the
    new source's prepared logs, named ``source`` in the rule's provenance), its natural cut
    for ``natural_share`` (that file's STOP share, counted on ``share_points``) and its
    sequential cut for walks along that file's dialogue ``paths``; the rule it had is kept
    under ``calibration.previous``. ``policy`` is a deciding policy (``load_deciding_policy``)
    with its saved assessment, so the cut applies to the P(stop) it will threshold."""
    p_stop = policy.stop_probabilities([s.context for s in chosen])
    continues = [s for s in chosen if s.decision == "continue"][:ask_samples]
    grader = policy.memory.grader if policy.memory is not None else None
    ask = ask_reward_of(policy, continues, beta, grader)
    before = policy.rule
    rule = cut_rule(chosen, p_stop, ask, 2.0 + beta, natural_share, before, paths)
    gain = cross_fitted_gain(
        chosen,
        p_stop,
        ask["ask_reward"],
        2.0 + beta,
        before.threshold,
        saved_sequential=before.sequential_threshold,
        paths=paths,
    )
    if gain is not None:
        rule.calibration["cross_fitted"] = gain
    rule.calibration.update(
        split=f"{source}: prepared logs of the source the policy decides on (recalibrated "
        "after training; never the points it is evaluated on)",
        natural_stop_share_points=share_points,
        previous={
            "rule": before.rule,
            "threshold": before.threshold,
            "natural_threshold": before.natural_threshold,
            "sequential_threshold": before.sequential_threshold,
            "split": before.calibration.get("split"),
            "points": before.calibration.get("points"),
        },
    )
    return rule


def platt_recut(
    p_stop: Sequence[float], is_stop: Sequence[bool], ask_reward: float, stop_reward: float
) -> float | None:
    """The balanced cut training and ``calibrate`` take (a Platt fit of s* on P(stop), cut
    where stopping is worth asking); None without both kinds of point or a positive fit."""
    fit = platt_fit(p_stop, is_stop) if len(set(is_stop)) == 2 else None
    return None if fit is None else platt_cut(fit, is_stop, stop_reward, ask_reward)


def cut_figures(
    p_stop: Sequence[float],
    is_stop: Sequence[bool],
    cut: float,
    ask_reward: float,
    stop_reward: float,
) -> dict[str, float]:
    """Balanced accuracy and expected per-point reward of ``P(stop) >= cut``."""
    return {
        "balanced_accuracy": balanced_accuracy(p_stop, is_stop, cut),
        "expected_reward": mean_reward(p_stop, is_stop, cut, stop_reward, ask_reward),
    }


def cross_fitted_gain(
    points: Sequence[Sample],
    p_stop: Sequence[float],
    ask_reward: float,
    stop_reward: float,
    saved_threshold: float,
    saved_sequential: float | None = None,
    paths: Sequence[DialoguePath] = (),
) -> dict[str, Any] | None:
    """What the re-cut earns over the saved cut on dialogues it was not cut on: the dialogues
    of ``points`` and ``paths`` alternate between two halves (in sorted order), each half's
    Platt cut is scored against ``saved_threshold`` on the other half's points, and the two
    halves' figures are pooled; with ``paths`` and a ``saved_sequential`` cut, the same for
    the sequential cut's expected walk reward on the other half's dialogues (``sequential``).
    None when a half lacks STOP or CONTINUE points or its fit finds no relation."""
    dialogues = sorted({s.dialogue_id for s in points} | {p.dialogue_id for p in paths})
    half_of = {d: i % 2 for i, d in enumerate(dialogues)}
    halves: list[tuple[list[Sample], list[float]]] = [([], []), ([], [])]
    for sample, p in zip(points, p_stop, strict=True):
        half = halves[half_of[sample.dialogue_id]]
        half[0].append(sample)
        half[1].append(p)
    paths_of = [[p for p in paths if half_of[p.dialogue_id] == h] for h in (0, 1)]
    pooled = {"saved": {"balanced_accuracy": 0.0, "expected_reward": 0.0}}
    pooled["recut"] = dict(pooled["saved"])
    walks: dict[str, float] | None = (
        {"saved": 0.0, "recut": 0.0} if saved_sequential is not None and all(paths_of) else None
    )
    for fit, score in ((0, 1), (1, 0)):
        (fit_points, fit_p), (score_points, score_p) = halves[fit], halves[score]
        fit_stop = [s.decision == "stop" for s in fit_points]
        score_stop = [s.decision == "stop" for s in score_points]
        cut = platt_recut(fit_p, fit_stop, ask_reward, stop_reward)
        if cut is None or len(set(score_stop)) < 2:
            return None
        weight = len(score_p) / len(points)
        for name, threshold in (("saved", saved_threshold), ("recut", cut)):
            figures = cut_figures(score_p, score_stop, threshold, ask_reward, stop_reward)
            for key, value in figures.items():
                pooled[name][key] += weight * value
        fitted = None
        if walks is not None and saved_sequential is not None:
            fitted = sequential_cut(fit_points, fit_p, paths_of[fit], ask_reward, stop_reward)
        if walks is not None and saved_sequential is not None and fitted is not None:
            share = len(paths_of[score]) / len(paths)
            for name, walk_cut in (("saved", saved_sequential), ("recut", fitted[0])):
                walks[name] += share * walk_reward_at(
                    score_points, score_p, paths_of[score], walk_cut, ask_reward, stop_reward
                )
        else:
            walks = None
    saved, recut = pooled["saved"], pooled["recut"]
    result: dict[str, Any] = {
        "criterion": "the logs' dialogues in two halves; each half's cut scored on the other",
        "dialogues": len(dialogues),
        "expected_reward": {
            "saved": round(saved["expected_reward"], 4),
            "recut": round(recut["expected_reward"], 4),
        },
        "expected_reward_gain": round(recut["expected_reward"] - saved["expected_reward"], 4),
        "balanced_accuracy": {
            "saved": round(saved["balanced_accuracy"], 4),
            "recut": round(recut["balanced_accuracy"], 4),
        },
    }
    if walks is not None:
        result["sequential"] = {
            "expected_walk_reward": {k: round(v, 4) for k, v in walks.items()},
            "expected_walk_reward_gain": round(walks["recut"] - walks["saved"], 4),
        }
    return result


def recut_verdict(rule: DecisionRule) -> str:
    """One line for the person re-cutting: the new threshold and what the cross-fit says."""
    previous = rule.calibration.get("previous", {}).get("threshold")
    line = f"threshold {previous} -> {rule.threshold}"
    gain = rule.calibration.get("cross_fitted")
    if gain is None:
        return f"{line}; too few points in one half of the logs for a cross-fitted check"
    accuracy = gain["balanced_accuracy"]
    verdict = (
        "the re-cut earns more: save it"
        if gain["expected_reward_gain"] > 0
        else "the saved rule earns as much or more: keep it"
    )
    walked = gain.get("sequential")
    walk = (
        ""
        if walked is None
        else f"; walked in order (the live assistant's cut {previous_sequential(rule)} -> "
        f"{rule.sequential_threshold}) {walked['expected_walk_reward_gain']:+.3f} per turn"
    )
    return (
        f"{line}; cross-fitted on two halves of {gain['dialogues']} dialogues: expected reward "
        f"per point {gain['expected_reward_gain']:+.3f}, balanced accuracy "
        f"{accuracy['saved']:.3f} -> {accuracy['recut']:.3f}{walk} ({verdict})"
    )


def previous_sequential(rule: DecisionRule) -> Any:
    """The sequential cut the rule had before this re-cut (None when it had none)."""
    return rule.calibration.get("previous", {}).get("sequential_threshold")


def decision_points(
    samples: Sequence[Sample], source: str, points: int = 200, seed: int = 0
) -> list[Sample]:
    """The balanced points a threshold is cut on; refused (``ConfigError``) with fewer than
    ``MIN_PER_DECISION`` of either kind: a Platt fit on a handful of points separates them
    perfectly and cuts anywhere."""
    chosen = balanced_points(samples, points, seed)
    stops = sum(s.decision == "stop" for s in chosen)
    if min(stops, len(chosen) - stops) < MIN_PER_DECISION:
        in_file = sum(s.decision == "stop" for s in samples)
        raise ConfigError(
            f"{source}: re-cutting a threshold needs at least {MIN_PER_DECISION} STOP and "
            f"{MIN_PER_DECISION} CONTINUE points in the balanced draw; the file has {in_file} "
            f"STOP and {len(samples) - in_file} CONTINUE (more logs, or a larger --points)"
        )
    return chosen
