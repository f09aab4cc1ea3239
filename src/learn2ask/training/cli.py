"""``learn2ask train``: any registered recipe from a YAML config, ``--set`` overrides on top."""

from __future__ import annotations

import argparse
from pathlib import Path

from learn2ask.commands import Command
from learn2ask.domain import bundled_domain_names, bundled_names
from learn2ask.plugins import METHODS
from learn2ask.runs import TrainRun


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``learn2ask train``."""
    from learn2ask.training.config import BUNDLED_CONFIGS

    parser.add_argument(
        "--method",
        default=None,
        help=f"training recipe: {', '.join(METHODS.names())} or a plug-in package.module:run "
        "(overrides the config's 'method')",
    )
    parser.add_argument(
        "--config",
        default=None,
        help="YAML training config: a file, or a shipped one by name "
        f"({', '.join(bundled_names(BUNDLED_CONFIGS))}); defaults otherwise",
    )
    parser.add_argument("--train-file", default=None, help="samples JSONL (overrides config)")
    parser.add_argument("--output", default=None, help="run directory (overrides output_dir)")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after N steps")
    parser.add_argument(
        "--init-from",
        default=None,
        help="start from an earlier run (its OUT/model) or a checkpoint dir",
    )
    parser.add_argument(
        "--model",
        default=None,
        help="base model: bundled name, local dir or hub id (overrides config)",
    )
    parser.add_argument(
        "--domain",
        default=None,
        metavar="NAME|FILE",
        help="domain whose prompt the policy learns (sets prompt.domain; saved with the model): "
        f"{', '.join(bundled_domain_names())} or a domain YAML file",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.SUB=VALUE",
        help="override any config field, e.g. --set lora.r=8 --set grpo.fusion=sum (repeatable)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from the last checkpoint in the run directory",
    )


def run_train(args: argparse.Namespace) -> int:
    """Train and print where the model went."""
    from learn2ask.training import load_train_config, run_training

    overrides = list(args.overrides)
    if args.domain:
        overrides.append(f"prompt.domain={args.domain}")
    config = load_train_config(
        args.config,
        overrides,
        method=args.method,
        train_file=args.train_file,
        output_dir=args.output,
        max_steps=args.max_steps,
        init_from=args.init_from,
        model=args.model,
    )
    try:
        model_dir = run_training(config, resume=args.resume)
    except KeyboardInterrupt:
        print(
            f"interrupted: resume with the same command plus --resume "
            f"(checkpoints in {TrainRun(Path(config.output_dir)).checkpoints})"
        )
        return 130
    print(f"model saved to {model_dir}")
    print(f"summary: {TrainRun(Path(config.output_dir)).summary}")
    return 0


COMMANDS = [
    Command(
        name="train",
        help="train the policy with SFT, DPO or GRPO (Learn-to-Ask rewards)",
        add_arguments=add_train_arguments,
        run=run_train,
    )
]
