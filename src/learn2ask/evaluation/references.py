"""Reference policies scored on the same evaluation points, so a reader sees where the policy
stands between the trivial rules and what the data allows:

- ``always_stop``: replies ``<stop />`` everywhere.
- ``always_ask``: asks one fixed generic question everywhere.
- ``always_ask_best`` (with training samples): asks everywhere the one logged expert question
  with the highest mean R_a over training CONTINUE points, the strongest fixed question a rule
  could ask (in medical logs, "Do you have any other symptoms?"-like questions).
- ``expert``: the logged expert's own next action (the stop tag, or the next question it really
  asked): an upper reference for content.
- ``classifier``: a cheap discriminative reference for the *decision*: logistic regression on
  all-MiniLM-L6-v2 embeddings of the last two turns and of the whole context plus five surface
  features, fitted on balanced points of the training file; it stops when its probability is at
  least 0.5 and otherwise asks the best logged question (the generic one without training
  samples): it has no content of its own.

``references.json`` holds each reference's metrics and the paired difference policy - reference
(bootstrap over dialogues), and the classifier's stop AUC.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from learn2ask.data.sampling import balanced_subset
from learn2ask.data.types import Sample
from learn2ask.evaluation.metrics import compute_metrics, paired_difference, roc_auc
from learn2ask.io import write_json_atomic
from learn2ask.models.stop_head import StopClassifier
from learn2ask.rewards.scorer import RewardScorer
from learn2ask.targets.base import reference_reply

REFERENCES_FILE = "references.json"
GENERIC_QUESTION = "Can you tell me more about that?"


def scored_rows(
    samples: Sequence[Sample], replies: Sequence[str], scorer: RewardScorer
) -> list[dict[str, Any]]:
    """Rollout-like rows (one per sample) for fixed replies."""
    components = scorer.score(list(samples), list(replies))
    return [
        {
            "sample_id": s.id,
            "dialogue_id": s.dialogue_id,
            "decision": s.decision,
            "rollout": 0,
            "response": reply,
            "r_a": c.r_a,
            "r_s": c.r_s,
            "p": c.p,
            "reward": c.reward,
        }
        for s, reply, c in zip(samples, replies, components, strict=True)
    ]


def best_logged_question(
    train_samples: Sequence[Sample], grader: Any, seed: int, limit: int = 1000
) -> str | None:
    """The logged expert question with the highest mean R_a over up to ``limit`` training
    CONTINUE points (a question memory whose neighbours are all of them)."""
    import random

    from learn2ask.models.question_memory import QuestionMemory

    points = [s for s in train_samples if s.decision == "continue" and s.info_set]
    points = random.Random(seed).sample(points, min(limit, len(points)))
    if not points:
        return None
    return QuestionMemory.build(points, grader=grader, with_keys=False).best_overall()


def reference_replies(
    samples: Sequence[Sample],
    stop_tag: str,
    generic_question: str,
    classifier_p_stop: Sequence[float] | None,
    best_question: str | None = None,
) -> dict[str, list[str]]:
    """The reply each reference gives at each sample."""
    replies = {
        "always_stop": [stop_tag] * len(samples),
        "always_ask": [generic_question] * len(samples),
    }
    if best_question:
        replies["always_ask_best"] = [best_question] * len(samples)
    replies["expert"] = [reference_reply(s) for s in samples]
    if classifier_p_stop is not None:
        question = best_question or generic_question
        replies["classifier"] = [stop_tag if p >= 0.5 else question for p in classifier_p_stop]
    return replies


def evaluate_references(
    policy_rows: Sequence[dict[str, Any]],
    samples: Sequence[Sample],
    scorer: RewardScorer,
    out: Path,
    stop_tag: str,
    train_samples: Sequence[Sample] | None = None,
    generic_question: str = GENERIC_QUESTION,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Score every reference on ``samples``, compare with the policy, write references.json."""
    classifier_p: list[float] | None = None
    best_question: str | None = None
    result: dict[str, Any] = {"generic_question": generic_question}
    if train_samples:
        embedder = getattr(scorer.grader, "embed", None) and scorer.grader
        if embedder is None:
            from learn2ask.rewards.scorer import GraderConfig, build_grader

            embedder = build_grader(GraderConfig())
        best_question = best_logged_question(train_samples, embedder, seed)
        result["best_logged_question"] = best_question
        fit_points = balanced_subset(train_samples, 0.5, 1000, seed)
        fitted = StopClassifier(embedder).fit(fit_points)
        classifier_p = fitted.p_stop([s.context for s in samples])
        positives = [p for p, s in zip(classifier_p, samples, strict=True) if s.decision == "stop"]
        negatives = [p for p, s in zip(classifier_p, samples, strict=True) if s.decision != "stop"]
        if positives and negatives:  # a small natural-mix sample may hold one class only
            result["classifier_stop_auc"] = round(roc_auc(positives, negatives), 4)
        result["classifier_train_points"] = len(fit_points)
    for name, replies in reference_replies(
        samples, stop_tag, generic_question, classifier_p, best_question
    ).items():
        rows = scored_rows(samples, replies, scorer)
        result[name] = {
            "metrics": compute_metrics(rows, n_boot=n_boot, seed=seed),
            "policy_minus_reference": paired_difference(
                policy_rows, rows, n_boot=n_boot, seed=seed
            ),
        }
    write_json_atomic(out / REFERENCES_FILE, result)
    return result
