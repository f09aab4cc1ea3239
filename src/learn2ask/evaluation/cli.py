"""``learn2ask evaluate``, ``learn2ask report`` and ``learn2ask question-relevance``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from learn2ask.cli_options import add_question_memory_arguments, add_reward_arguments
from learn2ask.commands import Command
from learn2ask.models.decision import MIXES, QUESTION_SOURCES, RULES
from learn2ask.models.stop_head import ASSESSMENTS


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``learn2ask evaluate``."""
    parser.add_argument(
        "--model",
        required=True,
        help="bundled name, training run dir, checkpoint dir, or (with "
        "--base-url) the model name at the endpoint",
    )
    parser.add_argument("--samples", type=Path, required=True, help="test samples JSONL")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output directory (default: eval/NAME, NAME the run directory's or model's name: "
        "--model runs/grpo writes eval/grpo)",
    )
    parser.add_argument("--name", default=None, help="label in reports (default: OUT's name)")
    parser.add_argument(
        "--base-url", default=None, help="evaluate a policy behind an OpenAI-compatible endpoint"
    )
    parser.add_argument("--n-rollouts", type=int, default=1, help="rollouts per sample")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling")
    parser.add_argument("--max-new-tokens", type=int, default=40, help="reply length cap")
    parser.add_argument("--batch-size", type=int, default=8, help="local generation batch")
    parser.add_argument("--seed", type=int, default=0, help="sampling and selection seed")
    parser.add_argument("--max-samples", type=int, default=None, help="cap on samples")
    selection = parser.add_mutually_exclusive_group()
    selection.add_argument(
        "--balanced", action="store_true", help="equal numbers of CONTINUE and STOP samples"
    )
    selection.add_argument(
        "--whole-dialogues",
        action="store_true",
        help="every point of seeded whole dialogues (up to --max-samples points), decided "
        "with the sequential cut; also writes stop_point.json: where the policy first stops "
        "in each dialogue against the expert, and against stopping at random at its own rate",
    )
    add_reward_arguments(parser, endpoint_prefix="grader-")
    parser.add_argument(
        "--domain",
        default=None,
        metavar="NAME|FILE",
        help="domain to evaluate in: its prompt replaces the one saved beside the model, and it "
        "gives the llm grader its rubric (default: the model's own domain)",
    )
    parser.add_argument(
        "--decision",
        choices=RULES,
        default=None,
        help="decision rule: threshold (STOP when P(stop) >= the calibrated threshold, then "
        "ask with the stop tag banned), greedy or sample (parse a decoded reply); default: "
        "the rule saved beside the model (greedy for untrained models)",
    )
    parser.add_argument(
        "--threshold", type=float, default=None, help="override the saved STOP threshold"
    )
    parser.add_argument(
        "--decision-mix",
        choices=MIXES,
        default=None,
        help="which of the saved thresholds to use: balanced (cut for as many STOP as CONTINUE "
        "points), natural (for points of conversations in their natural course, mostly "
        "questions) or sequential (for a conversation walked in order to its first STOP); "
        "default: balanced with --balanced, sequential with --whole-dialogues, else natural. "
        "Replay always uses sequential",
    )
    parser.add_argument(
        "--questions",
        choices=QUESTION_SOURCES,
        default=None,
        help="where the threshold rule's questions come from: generate (the model writes them), "
        "memory (the logged expert question with the best hindsight R_a in similar contexts) "
        "or memory+generated; default: the model's question memory when it has one",
    )
    add_question_memory_arguments(parser)
    parser.add_argument(
        "--assessment",
        choices=ASSESSMENTS,
        default="saved",
        help="the P(stop) the threshold rule uses: saved (the model's, fused with its stop head "
        "when it has one) or lm (the language model's alone, for comparison)",
    )
    parser.add_argument(
        "--stop-probs",
        action="store_true",
        help="also write stop_scores.json: the P(stop) the decision rule uses, per sample, and "
        "its AUC (local models, or endpoints that return top_logprobs)",
    )
    parser.add_argument(
        "--reference-train",
        type=Path,
        default=None,
        help="training samples for the classifier reference (embeddings + logistic "
        "regression on s*); without it only the rule references are scored",
    )
    parser.add_argument(
        "--no-references",
        action="store_true",
        help="skip the reference policies (always-stop, always-ask, expert, classifier)",
    )
    parser.add_argument(
        "--replay", action="store_true", help="also run the dialogue-level replay evaluation"
    )
    parser.add_argument("--replay-dialogues", type=int, default=16, help="dialogues to replay")
    parser.add_argument("--replay-turns", type=int, default=6, help="question limit per dialogue")
    parser.add_argument(
        "--max-context-chars",
        type=int,
        default=None,
        help="prompt context budget in characters, replacing the one saved "
        "beside the model (0 = whole history)",
    )
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the outputs of an earlier run with other settings in OUT "
        "(default: refuse; the same settings resume)",
    )
    parser.add_argument(
        "--max-failure-rate",
        type=float,
        default=0.0,
        help="share of rollouts that may fail to grade; above it the command exits 3",
    )


def default_eval_dir(model: str) -> Path:
    """``eval/NAME`` for a model: a run directory's name (``runs/grpo`` and ``runs/grpo/model``
    give ``eval/grpo``), else the model's own name with path separators made safe."""
    path = Path(model)
    if path.name == "model" and path.parent.name:
        path = path.parent
    name = path.name if path.exists() else model.strip("/").replace("/", "_").replace(":", "_")
    return Path("eval") / (name or "model")


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate one policy and print its metrics."""
    from learn2ask.data.samples import load_samples
    from learn2ask.errors import check_failure_rate, check_max_failure_rate
    from learn2ask.evaluation.fingerprint import check_fingerprint, evaluation_fingerprint
    from learn2ask.models.registry import check_model_available

    if args.out is None:
        args.out = default_eval_dir(args.model)
    check_max_failure_rate(args.max_failure_rate)
    if not args.base_url:
        check_model_available(args.model)
    # Bad samples stop the command before anything is written to --out (no fingerprint either).
    load_samples(args.samples)
    check_fingerprint(args.out, evaluation_fingerprint(args), args.overwrite)
    from learn2ask.evaluation.pipeline import evaluate_from_args

    metrics = evaluate_from_args(args)
    print(json.dumps({k: v for k, v in metrics.items()}, indent=2))
    print(f"wrote {args.out / 'metrics.json'} and {args.out / 'rollouts.jsonl'}")
    failures = metrics.get("grading_failures") or {}
    check_failure_rate(
        int(failures.get("mean") or 0),
        int(failures.get("n_rollouts") or 0),
        args.max_failure_rate,
        "grading",
    )
    return 0


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``learn2ask report``."""
    parser.add_argument(
        "runs",
        nargs="+",
        type=Path,
        metavar="RUN",
        help="evaluation directories (from learn2ask evaluate)",
    )
    parser.add_argument("--out", type=Path, required=True, help="report directory")
    parser.add_argument(
        "--samples",
        type=Path,
        default=None,
        help="test samples JSONL, to show contexts in the examples",
    )
    parser.add_argument("--title", default="learn2ask evaluation report", help="page title")
    parser.add_argument(
        "--diff",
        action="append",
        default=[],
        metavar="NEW:OLD",
        type=parse_diff_pair,
        help="add a column NEW − OLD (run names) with a paired bootstrap CI; repeatable",
    )


def parse_diff_pair(text: str) -> tuple[str, str]:
    """``"grpo:sft"`` -> ``("grpo", "sft")``."""
    new, sep, old = text.partition(":")
    if not sep or not new or not old:
        raise argparse.ArgumentTypeError(f"expected NEW:OLD run names, got '{text}'")
    return new, old


def run_report(args: argparse.Namespace) -> int:
    """Write the comparison report."""
    from learn2ask.evaluation.report import write_report

    path, table = write_report(args.runs, args.out, args.samples, args.title, args.diff)
    print(table)
    print(f"report: {path}")
    return 0


def add_relevance_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``learn2ask question-relevance``."""
    parser.add_argument("--policy", required=True, help="a run or model with a question memory")
    parser.add_argument(
        "--labels",
        type=Path,
        required=True,
        help="relevance labels: an operator's ratings (learn2ask export-sessions --ratings) or "
        "the repository's benchmarks/results/relevance_labelled/labels.json",
    )
    parser.add_argument(
        "--anchor-weight",
        type=float,
        nargs="+",
        default=[None],
        help="one row per weight (the run's own when not given)",
    )
    parser.add_argument(
        "--likelihood-weight",
        type=float,
        nargs="+",
        default=[None],
        help="one row per weight (the run's own when not given); above 0 loads the run's LM",
    )
    parser.add_argument("--out", type=Path, help="also write DIR/relevance_labels.json")


def run_relevance(args: argparse.Namespace) -> int:
    """Score the run's memory at each setting; print a line per setting (and write them)."""
    from learn2ask.evaluation.relevance import load_labels, score_settings, setting_line
    from learn2ask.io import write_json_atomic
    from learn2ask.models.decision import load_run_memory

    contexts, labels = load_labels(args.labels)  # a bad file costs no model load
    first_scored = next((w for w in args.likelihood_weight if w), None)  # loads the LM if any
    memory = load_run_memory(args.policy, likelihood_weight=first_scored)
    rows = []
    for row in score_settings(memory, contexts, labels, args.anchor_weight, args.likelihood_weight):
        rows.append(row)
        print(setting_line(row), flush=True)
    if args.out is not None:
        result = {"policy": args.policy, "labels": str(args.labels), "rows": rows}
        write_json_atomic(args.out / "relevance_labels.json", result)
    return 0


COMMANDS = [
    Command(
        name="evaluate",
        help="per-turn (and optional replay) evaluation of a policy on held-out samples",
        add_arguments=add_evaluate_arguments,
        run=run_evaluate,
    ),
    Command(
        name="report",
        help="compare evaluation runs side by side (Markdown + self-contained HTML)",
        add_arguments=add_report_arguments,
        run=run_report,
    ),
    Command(
        name="question-relevance",
        help="how often a run asks questions people labelled on the point (operator ratings)",
        add_arguments=add_relevance_arguments,
        run=run_relevance,
    ),
]
