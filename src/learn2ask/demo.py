"""``learn2ask demo``: the whole pipeline on the embedded defaults, resumable stage by stage.

prepare (bundled MTS-Dialog) -> evaluate the base SmolLM2 -> SFT warm start -> evaluate ->
GRPO from the SFT model -> evaluate -> report. A stage whose outputs exist is skipped, so a
rerun after an interruption continues where it stopped (training resumes from its checkpoint).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path

from learn2ask.commands import Command
from learn2ask.models.policy import PolicyPromptConfig

DEMO_CONFIGS = {
    "sft": "resources/configs/demo_sft.yaml",
    "grpo": "resources/configs/demo_grpo.yaml",
}


@dataclass(frozen=True)
class DemoSettings:
    """Sizes of the demo (the defaults fit 20 minutes on 2 CPU cores)."""

    out: Path
    model: str = "smollm2-135m-instruct"
    eval_samples: int = 40
    replay_dialogues: int = 6
    replay_turns: int = 4
    stop_score_samples: int = 200
    sft_steps: int | None = None
    grpo_steps: int | None = None
    max_new_tokens: int = 32


def _say(message: str, started: float) -> None:
    print(f"[demo {time.perf_counter() - started:6.0f} s] {message}", flush=True)


def bundled_config(method: str) -> Path:
    """Path of a demo training config shipped with the package."""
    return Path(str(files("learn2ask").joinpath(DEMO_CONFIGS[method])))


def run_demo(settings: DemoSettings) -> Path:
    """Run (or resume) every stage; returns the report's HTML path."""
    from learn2ask.data.prepare import PrepareConfig, prepare_dataset, preset_paths
    from learn2ask.evaluation.report import write_report
    from learn2ask.targets.qa import QAExtractor
    from learn2ask.training import load_train_config, run_training

    started = time.perf_counter()
    out = settings.out
    data = out / "data"
    if not (data / "stats.json").is_file():
        _say("prepare: bundled MTS-Dialog -> samples with hindsight targets", started)
        prepare_dataset(PrepareConfig(inputs=preset_paths("demo"), out=data), QAExtractor())
    test = data / "test.jsonl"

    # The base model sees the prompt the recipe trains with (same context budget), so the
    # comparison measures training, not a different prompt.
    recipe_prompt = load_train_config(bundled_config("sft")).prompt.to_policy_config()
    evals = [_evaluate(settings, settings.model, "base", test, started, prompt=recipe_prompt)]
    for method, init in (("sft", None), ("grpo", out / "runs" / "sft")):
        run_dir = out / "runs" / method
        if not (run_dir / "training_summary.json").is_file():
            _say(f"train {method.upper()} ({bundled_config(method).name})", started)
            config = load_train_config(
                bundled_config(method),
                train_file=str(data / "train.jsonl"),
                output_dir=str(run_dir),
                model=settings.model,
                init_from=str(init) if init else None,
                max_steps=settings.sft_steps if method == "sft" else settings.grpo_steps,
            )
            run_training(config, resume=True)  # from the last complete checkpoint, if any
        evals.append(_evaluate(settings, str(run_dir), method, test, started))

    _say("report", started)
    report, table = write_report(
        evals,
        out / "report",
        samples_path=test,
        title="learn2ask demo: base vs SFT vs SFT+GRPO (SmolLM2-135M)",
        diff_pairs=(("grpo", "sft"), ("grpo", "base")),
    )
    print()
    print(table)
    print()
    _say(f"done. report: {report}", started)
    return report


def _evaluate(
    settings: DemoSettings,
    model: str,
    name: str,
    test: Path,
    started: float,
    prompt: PolicyPromptConfig | None = None,
) -> Path:
    from learn2ask.data.samples import load_samples
    from learn2ask.evaluation.pipeline import (
        build_policy,
        build_scorer,
        score_local_stop_probabilities,
    )
    from learn2ask.evaluation.replay import ReplayConfig, replay_dialogues
    from learn2ask.evaluation.rollouts import EvalConfig, evaluate_policy
    from learn2ask.evaluation.stop_scores import STOP_SCORES_FILE
    from learn2ask.models.generation import GenerationConfig

    out = settings.out / "eval" / name
    if all((out / f).is_file() for f in ("metrics.json", STOP_SCORES_FILE)) and (
        settings.replay_dialogues == 0 or (out / "replay_metrics.json").is_file()
    ):
        return out
    _say(f"evaluate {name}", started)
    samples = load_samples(test)
    policy = build_policy(model, None, prompt=prompt)
    scorer = build_scorer("embedding", "hierarchical", 2.0)
    generation = GenerationConfig(max_new_tokens=settings.max_new_tokens, batch_size=8)
    config = EvalConfig(
        name=name, max_samples=settings.eval_samples, balanced=True, generation=generation
    )
    evaluate_policy(policy, samples, scorer, config, out)
    # One forward pass per sample: cheap enough for a larger set, which the AUC's CI needs.
    score_local_stop_probabilities(
        policy, samples, replace(config, max_samples=settings.stop_score_samples), out
    )
    if settings.replay_dialogues:
        replay_dialogues(
            policy,
            samples,
            scorer.grader,
            ReplayConfig(
                max_dialogues=settings.replay_dialogues,
                max_turns=settings.replay_turns,
                generation=generation,
            ),
            out,
        )
    return out


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``learn2ask demo``."""
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="output directory")
    parser.add_argument("--model", default="smollm2-135m-instruct", help="base policy model")
    parser.add_argument(
        "--eval-samples", type=int, default=40, help="balanced held-out samples per evaluation"
    )
    parser.add_argument(
        "--replay-dialogues",
        type=int,
        default=6,
        help="dialogues in the replay evaluation (0 = skip)",
    )
    parser.add_argument(
        "--replay-turns", type=int, default=4, help="question limit per replayed dialogue"
    )
    parser.add_argument(
        "--stop-score-samples",
        type=int,
        default=200,
        help="balanced held-out samples scored for P(<stop />) per model",
    )
    parser.add_argument("--sft-steps", type=int, default=None, help="override SFT max_steps")
    parser.add_argument("--grpo-steps", type=int, default=None, help="override GRPO max_steps")


def run_demo_command(args: argparse.Namespace) -> int:
    """Entry point of ``learn2ask demo``."""
    run_demo(
        DemoSettings(
            out=args.out,
            model=args.model,
            eval_samples=args.eval_samples,
            replay_dialogues=args.replay_dialogues,
            replay_turns=args.replay_turns,
            stop_score_samples=args.stop_score_samples,
            sft_steps=args.sft_steps,
            grpo_steps=args.grpo_steps,
        )
    )
    return 0


COMMANDS = [
    Command(
        name="demo",
        help="the whole pipeline on the bundled model and data (what `make demo` runs)",
        add_arguments=add_demo_arguments,
        run=run_demo_command,
    )
]
