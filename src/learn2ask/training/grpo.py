"""GRPO recipe: sample a group of replies per decision point, reward each with the fused
Learn-to-Ask reward (R_a, R_s, P grounded in the observed future), and update the policy.

Config in, artifacts out (``OUT/model``, ``OUT/train_log.jsonl``, ``OUT/training_summary.json``).
Start from an SFT run with ``init_from``: the base model alone never samples ``<stop />``, so its
groups carry no signal about stopping (see docs/training.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from learn2ask.calibration.report import warn_if_no_agreement
from learn2ask.data.types import Sample
from learn2ask.plugins import METHODS
from learn2ask.rewards.scorer import build_scorer
from learn2ask.rewards.trl_reward import LearnToAskReward
from learn2ask.runs import TrainRun
from learn2ask.training import common
from learn2ask.training.config import TrainConfig


def build_reward(config: TrainConfig, samples: list[Sample]) -> LearnToAskReward:
    """The fused reward function with the configured grader (any registered or plug-in one)."""
    grader = config.grpo.grader_config(
        config.prompt.load_domain(), TrainRun(Path(config.output_dir)).grade_cache
    )
    warn_if_no_agreement(grader.file, grader.kind)  # issue 14: unverified R_a
    return LearnToAskReward(build_scorer(grader), samples)


def build_grpo_dataset(samples: list[Sample], config: TrainConfig):  # noqa: ANN201
    """Conversational prompts with the ``sample_id`` column the reward function looks up."""
    from datasets import Dataset

    return Dataset.from_list(
        [{"prompt": common.prompt_messages(s, config), "sample_id": s.id} for s in samples]
    )


def grpo_arguments(config: TrainConfig, out: Path) -> dict[str, Any]:
    """GRPOConfig arguments from the typed config (vLLM options passed through)."""
    settings = config.grpo
    args = {
        **common.trainer_arguments(config, out),
        "num_generations": settings.num_generations,
        "max_completion_length": config.max_completion_length,
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "beta": settings.kl_beta,
        "use_vllm": settings.use_vllm,
        "log_completions": False,
    }
    if settings.use_vllm:
        args["vllm_mode"] = settings.vllm_mode
        if settings.vllm_server_base_url:
            args["vllm_server_base_url"] = settings.vllm_server_base_url
    return args


@METHODS.register("grpo")
def run(config: TrainConfig, resume: bool = False) -> Path:
    """Train with GRPO; returns the directory of the saved model."""
    from trl import GRPOConfig, GRPOTrainer

    run = common.start_run(config)
    samples = common.load_training_samples(config)
    trainer = GRPOTrainer(
        model=run.model,
        reward_funcs=[build_reward(config, samples)],
        args=GRPOConfig(**grpo_arguments(config, run.out)),
        train_dataset=build_grpo_dataset(samples, config),
        processing_class=run.tokenizer,
        peft_config=common.lora_config(config, run.model),
        callbacks=common.trainer_callbacks(run.out / common.LOG_FILE),
    )
    return common.train_and_save(trainer, run, config, resume, {"train_samples": len(samples)})
