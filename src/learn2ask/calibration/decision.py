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
interviews' logs are enough to gain (docs/results.md, "How many logged conversations a re-cut
needs").
So the rule also records the re-cut's **cross-fitted gain**: the logs' dialogues split in two,
each half's cut scored against the saved threshold on the other half, a figure of points the
cut never saw (and the same for the sequential cut's expected walk reward, the live
assistant's). Saving the re-cut only where that gain is positive kept 65-97% of the re-cut's
gain on the OSCE interviews and avoided 58-81% of its loss on PriMock57 and on MTS-Dialog
validation dialogues (``benchmarks/recut_curve.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
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
    p_stop_by_kind,
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


@dataclass
class Half:
    """The calibration points and the dialogue paths of one half of the logs' dialogues."""

    points: list[Sample] = field(default_factory=list)
    p_stop: list[float] = field(default_factory=list)
    paths: list[DialoguePath] = field(default_factory=list)

    @property
    def is_stop(self) -> list[bool]:
        return [s.decision == "stop" for s in self.points]


def split_in_halves(
    points: Sequence[Sample], p_stop: Sequence[float], paths: Sequence[DialoguePath]
) -> tuple[list[Half], int]:
    """The two halves (dialogues alternating in sorted order) and how many dialogues there are."""
    dialogues = sorted({s.dialogue_id for s in points} | {p.dialogue_id for p in paths})
    half_of = {d: i % 2 for i, d in enumerate(dialogues)}
    halves = [Half(), Half()]
    for sample, p in zip(points, p_stop, strict=True):
        halves[half_of[sample.dialogue_id]].points.append(sample)
        halves[half_of[sample.dialogue_id]].p_stop.append(p)
    for path in paths:
        halves[half_of[path.dialogue_id]].paths.append(path)
    return halves, len(dialogues)


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
    halves, n_dialogues = split_in_halves(points, p_stop, paths)
    figures = cross_fit_balanced(halves, ask_reward, stop_reward, saved_threshold)
    if figures is None:
        return None
    saved, recut = figures
    result: dict[str, Any] = {
        "criterion": "the logs' dialogues in two halves; each half's cut scored on the other",
        "dialogues": n_dialogues,
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
    walks = None
    if saved_sequential is not None and all(h.paths for h in halves):
        walks = cross_fit_walks(halves, ask_reward, stop_reward, saved_sequential)
    if walks is not None:
        result["sequential"] = {
            "expected_walk_reward": {k: round(v, 4) for k, v in walks.items()},
            "expected_walk_reward_gain": round(walks["recut"] - walks["saved"], 4),
        }
    return result


def cross_fit_balanced(
    halves: list[Half], ask_reward: float, stop_reward: float, saved_threshold: float
) -> tuple[dict[str, float], dict[str, float]] | None:
    """``(saved, re-cut)`` figures (:func:`cut_figures`) pooled over the two halves, each
    half's Platt cut scored on the other; None when a half cannot be cut or scored."""
    saved = {"balanced_accuracy": 0.0, "expected_reward": 0.0}
    recut = dict(saved)
    total = sum(len(h.points) for h in halves)
    for fit, score in (halves, halves[::-1]):
        cut = platt_recut(fit.p_stop, fit.is_stop, ask_reward, stop_reward)
        if cut is None or len(set(score.is_stop)) < 2:
            return None
        weight = len(score.points) / total
        for pooled, threshold in ((saved, saved_threshold), (recut, cut)):
            scored = cut_figures(score.p_stop, score.is_stop, threshold, ask_reward, stop_reward)
            for key, value in scored.items():
                pooled[key] += weight * value
    return saved, recut


def cross_fit_walks(
    halves: list[Half], ask_reward: float, stop_reward: float, saved_sequential: float
) -> dict[str, float] | None:
    """The expected walk reward of the saved and of the re-cut sequential cut, pooled over the
    two halves' dialogues, each half's cut scored on the other's paths; None when one has no
    cut (``cross_fit_balanced`` has checked that both halves hold both kinds of point)."""
    walks = {"saved": 0.0, "recut": 0.0}
    total = sum(len(h.paths) for h in halves)
    for fit, score in (halves, halves[::-1]):
        fitted = sequential_cut(fit.points, fit.p_stop, fit.paths, ask_reward, stop_reward)
        if fitted is None:
            return None
        stops, continues = p_stop_by_kind(score.points, score.p_stop)
        for name, cut in (("saved", saved_sequential), ("recut", fitted[0])):
            walks[name] += (len(score.paths) / total) * walk_reward_at(
                stops, continues, score.paths, cut, ask_reward, stop_reward
            )
    return walks


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
    previous_walk = rule.calibration.get("previous", {}).get("sequential_threshold")
    walk = (
        ""
        if walked is None
        else f"; walked in order (the live assistant's cut {previous_walk} -> "
        f"{rule.sequential_threshold}) {walked['expected_walk_reward_gain']:+.3f} per turn"
    )
    return (
        f"{line}; cross-fitted on two halves of {gain['dialogues']} dialogues: expected reward "
        f"per point {gain['expected_reward_gain']:+.3f}, balanced accuracy "
        f"{accuracy['saved']:.3f} -> {accuracy['recut']:.3f}{walk} ({verdict})"
    )


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
