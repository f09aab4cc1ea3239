"""Wiring for ``evaluate``: build the policy, scorer and configs, then run the evaluations."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from learn2ask.data.samples import load_samples
from learn2ask.data.types import Sample
from learn2ask.errors import ConfigError
from learn2ask.evaluation.replay import ReplayConfig, replay_dialogues
from learn2ask.evaluation.rollouts import EvalConfig, evaluate_policy, select_eval_samples
from learn2ask.evaluation.stop_scores import score_stop_probabilities
from learn2ask.models.backends import LocalPolicy, PolicyBackend, RemotePolicy
from learn2ask.models.client import ClientConfig
from learn2ask.models.generation import GenerationConfig
from learn2ask.models.policy import PolicyPromptConfig
from learn2ask.rewards.fusion import FusionConfig
from learn2ask.rewards.scorer import RewardScorer, build_grader


def build_policy(
    model: str, base_url: str | None, device: str = "auto", prompt: PolicyPromptConfig | None = None
) -> PolicyBackend:
    """A local policy, or a remote one when ``base_url`` is given.

    ``prompt`` replaces the prompt settings saved beside the model (e.g. to show an untrained
    base model the same context budget the trained ones learned with).
    """
    policy: PolicyBackend
    if base_url:
        policy = RemotePolicy(
            ClientConfig(base_url=base_url, model=model), model, PolicyPromptConfig()
        )
    else:
        policy = LocalPolicy.load(model, device=device)
    if prompt is not None:
        policy.prompt_config = prompt
    return policy


def prompt_override(
    policy_prompt: PolicyPromptConfig, max_context_chars: int | None
) -> PolicyPromptConfig | None:
    """The prompt with a new context budget, or None to keep the model's own."""
    if max_context_chars is None:
        return None
    return replace(policy_prompt, max_context_chars=max_context_chars or None)


def build_scorer(
    grader: str,
    fusion: str,
    beta: float,
    grader_file: Path | None = None,
    grader_base_url: str | None = None,
    grader_model: str | None = None,
    cache_path: Path | None = None,
) -> RewardScorer:
    """The reward scorer used to grade rollouts."""
    if grader == "llm":
        if not grader_base_url or not grader_model:
            raise ConfigError("--grader llm needs --grader-base-url and --grader-model")
        content = build_grader(
            "llm",
            client=ClientConfig(base_url=grader_base_url, model=grader_model),
            cache_path=cache_path,
        )
    else:
        content = build_grader("embedding", grader_file=grader_file)
    return RewardScorer(content, FusionConfig(mode=fusion, beta=beta))  # type: ignore[arg-type]


def evaluate_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Run ``evaluate`` as the CLI options describe; returns the per-turn metrics."""
    samples = load_samples(args.samples)
    policy = build_policy(args.model, args.base_url, args.device)
    override = prompt_override(policy.prompt_config, args.max_context_chars)
    if override is not None:
        policy.prompt_config = override
    scorer = build_scorer(
        args.grader,
        args.fusion,
        args.beta,
        args.grader_file,
        args.grader_base_url,
        args.grader_model,
        args.out / "grades.sqlite",
    )
    generation = GenerationConfig(
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        batch_size=args.batch_size,
    )
    config = EvalConfig(
        name=args.name or args.out.name,
        n_rollouts=args.n_rollouts,
        max_samples=args.max_samples,
        balanced=args.balanced,
        seed=args.seed,
        generation=generation,
    )
    if args.stop_probs:  # first: a remote policy fails here, before any rollout is generated
        score_local_stop_probabilities(policy, samples, config, args.out)
    metrics = evaluate_policy(policy, samples, scorer, config, args.out)
    if args.replay:
        embedder = scorer.grader if hasattr(scorer.grader, "embed") else build_grader("embedding")
        replay_dialogues(
            policy,
            samples,
            embedder,
            ReplayConfig(
                max_dialogues=args.replay_dialogues,
                max_turns=args.replay_turns,
                generation=generation,
            ),
            args.out,
        )
    return metrics


def score_local_stop_probabilities(
    policy: PolicyBackend, samples: list[Sample], config: EvalConfig, out: Path
) -> dict[str, Any]:
    """P(stop) on the samples the per-turn evaluation used (``stop_scores.json``)."""
    if not isinstance(policy, LocalPolicy):
        raise ConfigError(
            "--stop-probs needs a local model: an endpoint does not return "
            "the probability of a given reply"
        )
    return score_stop_probabilities(
        policy.generator,
        select_eval_samples(samples, config),
        policy.prompt_config,
        out,
        seed=config.seed,
    )
