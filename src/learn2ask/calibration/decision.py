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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from learn2ask.data.types import Sample
from learn2ask.errors import ConfigError
from learn2ask.evaluation.stop_point import DialoguePath
from learn2ask.models.decision import DecisionRule
from learn2ask.training.threshold import ask_reward_of, balanced_points, cut_rule

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
