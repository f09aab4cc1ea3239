"""Does the stop decision depend on how a log splits messages? On validation only.

    python -m benchmarks.tune_segmentation write --samples VALIDATION.jsonl --out VARIANTS/
    learn2ask evaluate --model RUN --samples VALIDATION.jsonl --whole-dialogues --out EVAL/logged
    learn2ask evaluate --model RUN --samples VARIANTS/per_sentence.jsonl --whole-dialogues \
        --out EVAL/per_sentence          # and VARIANTS/joined.jsonl -> EVAL/joined
    python -m benchmarks.tune_segmentation compare --model RUN --samples VALIDATION.jsonl \
        --eval logged=EVAL/logged --eval per_sentence=EVAL/per_sentence --eval joined=EVAL/joined

IM-style logs (RealMedConv, support chats) send one thought per message, so one speaker's turn
arrives as a burst of messages; transcripts give one turn per speaker change. ``write`` makes
two variants of the same decision points: every turn split into one message per sentence
(IM-style), and consecutive messages of one role joined into one turn. ``compare`` reads each
variant's evaluation (the full decision: the prompt, its progress line and context budget, the
stop head) and prints, per source, the fused P(stop)'s AUC, its mean, the share of points at or
above the saved balanced cut, and the walk reward at the sequential cut
(``evaluation/stop_point.py``), matching points by sample id.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.tune_sequential_cut import (
    STOP_REWARD,
    first_above,
    groups_by_source,
    scores_of_rule,
)
from learn2ask.data.samples import load_samples
from learn2ask.data.types import Sample, Turn
from learn2ask.evaluation.metrics import mean, roc_auc
from learn2ask.evaluation.rollouts import ROLLOUTS_FILE, read_rollouts
from learn2ask.evaluation.stop_point import dialogue_paths
from learn2ask.models.decision import DecisionRule, load_decision_rule

SENTENCE_END = re.compile(r"(?<=[.?!])\s+")
Context = list[Turn]


def one_message_per_sentence(context: Sequence[Turn]) -> Context:
    """Each turn split into one message per sentence, same role (IM-style bursts)."""
    split: Context = []
    for turn in context:
        parts = [p for p in SENTENCE_END.split(turn.content) if p.strip()] or [turn.content]
        split += [Turn(role=turn.role, content=part) for part in parts]
    return split


def one_message_per_turn(context: Sequence[Turn]) -> Context:
    """Consecutive messages of one role joined into one turn, as the policy's prompt joins them."""
    joined: Context = []
    for turn in context:
        if joined and joined[-1].role == turn.role:
            joined[-1] = Turn(role=turn.role, content=joined[-1].content + "\n" + turn.content)
        else:
            joined.append(turn)
    return joined


VARIANTS: dict[str, Callable[[Sequence[Turn]], Context]] = {
    "per_sentence": one_message_per_sentence,
    "joined": one_message_per_turn,
}


def write_variants(samples_file: Path, out: Path) -> None:
    """One samples file per variant, the same points with re-segmented contexts."""
    out.mkdir(parents=True, exist_ok=True)
    for name, view in VARIANTS.items():
        with (out / f"{name}.jsonl").open("w", encoding="utf-8") as handle:
            for line in samples_file.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                turns = [Turn(role=t["role"], content=t["content"]) for t in record["context"]]
                record["context"] = [{"role": t.role, "content": t.content} for t in view(turns)]
                handle.write(json.dumps(record) + "\n")
        print(f"wrote {out / name}.jsonl")


def figures(
    samples: Sequence[Sample], p_stop: dict[str, float], rule: DecisionRule, ask: float
) -> dict[str, Any]:
    """AUC, mean P(stop), STOP share at the balanced cut, walk reward at the sequential cut
    (the rule's own fallback when it has none)."""
    stop = [p_stop[s.id] for s in samples if s.decision == "stop"]
    other = [p_stop[s.id] for s in samples if s.decision != "stop"]
    at_cut = partial(first_above, cut=rule.for_mix("sequential").threshold)
    walk = scores_of_rule(dialogue_paths(samples), p_stop, at_cut, ask, STOP_REWARD)
    return {
        "points": len(samples),
        "auc": round(roc_auc(stop, other), 4),
        "mean_p_stop": round(mean([p_stop[s.id] for s in samples]), 4),
        "share_stop": round(mean([float(p_stop[s.id] >= rule.threshold) for s in samples]), 4),
        "walk_reward": walk["walk_reward"],
    }


def compare(model: Path, samples_file: Path, evals: list[str], out: Path | None) -> None:
    """Print (and write) each evaluation's figures per source."""
    rule = load_decision_rule(model / "model")
    if rule is None:
        raise SystemExit(f"{model}: has no decision rule")
    ask = rule.calibration["ask_reward_estimate"]["ask_reward"]
    samples = load_samples(samples_file)
    groups = groups_by_source(samples)
    table: dict[str, Any] = {}
    for spec in evals:
        name, _, directory = spec.partition("=")
        rows = read_rollouts(Path(directory) / ROLLOUTS_FILE)
        p_stop = {r["sample_id"]: r["p_stop"] for r in rows if r["rollout"] == 0}
        missing = [s.id for s in samples if s.id not in p_stop]
        if missing:
            raise SystemExit(
                f"{directory}: no P(stop) for {len(missing)} points, e.g. {missing[0]}"
            )
        table[name] = {g: figures(members, p_stop, rule, ask) for g, members in groups}
        print(
            f"{name:>14} "
            + "  ".join(
                f"{g}: AUC {r['auc']:.3f} mean P(stop) {r['mean_p_stop']:.3f} "
                f"STOP share {r['share_stop']:.3f} walk {r['walk_reward']:.3f}"
                for g, r in table[name].items()
            )
        )
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"rule": rule.__dict__, "evaluations": table}, indent=1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write", help="write the re-segmented samples files")
    write.add_argument("--samples", type=Path, required=True)
    write.add_argument("--out", type=Path, required=True)
    table = commands.add_parser("compare", help="compare the variants' evaluations")
    table.add_argument("--model", type=Path, required=True, help="the run (its saved rule)")
    table.add_argument("--samples", type=Path, required=True, help="the logged samples")
    table.add_argument("--eval", action="append", required=True, help="NAME=EVAL_DIR, repeated")
    table.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.command == "write":
        write_variants(args.samples, args.out)
    else:
        compare(args.model, args.samples, args.eval, args.out)


if __name__ == "__main__":
    main()
