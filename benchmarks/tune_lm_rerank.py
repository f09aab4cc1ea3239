"""Does the trained policy's own likelihood choose among the question memory's candidates
better than the neighbour vote?

    python -m benchmarks.tune_lm_rerank --run demo_out/runs/decision \
        --train-file demo_out/data/train_mix.jsonl --out DIR

Validation only: the decision points of the dialogues ``decision_sft`` carved out of the
training file for calibration (the same seeded split, so the language model and the memory
never saw them). For each of ``--max-points`` CONTINUE points the memory's ``--top-k`` best
candidates by vote are scored by the run's language model: log P(candidate | the policy
prompt), summed and per token. Choices compared by the mean R_a of the chosen question against
the point's own I* (the embedding grader): the vote (what the memory asks), the likelihood
alone, and vote + lambda x likelihood (both standardised within the point) with lambda chosen
on one half of the points and scored on the other (and the other way round). Writes
``DIR/tune_lm_rerank.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

from learn2ask.data.samples import load_samples
from learn2ask.data.types import Sample
from learn2ask.models.generation import LocalGenerator
from learn2ask.models.policy import build_policy_messages, load_prompt_config
from learn2ask.models.question_memory import QuestionMemory, standardised, tidy_question
from learn2ask.training.threshold import split_validation

LAMBDAS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)


def candidate_rows(
    memory: QuestionMemory, point: Sample, top_k: int
) -> tuple[list[str], list[float], list[float]] | None:
    """``(questions, votes, R_a against the point's own I*)`` of the top-k candidates by vote."""
    neighbours = memory.nearest([point.context])[0]
    candidates = memory.candidates(neighbours)
    if not candidates:
        return None
    vectors = memory.item_vectors[candidates]
    votes = memory.grades_against(vectors, neighbours).sum(dim=1)
    order = votes.argsort(descending=True)[:top_k].tolist()
    own = memory.grader.embed(list(point.info_set)).float()
    r_a = memory.grader.scores(vectors[order] @ own.T).max(dim=1).values
    questions = [tidy_question(memory.items[candidates[i]]) for i in order]
    return questions, [float(votes[i]) for i in order], [float(x) for x in r_a]


def log_likelihoods(
    generator: LocalGenerator, messages: list[dict[str, str]], questions: list[str]
) -> tuple[list[float], list[float]]:
    """``(summed, per-token)`` log P(question as the whole reply | prompt) for each question
    (:meth:`LocalGenerator.reply_logprobs`, what the memory's ``likelihood_weight`` uses)."""
    summed = generator.reply_logprobs(messages, questions)
    end = 1 if generator.tokenizer.eos_token_id is not None else 0
    lengths = [
        len(generator.tokenizer(q, add_special_tokens=False)["input_ids"]) + end for q in questions
    ]
    return summed, [s / n for s, n in zip(summed, lengths, strict=True)]


def chosen_r_a(rows: list[dict[str, Any]], score: str, lam: float) -> float:
    """Mean R_a of the candidate maximising vote_z + lam x score_z at each point."""
    total = 0.0
    for row in rows:
        combined = [
            v + lam * s
            for v, s in zip(standardised(row["votes"]), standardised(row[score]), strict=True)
        ]
        total += row["r_a"][combined.index(max(combined))]
    return total / len(rows)


def main(argv: list[str] | None = None) -> None:
    """Score the candidates, compare the choices, print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--train-file", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--max-points", type=int, default=300)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    model_dir = args.run / "model"
    memory = QuestionMemory.load(model_dir)
    generator = LocalGenerator.from_pretrained(model_dir)
    prompt = load_prompt_config(model_dir)
    _, validation = split_validation(
        load_samples(args.train_file), args.validation_fraction, args.seed
    )
    points = [s for s in validation if s.decision == "continue" and s.info_set]
    random.Random(args.seed + 1).shuffle(points)
    started = time.perf_counter()
    rows = []
    for point in points[: args.max_points]:
        found = candidate_rows(memory, point, args.top_k)
        if found is None:
            continue
        questions, votes, r_a = found
        summed, per_token = log_likelihoods(
            generator, build_policy_messages(point.context, prompt), questions
        )
        rows.append({"votes": votes, "r_a": r_a, "summed": summed, "per_token": per_token})
    halves = (rows[: len(rows) // 2], rows[len(rows) // 2 :])
    result: dict[str, Any] = {
        "points": len(rows),
        "seconds": round(time.perf_counter() - started, 1),
        "vote": round(chosen_r_a(rows, "summed", 0.0), 4),
        "oracle_top_k": round(sum(max(r["r_a"]) for r in rows) / len(rows), 4),
    }
    for score in ("summed", "per_token"):
        result[f"{score}_alone"] = round(chosen_r_a(rows, score, 1e6), 4)
        held_out = []
        for pick, check in (halves, halves[::-1]):
            best = max(LAMBDAS, key=lambda lam, rows=pick: chosen_r_a(rows, score, lam))
            held_out.append((best, chosen_r_a(check, score, best) * len(check)))
        result[f"vote+{score}_cross_fitted"] = round(sum(x for _, x in held_out) / len(rows), 4)
        result[f"vote+{score}_lambdas"] = [lam for lam, _ in held_out]
        result[f"vote+{score}_by_lambda"] = {
            str(lam): round(chosen_r_a(rows, score, lam), 4) for lam in LAMBDAS
        }
    print(json.dumps(result, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tune_lm_rerank.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
