"""Calibrate the STOP threshold of the decision rule on a validation split of the training
dialogues (never the test split), for the expected fused reward on a balanced set of held-out
decision points.

On a balanced set a right ``<stop />`` earns ``R_s (1 + beta) + P = 2 + beta`` (R_a = 1 by the
authors' gating) and a right question ``1 + beta * r + p``, where ``r`` and ``p`` are the mean
content grade and format score of the policy's own questions (from its question memory when it
has one), estimated by asking on validation points and grading. A wrong decision earns 0.
The threshold is where a Platt fit of s* on logit P(stop) makes STOP and ASK worth the same
(:func:`platt_threshold`), and the natural threshold the same with the fit moved to the STOP
share of all validation points (conversations in their natural course); the empirical argmax of
``sum_STOP (2 + beta) [P(stop) >= t] + sum_CONTINUE (1 + beta r + p) [P(stop) < t]`` is kept
for comparison and used when the fit finds no relation.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from learn2ask.data.sampling import balanced_subset, source_of
from learn2ask.data.types import Sample
from learn2ask.evaluation.metrics import roc_auc
from learn2ask.evaluation.stop_point import DialoguePath, dialogue_paths, expected_walk_reward
from learn2ask.models.decision import DecisionRule, stop_token_of
from learn2ask.models.generation import GenerationConfig, LocalGenerator
from learn2ask.models.policy import PolicyPromptConfig, build_policy_messages


def split_validation(
    samples: Sequence[Sample], fraction: float, seed: int
) -> tuple[list[Sample], list[Sample]]:
    """``(train, validation)``: a seeded ``fraction`` of the dialogues goes to validation."""
    dialogues = sorted({s.dialogue_id for s in samples})
    random.Random(seed + 7919).shuffle(dialogues)
    held = set(dialogues[: round(len(dialogues) * fraction)])
    return (
        [s for s in samples if s.dialogue_id not in held],
        [s for s in samples if s.dialogue_id in held],
    )


def balanced_points(samples: Sequence[Sample], limit: int, seed: int) -> list[Sample]:
    """Up to ``limit`` points, half STOP and half CONTINUE within each source, seeded."""
    return balanced_subset(samples, 0.5, limit, seed)


def best_threshold(
    p_stop: Sequence[float], is_stop: Sequence[bool], stop_reward: float, ask_reward: float
) -> tuple[float, float]:
    """``(threshold, mean reward)`` maximising the expected reward; candidates lie midway
    between consecutive distinct P(stop) values (and beyond both ends)."""
    values = sorted(set(p_stop))
    candidates = [0.0, *[(a + b) / 2 for a, b in zip(values, values[1:], strict=False)], 1.0001]
    best = (0.5, float("-inf"))
    for threshold in candidates:
        reward = mean_reward(p_stop, is_stop, threshold, stop_reward, ask_reward)
        if reward > best[1]:
            best = (min(threshold, 1.0), reward)
    return best


def mean_reward(
    p_stop: Sequence[float],
    is_stop: Sequence[bool],
    threshold: float,
    stop_reward: float,
    ask_reward: float,
) -> float:
    """Mean reward of ``P(stop) >= threshold`` when a right STOP earns ``stop_reward``, a right
    question ``ask_reward`` and a wrong decision 0."""
    total = sum(
        (stop_reward if p >= threshold else 0.0) if stop else (ask_reward if p < threshold else 0.0)
        for p, stop in zip(p_stop, is_stop, strict=True)
    )
    return total / max(1, len(p_stop))


def platt_threshold(
    p_stop: Sequence[float],
    is_stop: Sequence[bool],
    stop_reward: float,
    ask_reward: float,
    prior: float | None = None,
) -> float | None:
    """The threshold where a fitted P(STOP | P(stop)) makes stopping and asking worth the same.

    A logistic regression of s* on logit P(stop) (Platt scaling) smooths the 200-odd validation
    points; STOP pays when ``q * stop_reward >= (1 - q) * ask_reward``, i.e. at
    ``q* = ask / (stop + ask)``, which maps back to one P(stop). On 40 draws of 200 validation
    points this threshold varied 2.6x less than the empirical argmax and earned more on the points
    left out (benchmarks/tune_threshold.py, docs/results.md). None when the fit finds no positive
    relation (then the argmax is used).

    ``prior``: the STOP share of the points the rule will decide on, when it differs from the
    fitted points' own share (e.g. conversations in their natural course, fitted on balanced
    points): Bayes' rule moves the fitted log-odds by the difference of the two priors' log-odds.
    """
    fit = platt_fit(p_stop, is_stop)
    return None if fit is None else platt_cut(fit, is_stop, stop_reward, ask_reward, prior)


def platt_fit(p_stop: Sequence[float], is_stop: Sequence[bool]) -> tuple[float, float] | None:
    """``(slope, intercept)`` of logit P(STOP) on logit P(stop); None without a positive one."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    if len(set(is_stop)) < 2:
        return None
    x = np.array([[_logit(p)] for p in p_stop])
    fit = LogisticRegression(C=1e6, max_iter=1000).fit(x, np.array(is_stop, dtype=int))
    slope, intercept = float(fit.coef_[0][0]), float(fit.intercept_[0])
    return (slope, intercept) if slope > 0 else None


def platt_cut(
    fit: tuple[float, float],
    is_stop: Sequence[bool],
    stop_reward: float,
    ask_reward: float,
    prior: float | None = None,
) -> float:
    """The P(stop) where the fitted posterior (moved to ``prior``, see
    :func:`platt_threshold`) makes stopping and asking worth the same."""
    slope, intercept = fit
    if prior is not None:
        intercept += _logit(prior) - _logit(sum(is_stop) / len(is_stop))
    cut = (_logit(ask_reward / (stop_reward + ask_reward)) - intercept) / slope
    return 1.0 / (1.0 + math.exp(-min(max(cut, -700.0), 700.0)))


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def estimate_ask_reward(
    generator: LocalGenerator,
    prompt: PolicyPromptConfig,
    points: Sequence[Sample],
    stop_token_id: int,
    beta: float,
    memory: Any = None,
    grader: Any = None,
) -> dict[str, float]:
    """Mean reward of a right question, from the policy's own questions on ``points`` (chosen
    by its question memory when it has one, as the decision rule will ask them), graded by
    ``grader`` (default: the bundled embedding grader)."""
    from learn2ask.models.decision import LocalDecidingPolicy

    policy = LocalDecidingPolicy(
        name="calibration",
        prompt_config=prompt,
        rule=DecisionRule(stop_token_id=stop_token_id),
        generation=GenerationConfig(max_new_tokens=32),
        memory=memory,
        generator=generator,
    )
    return ask_reward_of(policy, points, beta, grader)


def ask_reward_of(
    policy: Any, points: Sequence[Sample], beta: float, grader: Any = None
) -> dict[str, float]:
    """Mean reward, R_a and P of ``policy``'s questions (``policy.questions``, as its rule asks
    them) on CONTINUE ``points``, graded by ``grader`` (default: the bundled embedding grader)."""
    from learn2ask.models.question_memory import default_grader
    from learn2ask.rewards.fusion import FusionConfig
    from learn2ask.rewards.scorer import RewardScorer

    contexts = [s.context for s in points]
    replies = policy.questions(contexts, policy.messages(contexts)) if contexts else []
    scorer = RewardScorer(grader or default_grader(), FusionConfig(beta=beta))
    graded = [c for c in scorer.score(list(points), replies) if c.reward is not None]
    if not graded:
        return {"ask_reward": 1.0, "r_a": 0.0, "p": 0.0, "n": 0}
    return {
        "ask_reward": sum(c.reward for c in graded) / len(graded),
        "r_a": sum(c.r_a or 0.0 for c in graded) / len(graded),
        "p": sum(c.p for c in graded) / len(graded),
        "n": len(graded),
    }


def calibrate_threshold(
    generator: LocalGenerator,
    prompt: PolicyPromptConfig,
    validation: Sequence[Sample],
    limit: int = 200,
    ask_samples: int = 32,
    beta: float = 2.0,
    seed: int = 0,
    memory: Any = None,
    head_train: Sequence[Sample] | None = None,
    head_fusion: str = "equal",
    head_lexical: bool = True,
    natural_pool: Sequence[Sample] | None = None,
    natural_share: float | None = None,
    embedder: Any = None,
) -> tuple[DecisionRule, Any]:
    """The threshold rule for ``generator``'s model (asking from ``memory`` when given),
    calibrated on ``validation``, and its stop head (None without ``head_train``): fitted on
    ``head_train``, fused with the LM's P(stop) on the calibration points, and the threshold
    cut on the fused P(stop). The natural cut moves the same fit to ``natural_share``, else to
    the STOP share of ``natural_pool`` (every point of the training file: labels only), else of
    ``validation``. ``head_lexical``: the head fuses its lexical term too
    (``models/lexical_head.py``). ``embedder``: the bundled embedding grader, already loaded
    (the stop head's features and the questions' grades; default: the memory's, else a fresh
    one)."""
    from learn2ask.models.question_memory import default_grader

    token_id, token = stop_token_of(generator.tokenizer, prompt.stop_tag)
    points = balanced_points(validation, limit, seed)
    if not points:
        return DecisionRule(stop_token_id=token_id, stop_token=token, calibration={"n": 0}), None
    messages = [build_policy_messages(s.context, prompt) for s in points]
    p_stop = generator.next_token_probs(messages, token_id)
    head, assessment = None, {}
    embedder = embedder or (memory.grader if memory is not None else default_grader())
    if head_train:
        head, p_stop, assessment = fit_stop_head(
            head_train, points, p_stop, embedder, head_fusion, head_lexical
        )
    continues = [s for s in points if s.decision == "continue"][:ask_samples]
    ask = estimate_ask_reward(generator, prompt, continues, token_id, beta, memory, embedder)
    # In a conversation's natural course most expert turns are questions: the same fit, cut
    # for the logs' own STOP share (the live assistant and natural-mix runs). The share is a
    # label count, so every training point estimates it: 10% of the dialogues swung it from
    # 0.36 to 0.53 between two demo runs where the whole file said 0.40 (docs/results.md).
    share_pool = natural_pool or validation
    counted = sum(s.decision == "stop" for s in share_pool) / len(share_pool)
    rule = cut_rule(
        points,
        p_stop,
        ask,
        2.0 + beta,
        counted if natural_share is None else natural_share,
        DecisionRule(stop_token_id=token_id, stop_token=token),
        # The walks' shapes are labels, like the STOP share: every training dialogue's.
        paths=list(dialogue_paths(share_pool).values()),
    )
    rule.calibration.update(
        natural_stop_share_points=len(share_pool),
        natural_stop_share_counted=round(counted, 4),
        **assessment,
    )
    return rule, head


def sequential_cut(
    points: Sequence[Sample],
    p_stop: Sequence[float],
    paths: Sequence[DialoguePath],
    ask_reward: float,
    stop_reward: float,
) -> tuple[float, float] | None:
    """``(cut, expected walk reward)``: the cut whose expected per-turn reward along the
    dialogue ``paths`` (``evaluation.stop_point.walk_reward``) is highest, the policy stopping
    at each CONTINUE and STOP point independently at the rate at which the calibration
    ``points`` of that kind reach the cut. The rates need no model call beyond the calibration
    points' P(stop), the paths only labels; None without both kinds of point or any path.

    Why: walked in order, a conversation ends at the first STOP, so one false STOP early in a
    long visit forfeits every question after it; a per-point cut ignores that. On the demo's
    validation dialogues (seed 0) this estimate and the real walk over every point both put
    the best cut at 0.75 (docs/results.md, "A stop point, not a stop rate: the sequential cut")."""
    stops, continues = p_stop_by_kind(points, p_stop)
    if not stops or not continues or not paths:
        return None
    best: tuple[float, float] | None = None
    for step in range(1, 100):
        cut = step / 100
        value = walk_reward_at(stops, continues, paths, cut, ask_reward, stop_reward)
        if best is None or value > best[1] + 1e-12:
            best = (cut, value)
    return best


def p_stop_by_kind(
    points: Sequence[Sample], p_stop: Sequence[float]
) -> tuple[list[float], list[float]]:
    """The P(stop) of the STOP points and of the CONTINUE points, in that order."""
    stops = [p for p, s in zip(p_stop, points, strict=True) if s.decision == "stop"]
    continues = [p for p, s in zip(p_stop, points, strict=True) if s.decision != "stop"]
    return stops, continues


def walk_reward_at(
    stops: Sequence[float],
    continues: Sequence[float],
    paths: Sequence[DialoguePath],
    cut: float,
    ask_reward: float,
    stop_reward: float,
) -> float:
    """The expected walk reward along ``paths`` of the sequential cut ``cut``, the policy
    stopping at each point at the rate at which the P(stop) of points of its kind (``stops``,
    ``continues``: both non-empty) reach the cut."""
    rate_stop = sum(p >= cut for p in stops) / len(stops)
    rate_continue = sum(p >= cut for p in continues) / len(continues)
    return expected_walk_reward(paths, rate_continue, rate_stop, ask_reward, stop_reward)


def cut_rule(
    points: Sequence[Sample],
    p_stop: Sequence[float],
    ask: dict[str, float],
    stop_reward: float,
    natural_share: float,
    template: DecisionRule,
    paths: Sequence[DialoguePath] = (),
) -> DecisionRule:
    """``template`` with the thresholds cut on ``points`` (balanced) whose P(stop) the rule
    thresholds is ``p_stop``: the Platt cut where stopping is worth at least asking (``ask``:
    :func:`ask_reward_of`'s figures), the argmax when the fit finds no relation, the natural
    cut for a ``natural_share`` of STOP points, and the :func:`sequential_cut` for walks along
    the dialogue ``paths`` (none without them); ``calibration`` says how."""
    is_stop = [s.decision == "stop" for s in points]
    argmax, argmax_reward = best_threshold(p_stop, is_stop, stop_reward, ask["ask_reward"])
    fit = platt_fit(p_stop, is_stop)
    threshold = argmax if fit is None else platt_cut(fit, is_stop, stop_reward, ask["ask_reward"])
    natural = None
    if fit is not None:
        natural = platt_cut(fit, is_stop, stop_reward, ask["ask_reward"], prior=natural_share)
    reward = mean_reward(p_stop, is_stop, threshold, stop_reward, ask["ask_reward"])
    calibration: dict[str, Any] = {
        "split": "validation dialogues carved from the training file (never trained on)",
        "criterion": "expected fused reward: STOP where a Platt fit of s* on logit P(stop) "
        "makes stopping worth at least asking, on balanced validation points",
        "argmax_threshold": round(argmax, 6),
        "argmax_expected_reward": round(argmax_reward, 4),
        "points": len(points),
        "dialogues": len({s.dialogue_id for s in points}),
        "stop_auc": round(stop_auc(p_stop, is_stop), 4),
        "stop_auc_by_source": auc_by_source(points, p_stop),
        "expected_reward": round(reward, 4),
        "ask_reward_estimate": {k: round(v, 4) for k, v in ask.items()},
        "balanced_accuracy": round(balanced_accuracy(p_stop, is_stop, threshold), 4),
        "natural_stop_share": round(natural_share, 4),
    }
    sequential = sequential_cut(points, p_stop, paths, ask["ask_reward"], stop_reward)
    if sequential is not None:
        calibration["sequential"] = {
            "criterion": "expected mean per-turn reward along the dialogues walked in order to "
            "the first STOP, stopping independently at the calibration points' STOP rates",
            "dialogues": len(paths),
            "expected_walk_reward": round(sequential[1], 4),
        }
    return replace(
        template,
        rule="threshold",
        threshold=round(threshold, 6),
        natural_threshold=None if natural is None else round(natural, 6),
        sequential_threshold=None if sequential is None else sequential[0],
        calibration=calibration,
    )


def fit_stop_head(
    train: Sequence[Sample],
    points: Sequence[Sample],
    lm_p_stop: list[float],
    embedder: Any,
    fusion: str = "equal",
    lexical: bool = True,
) -> tuple[Any, list[float], dict[str, Any]]:
    """``(head, fused P(stop) on points, figures)``: the stop head fitted on ``train`` with
    ``embedder``'s features (and its ``lexical`` term) and fused with the LM's P(stop) on the
    calibration ``points`` (``models/stop_head.py``)."""
    from learn2ask.models.stop_head import StopHead, fused_log_odds, sigmoid

    head = StopHead.fit(embedder, train, points, lm_p_stop, fusion, lexical)
    # Each signal's log-odds once (the embeddings are the costly part): the fused P(stop) and
    # each signal's AUC (ranks: log-odds serve as probabilities would) come from them.
    columns = head.log_odds(lm_p_stop, [s.context for s in points])
    fused = [sigmoid(z) for z in fused_log_odds(head.weights, columns)]
    is_stop = [s.decision == "stop" for s in points]
    figures = {
        "assessment": "LM P(stop) fused with the stop head (models/stop_head.py)",
        "stop_auc_lm": round(stop_auc(lm_p_stop, is_stop), 4),
        "stop_auc_head": round(stop_auc(columns[1], is_stop), 4),
        "stop_auc_lm_by_source": auc_by_source(points, lm_p_stop),
    }
    if head.lexical is not None:
        figures["stop_auc_lexical"] = round(stop_auc(columns[2], is_stop), 4)
    return head, fused, figures


def balanced_accuracy(p_stop: Sequence[float], is_stop: Sequence[bool], threshold: float) -> float:
    """Mean of the STOP and CONTINUE accuracies of ``P(stop) >= threshold``."""
    pairs = list(zip(p_stop, is_stop, strict=True))
    stops = [p >= threshold for p, s in pairs if s]
    asks = [p < threshold for p, s in pairs if not s]
    if not stops or not asks:
        return 0.0
    return (sum(stops) / len(stops) + sum(asks) / len(asks)) / 2


def stop_auc(p_stop: Sequence[float], is_stop: Sequence[bool]) -> float:
    """AUC of P(stop) for STOP against CONTINUE points (nan when one class is missing)."""
    positives = [p for p, stop in zip(p_stop, is_stop, strict=True) if stop]
    negatives = [p for p, stop in zip(p_stop, is_stop, strict=True) if not stop]
    return roc_auc(positives, negatives) if positives and negatives else float("nan")


def auc_by_source(points: Sequence[Sample], p_stop: Sequence[float]) -> dict[str, float]:
    """Validation AUC per data source (``meta.format``), when there are several."""
    sources = sorted({source_of(s) for s in points})
    result = {}
    for source in sources if len(sources) > 1 else []:
        pairs = [
            (p, s.decision == "stop")
            for s, p in zip(points, p_stop, strict=True)
            if source_of(s) == source
        ]
        value = stop_auc([p for p, _ in pairs], [stop for _, stop in pairs])
        if value == value:  # not nan: both classes present
            result[source] = round(value, 4)
    return result
