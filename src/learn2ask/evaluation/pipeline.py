"""Wiring for ``evaluate``: build the policy, scorer and configs, then run the evaluations."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from learn2ask.cli_options import grader_config_from_args
from learn2ask.data.samples import load_samples
from learn2ask.data.types import Sample
from learn2ask.evaluation.references import evaluate_references
from learn2ask.evaluation.replay import ReplayConfig, replay_dialogues
from learn2ask.evaluation.rollouts import (
    ROLLOUTS_FILE,
    EvalConfig,
    evaluate_policy,
    read_rollouts,
    select_eval_samples,
)
from learn2ask.evaluation.stop_point import STOP_POINT_FILE, summarize_stop_point
from learn2ask.evaluation.stop_scores import (
    recut_hint,
    rule_p_stop,
    score_stop_probabilities,
)
from learn2ask.io import write_json_atomic
from learn2ask.models.decision import DecidingPolicy, DecisionRule, load_deciding_policy
from learn2ask.models.generation import GenerationConfig
from learn2ask.models.policy import PolicyPromptConfig, resolve_domain
from learn2ask.rewards.scorer import GraderConfig, RewardScorer, build_grader, build_scorer
from learn2ask.runs import EvalRun


def prompt_override(
    policy_prompt: PolicyPromptConfig, max_context_chars: int | None
) -> PolicyPromptConfig | None:
    """The prompt with a new context budget, or None to keep the model's own."""
    if max_context_chars is None:
        return None
    return replace(policy_prompt, max_context_chars=max_context_chars or None)


def decision_mix(args: argparse.Namespace) -> str:
    """The threshold cut to use: ``--decision-mix``, else the one the sample mix calls for."""
    chosen = getattr(args, "decision_mix", None)
    if chosen is None and getattr(args, "whole_dialogues", False):
        return "sequential"  # walked in order to the first STOP, as the live assistant
    return chosen or DecisionRule.mix_of(args.balanced)


def evaluate_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Run ``evaluate`` as the CLI options describe; returns the per-turn metrics."""
    samples = load_samples(args.samples)
    generation = GenerationConfig(
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        batch_size=args.batch_size,
    )
    policy = load_deciding_policy(
        args.model,
        base_url=args.base_url,
        rule=args.decision,
        threshold=args.threshold,
        generation=generation,
        device=args.device,
        questions=args.questions,
        mix=decision_mix(args),
        assessment=args.assessment,
        anchor_weight=args.anchor_weight,
        likelihood_weight=args.likelihood_weight,
    )
    override = prompt_override(policy.prompt_config, args.max_context_chars)
    if override is not None:
        policy.prompt_config = override
    # The domain saved beside the model, also for an endpoint policy: --model names its local
    # run there too (its prompt, rule and memory come from it), and a run trained on a domain
    # file is known by no bundled name.
    policy.prompt_config, domain = resolve_domain(policy.prompt_config, args.domain, args.model)
    grading = grader_config_from_args(args, EvalRun(args.out).grade_cache, "grader-", domain)
    scorer = build_scorer(grading)
    policy.share_embedder(scorer.grader)
    config = EvalConfig(
        name=args.name or args.out.name,
        n_rollouts=args.n_rollouts,
        max_samples=args.max_samples,
        balanced=args.balanced,
        whole_dialogues=getattr(args, "whole_dialogues", False),
        seed=args.seed,
        generation=generation,
    )
    train = load_samples(args.reference_train) if args.reference_train else None
    return run_evaluation(
        policy,
        samples,
        scorer,
        config,
        args.out,
        EvalExtras(
            stop_probs=args.stop_probs,
            references=not args.no_references,
            reference_train=train,
            replay=ReplayConfig(
                max_dialogues=args.replay_dialogues,
                max_turns=args.replay_turns,
                generation=generation,
            )
            if args.replay
            else None,
        ),
    )


@dataclass(frozen=True)
class EvalExtras:
    """What ``evaluate`` adds to the per-turn metrics."""

    stop_probs: bool = True
    references: bool = True
    reference_train: list[Sample] | None = None
    replay: ReplayConfig | None = None


def run_evaluation(
    policy: DecidingPolicy,
    samples: list[Sample],
    scorer: RewardScorer,
    config: EvalConfig,
    out: Path,
    extras: EvalExtras,
) -> dict[str, Any]:
    """Per-turn evaluation, then P(stop) scores, references and replay as asked; every
    consumer (the CLI, the demo) goes through here."""
    policy.generation = config.generation
    metrics = evaluate_policy(policy, samples, scorer, config, out)
    chosen = select_eval_samples(samples, config)
    chosen_ids = {s.id for s in chosen}
    rows = [r for r in read_rollouts(out / ROLLOUTS_FILE) if r["sample_id"] in chosen_ids]
    if extras.stop_probs:
        # rows of another rule carry no P(stop): rule_p_stop leaves them to be scored
        summary = score_stop_probabilities(
            policy, chosen, out, seed=config.seed, known=rule_p_stop(rows)
        )
        hint = recut_hint(summary) if config.balanced else None  # the balanced cut's own mix
        if hint is not None:
            print(f"  [{config.name}] {hint}", file=sys.stderr, flush=True)
    if extras.references:
        evaluate_references(
            rows,
            chosen,
            scorer,
            out,
            policy.prompt_config.stop_tag,
            train_samples=extras.reference_train,
            seed=config.seed,
        )
    if config.whole_dialogues:
        write_stop_point(rows, chosen, out, extras.reference_train, config)
    if extras.replay is not None:
        embedder = scorer.grader
        if not hasattr(embedder, "embed"):
            embedder = build_grader(GraderConfig())
        # A replayed dialogue is walked in order and ends at the policy's first STOP.
        cut_for_balanced = policy.rule
        policy.rule = cut_for_balanced.for_mix("sequential")
        try:
            replay_dialogues(policy, samples, embedder, extras.replay, out)
        finally:
            policy.rule = cut_for_balanced
    return metrics


def write_stop_point(
    rows: list[dict[str, Any]],
    chosen: list[Sample],
    out: Path,
    train: list[Sample] | None,
    config: EvalConfig,
) -> dict[str, Any]:
    """``stop_point.json`` from the first rollout's decisions at every chosen point."""
    stops = {r["sample_id"]: r["assessment"] == "stop" for r in rows if r["rollout"] == 0}
    summary = summarize_stop_point(chosen, stops, train, n_boot=config.n_boot, seed=config.seed)
    write_json_atomic(out / STOP_POINT_FILE, summary)
    return summary
