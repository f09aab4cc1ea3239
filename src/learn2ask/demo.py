"""``learn2ask demo``: the whole pipeline on the embedded defaults, resumable stage by stage.

prepare (bundled MTS-Dialog, and ACI-Bench for full consultations) -> evaluate the base
SmolLM2 -> decision-first SFT on the training dialogues of both, with the STOP threshold
calibrated on held-out training dialogues -> evaluate on the MTS-Dialog test split (balanced
and natural mix), on the ACI-Bench test dialogues (transfer to full consultations), with the
reference policies -> report. A stage whose outputs exist is skipped, so a rerun after an
interruption continues where it stopped (training resumes from its checkpoint).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from learn2ask.commands import Command
from learn2ask.models.policy import PolicyPromptConfig

if TYPE_CHECKING:
    from learn2ask.data.types import Sample
    from learn2ask.models.decision import DecidingPolicy, DecisionRule
    from learn2ask.rewards.scorer import RewardScorer
    from learn2ask.training.config import TrainConfig

DEMO_CONFIGS = {
    "decision": "demo_decision",
    "full": "full_decision",
    "gpu": "gpu_decision",
    "sft": "demo_sft",
    "grpo": "demo_grpo",
}


DATA_DIRS = ("data", "data-aci")
SETTINGS_FILE = "demo_settings.json"


@dataclass(frozen=True)
class DemoSettings:
    """Sizes of the demo (the defaults: about 20 min on 2 CPU cores, more on a loaded machine;
    README)."""

    out: Path
    model: str = "smollm2-135m-instruct"
    # Share of the MTS-Dialog dialogues held out for testing, and the balanced points drawn from
    # them: every STOP point of a 0.2 split (444 points). 200 points of a 0.1 split left the
    # CI over always-stop about +-0.35, wider than the gain the validation split predicts
    # (+0.3); a power simulation on validation figures chose these (README, "How big a test").
    test_fraction: float = 0.2
    eval_samples: int = 600
    # The base column is context, not the claim: 20 points (the untrained model generates at
    # every point: 149 s for 60 on a busy 2-core machine).
    base_samples: int = 20
    natural_samples: int = 200
    # Full consultations: 60 balanced ACI-Bench test points (100 took 62 s of a demo 30 s over
    # 20 minutes, and separated STOP from CONTINUE with AUC 1.000; `--preset full`: 200).
    transfer_samples: int = 60
    replay_dialogues: int = 6
    replay_turns: int = 4
    train_steps: int | None = None
    # Cap on the training points the question memory, the stop head and the classifier
    # reference are fitted on (tests: the embeddings are most of a miniature demo's time).
    fit_points: int | None = None
    max_new_tokens: int = 32
    recipe: str = "decision"
    seed: int | None = None  # training seed (None: the recipe's); evaluation points stay fixed


PRESETS: dict[str, dict[str, object]] = {
    # under 20 minutes on 2 CPU cores, set-up excluded (7-8 min on a quiet hour, 15 min 48 s on
    # a loaded one; README).
    "demo": {},
    # 27-31 minutes on 2 CPU cores (README; 67 with b327628's code): more training data and
    # evaluation points.
    "full": {
        "recipe": "full",
        "base_samples": 100,  # the untrained reference: generation at every point is slow
        "natural_samples": 400,
        "transfer_samples": 200,
        "replay_dialogues": 16,
    },
    # One GPU: every layer trained on every balanced training point (README, GPU recipe).
    "gpu": {
        "recipe": "gpu",
        "base_samples": 200,
        "natural_samples": 400,
        "transfer_samples": 200,
        "replay_dialogues": 16,
    },
}


def _say(message: str, started: float) -> None:
    print(f"[demo {time.perf_counter() - started:6.0f} s] {message}", flush=True)


def bundled_config(method: str) -> Path:
    """Path of a demo training config shipped with the package."""
    from learn2ask.training.config import config_path

    return config_path(DEMO_CONFIGS[method])


def prepare_data(out: Path, started: float, test_fraction: float) -> tuple[Path, Path, Path]:
    """``(train mix, MTS test, ACI test)``: both bundled sets split by dialogue (MTS-Dialog at
    ``test_fraction``, ACI-Bench at prepare's default: 21 test dialogues), the training halves
    concatenated (the test dialogues of either are never trained on)."""
    from learn2ask.data.prepare import PrepareConfig, prepare_dataset, preset_paths
    from learn2ask.targets.qa import QAExtractor

    fractions = (test_fraction, PrepareConfig.test_fraction)  # ACI-Bench: prepare's default
    for name, preset, fraction in zip(DATA_DIRS, ("demo", "aci-bench"), fractions, strict=True):
        if not (out / name / "stats.json").is_file():
            _say(f"prepare: bundled {preset} -> samples with hindsight targets", started)
            config = PrepareConfig(preset_paths(preset), out / name, test_fraction=fraction)
            prepare_dataset(config, QAExtractor())
    mix = out / "data" / "train_mix.jsonl"
    if not mix.is_file():
        from learn2ask.io import write_text_atomic

        parts = [
            (out / d / "train.jsonl").read_text(encoding="utf-8") for d in ("data", "data-aci")
        ]
        write_text_atomic(mix, "".join(parts))
    return mix, out / "data" / "test.jsonl", out / "data-aci" / "test.jsonl"


def check_resumable(settings: DemoSettings) -> None:
    """Record the settings in ``out/demo_settings.json``, or refuse to resume from another run's.

    Stages whose outputs exist are skipped, so resuming into a directory made with another
    preset, seed or size would silently report the old run's figures as the new one's.
    """
    from learn2ask.errors import ConfigError
    from learn2ask.io import write_json_atomic

    path = settings.out / SETTINGS_FILE
    wanted = {k: v for k, v in asdict(settings).items() if k != "out"}
    if not path.is_file():
        write_json_atomic(path, wanted)
        return
    try:
        made = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable ({exc}); remove it or use another --out") from exc
    changed = sorted(k for k in wanted if made.get(k) != wanted[k])
    if changed:
        was = ", ".join(f"{k}={made.get(k)!r}" for k in changed)
        now = ", ".join(f"{k}={wanted[k]!r}" for k in changed)
        raise ConfigError(
            f"{path}: this directory holds a demo made with {was}, not {now}; "
            "its finished stages would be reused: use another --out or remove it"
        )


def run_demo(settings: DemoSettings) -> Path:
    """Run (or resume) every stage; returns the report's HTML path."""
    from learn2ask.evaluation.report import write_report
    from learn2ask.rewards.scorer import GraderConfig, build_scorer
    from learn2ask.training import load_train_config, run_training

    started = time.perf_counter()
    out = settings.out
    check_resumable(settings)
    train, test, transfer = prepare_data(out, started, settings.test_fraction)
    recipe = load_train_config(bundled_config(settings.recipe))
    # The base model sees the prompt the recipe trains with (same context budget), so the
    # comparison measures training, not a different prompt.
    prompt = recipe.prompt.to_policy_config()
    # One scorer for every evaluation and the training: its embedding cache makes the reference
    # classifier's features of the training points (the same points each time) a one-off cost,
    # and those points are among the ones the training's stop head is fitted on (below).
    scorer = build_scorer(GraderConfig())
    train_samples = _training_pool(train, settings, recipe)
    if settings.fit_points:
        train_samples = random.Random(0).sample(
            train_samples, min(settings.fit_points, len(train_samples))
        )
    policies: dict[str, tuple[DecidingPolicy, DecisionRule]] = {}
    evals = [
        _evaluate(
            settings,
            settings.model,
            "base",
            test,
            train_samples,
            started,
            scorer,
            policies,
            prompt=prompt,
            # seeded like the final policy's points, so these are a subset of them
            samples=min(settings.base_samples, settings.eval_samples),
        )
    ]
    policies.pop(settings.model, None)  # the base model is evaluated once: free it for training
    run_dir = out / "runs" / "decision"
    if not (run_dir / "training_summary.json").is_file():
        _say(f"train decision_sft ({bundled_config(settings.recipe).name})", started)
        cap = settings.fit_points
        config = load_train_config(
            bundled_config(settings.recipe),
            [
                f"decision.{name}={cap}"
                for name in ("memory_max_points", "stop_head_points", "validation_points")
            ]
            if cap
            else None,
            train_file=str(train),
            output_dir=str(run_dir),
            model=settings.model,
            max_steps=settings.train_steps,
            seed=settings.seed,
        )
        run_training(config, resume=True, embedder=scorer.grader)  # from its last checkpoint
    final = str(run_dir)
    context = (train_samples, started, scorer, policies)
    evals.append(_evaluate(settings, final, "decision", test, *context))
    natural = _evaluate(settings, final, "decision-natural", test, *context, balanced=False)
    aci = _evaluate(
        settings, final, "decision-aci", transfer, *context, samples=settings.transfer_samples
    )
    _say("report", started)
    report, table = write_report(
        evals,
        out / "report",
        samples_path=test,
        title="learn2ask demo: base vs decision-first SFT (SmolLM2-135M)",
        diff_pairs=(("decision", "base"),),
    )
    for extra, label in ((natural, "natural STOP/CONTINUE mix"), (aci, "ACI-Bench transfer")):
        write_report([extra], out / f"report-{extra.name}", samples_path=None, title=label)
    print()
    print(table)
    print()
    _say(f"done. report: {report}", started)
    return report


def _training_pool(train: Path, settings: DemoSettings, recipe: TrainConfig) -> list[Sample]:
    """The training file's points outside the validation dialogues the recipe carves out (the
    same split as the training's): the reference classifier's points, so that they are among
    the ones the training's stop head embeds (its balanced draw is nested in the head's)."""
    from learn2ask.data.samples import load_samples
    from learn2ask.training.threshold import split_validation

    seed = recipe.seed if settings.seed is None else settings.seed
    return split_validation(load_samples(train), recipe.decision.validation_fraction, seed)[0]


def _evaluate(
    settings: DemoSettings,
    model: str,
    name: str,
    test: Path,
    train_samples: list[Sample],
    started: float,
    scorer: RewardScorer,
    policies: dict[str, tuple[DecidingPolicy, DecisionRule]],
    prompt: PolicyPromptConfig | None = None,
    balanced: bool = True,
    samples: int | None = None,
) -> Path:
    """Evaluate ``model`` into ``out/eval/name`` unless that is done. A model is loaded once
    (``policies``: model -> its policy and balanced rule) for all its evaluations, so a point
    two of them share costs one forward pass (the policy remembers its P(stop))."""
    from learn2ask.data.samples import load_samples
    from learn2ask.evaluation.pipeline import EvalExtras, run_evaluation
    from learn2ask.evaluation.references import REFERENCES_FILE
    from learn2ask.evaluation.replay import ReplayConfig
    from learn2ask.evaluation.rollouts import EvalConfig
    from learn2ask.evaluation.stop_scores import STOP_SCORES_FILE
    from learn2ask.models.decision import DecisionRule, load_deciding_policy
    from learn2ask.models.generation import GenerationConfig

    out = settings.out / "eval" / name
    # Replay only the final policy: the base model's replay added little and cost ~10% of
    # the demo's time.
    replay = settings.replay_dialogues if name == "decision" else 0
    wanted = ["metrics.json", STOP_SCORES_FILE, REFERENCES_FILE]
    if all((out / f).is_file() for f in wanted) and (
        replay == 0 or (out / "replay_metrics.json").is_file()
    ):
        return out
    _say(f"evaluate {name}", started)
    generation = GenerationConfig(max_new_tokens=settings.max_new_tokens, batch_size=8)
    if model not in policies:
        loaded = load_deciding_policy(model, generation=generation, prompt=prompt)
        loaded.share_embedder(scorer.grader)
        policies[model] = (loaded, loaded.rule)
    policy, balanced_rule = policies[model]
    policy.rule = balanced_rule.for_mix(DecisionRule.mix_of(balanced))
    config = EvalConfig(
        name=name,
        max_samples=samples or (settings.eval_samples if balanced else settings.natural_samples),
        balanced=balanced,
        generation=generation,
    )
    extras = EvalExtras(
        stop_probs=True,
        references=True,
        reference_train=train_samples,
        replay=ReplayConfig(
            max_dialogues=replay, max_turns=settings.replay_turns, generation=generation
        )
        if replay
        else None,
    )
    run_evaluation(policy, load_samples(test), scorer, config, out, extras)
    return out


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``learn2ask demo``."""
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="output directory")
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="demo",
        help="demo (under 20 min on 2 CPU cores), full (about 30 min: more data and points) "
        "or gpu (one GPU: every layer on every training point)",
    )
    parser.add_argument("--model", default="smollm2-135m-instruct", help="base policy model")
    parser.add_argument(
        "--eval-samples", type=int, default=None, help="balanced held-out points per evaluation"
    )
    parser.add_argument(
        "--base-samples",
        type=int,
        default=None,
        help="balanced points for the base model (at most --eval-samples; a subset of them)",
    )
    parser.add_argument(
        "--natural-samples",
        type=int,
        default=None,
        help="held-out points in the data's natural STOP/CONTINUE mix (final policy)",
    )
    parser.add_argument(
        "--transfer-samples",
        type=int,
        default=None,
        help="balanced points of the ACI-Bench test dialogues (final policy)",
    )
    parser.add_argument(
        "--replay-dialogues",
        type=int,
        default=None,
        help="dialogues in the replay evaluation (0 = skip)",
    )
    parser.add_argument(
        "--replay-turns", type=int, default=4, help="question limit per replayed dialogue"
    )
    parser.add_argument(
        "--train-steps", type=int, default=None, help="override the recipe's training steps"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="training seed (default: the recipe's); the evaluation points do not change",
    )
    parser.add_argument(
        "--fit-points",
        type=int,
        default=None,
        help="fit the question memory, the stop head, its calibration and the classifier "
        "reference on at most this many training points (default: the recipe's; quick runs)",
    )


def run_demo_command(args: argparse.Namespace) -> int:
    """Entry point of ``learn2ask demo``."""
    sizes = {
        key: value
        for key, value in (
            ("eval_samples", args.eval_samples),
            ("base_samples", args.base_samples),
            ("natural_samples", args.natural_samples),
            ("transfer_samples", args.transfer_samples),
            ("replay_dialogues", args.replay_dialogues),
        )
        if value is not None
    }
    settings = DemoSettings(
        out=args.out,
        model=args.model,
        replay_turns=args.replay_turns,
        train_steps=args.train_steps,
        fit_points=args.fit_points,
        seed=args.seed,
        **{**PRESETS[args.preset], **sizes},  # type: ignore[arg-type]
    )
    if args.preset == "gpu":
        _warn_without_gpu()
    run_demo(settings)
    return 0


def _warn_without_gpu() -> None:
    from learn2ask.models.loading import pick_device

    if pick_device() == "cpu":
        # Still runs (tests and resumable stages do not need a GPU), but hours instead of minutes.
        print(
            "learn2ask demo: --preset gpu and no GPU is visible: training every layer on every "
            "point will take hours on a CPU (--preset full is the longer CPU recipe)",
            file=sys.stderr,
        )


COMMANDS = [
    Command(
        name="demo",
        help="the whole pipeline on the bundled model and data (what `make demo` runs)",
        add_arguments=add_demo_arguments,
        run=run_demo_command,
    )
]
