"""SFT recipe: imitate the expert's next action (its next question, or ``<stop />``).

Config in, artifacts out (``OUT/model``, ``OUT/train_log.jsonl``, ``OUT/training_summary.json``).
The target for a CONTINUE sample is the next question the expert really went on to ask (the
first item of I*), not the raw next turn, which is often an acknowledgement ("Okay.") or advice;
for a STOP sample it is the stop tag.
"""

from __future__ import annotations

from pathlib import Path

from learn2ask.targets.base import reference_reply
from learn2ask.training import common
from learn2ask.training.config import TrainConfig


def build_sft_dataset(config: TrainConfig):  # noqa: ANN201 - datasets.Dataset
    """Conversational prompt/completion rows for TRL's SFTTrainer."""
    from datasets import Dataset

    samples = common.load_training_samples(config)
    return Dataset.from_list(
        [
            {
                "prompt": common.prompt_messages(s, config),
                "completion": [{"role": "assistant", "content": reference_reply(s)}],
                "sample_id": s.id,
            }
            for s in samples
        ]
    )


def run(config: TrainConfig, resume: bool = False) -> Path:
    """Train with SFT; returns the directory of the saved model."""
    from trl import SFTConfig, SFTTrainer

    run = common.start_run(config)
    dataset = build_sft_dataset(config)
    args = SFTConfig(
        **common.trainer_arguments(config, run.out),
        max_length=config.max_length,
        completion_only_loss=True,
    )
    trainer = SFTTrainer(
        model=run.model,
        args=args,
        train_dataset=dataset,
        processing_class=run.tokenizer,
        peft_config=common.lora_config(config, run.model),
        callbacks=common.trainer_callbacks(run.out / common.LOG_FILE),
    )
    return common.train_and_save(trainer, run, config, resume, {"train_samples": len(dataset)})
