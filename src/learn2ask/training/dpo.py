"""DPO recipe (baseline): prefer the expert's own next action over a worse sampled reply.

For each training sample the starting policy samples ``rejected_candidates`` replies; the one
with the lowest fused reward becomes ``rejected`` if it scores below the expert's action
(``chosen``: the next question the expert asked, or ``<stop />``). Samples where every
candidate scores as well as the expert are left out (counted in the summary).
"""

from __future__ import annotations

from pathlib import Path

from learn2ask.data.replies import reference_reply
from learn2ask.data.types import Sample
from learn2ask.models.generation import GenerationConfig, LocalGenerator
from learn2ask.plugins import METHODS
from learn2ask.rewards.scorer import RewardScorer
from learn2ask.training import common
from learn2ask.training.config import TrainConfig
from learn2ask.training.grpo import build_reward


def preference_pairs(
    samples: list[Sample], generator: LocalGenerator, scorer: RewardScorer, config: TrainConfig
) -> list[dict]:
    """``{"prompt", "chosen", "rejected"}`` rows where a sampled reply is worse than the expert."""
    prompts = [common.prompt_messages(s, config) for s in samples]
    candidates = generator.generate_n(
        prompts,
        config.dpo.rejected_candidates,
        GenerationConfig(
            max_new_tokens=config.max_completion_length,
            temperature=config.dpo.rejected_temperature,
            seed=config.seed,
            batch_size=config.batch_size,
        ),
    )
    stop_tag = config.prompt.load_domain().stop_tag
    chosen = [reference_reply(s, stop_tag) for s in samples]
    flat_samples = [s for s, group in zip(samples, candidates, strict=True) for _ in group]
    flat_replies = [r for group in candidates for r in group]
    scores = scorer.score(flat_samples + samples, flat_replies + chosen)
    chosen_scores = scores[len(flat_replies) :]
    rows = []
    k = config.dpo.rejected_candidates
    for i, sample in enumerate(samples):
        group = list(zip(candidates[i], scores[i * k : (i + 1) * k], strict=True))
        graded = [(r, c.reward) for r, c in group if c.reward is not None]
        best_chosen = chosen_scores[i].reward
        if not graded or best_chosen is None:
            continue
        reply, reward = min(graded, key=lambda pair: pair[1])
        if reward < best_chosen:
            rows.append(
                {
                    "prompt": prompts[i],
                    "chosen": [{"role": "assistant", "content": chosen[i]}],
                    "rejected": [{"role": "assistant", "content": reply}],
                    "sample_id": sample.id,
                }
            )
    return rows


@METHODS.register("dpo")
def run(config: TrainConfig, resume: bool = False) -> Path:
    """Train with DPO; returns the directory of the saved model."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    run = common.start_run(config)
    samples = common.load_training_samples(config)
    # The same grader and fusion GRPO would use (embedding, or a remote LLM judge).
    scorer = build_reward(config, samples).scorer
    rows = preference_pairs(samples, LocalGenerator(run.model, run.tokenizer), scorer, config)
    if not rows:
        raise ValueError("no preference pairs: every sampled reply scored as well as the expert")
    trainer = DPOTrainer(
        model=run.model,
        args=DPOConfig(
            **common.trainer_arguments(config, run.out),
            beta=config.dpo.beta,
            max_length=config.max_length,
        ),
        train_dataset=Dataset.from_list(rows),
        processing_class=run.tokenizer,
        peft_config=common.lora_config(config, run.model),
        callbacks=common.trainer_callbacks(run.out / common.LOG_FILE),
    )
    return common.train_and_save(
        trainer, run, config, resume, {"train_samples": len(samples), "preference_pairs": len(rows)}
    )
