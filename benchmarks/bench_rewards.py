"""Graders: can they tell the expert's real next question from another dialogue's (AUC), and
how fast are they (embedding responses/s; async vs one-at-a-time LLM grading; cache hits)."""

from __future__ import annotations

import dataclasses
import random
import tempfile
import time
from pathlib import Path

from benchmarks.common import demo_samples, local_server, row
from learn2ask.data.samples import load_samples
from learn2ask.data.types import Sample
from learn2ask.evaluation.metrics import roc_auc
from learn2ask.models.client import ClientConfig
from learn2ask.rewards.graders.embedding import EmbeddingGrader
from learn2ask.rewards.graders.llm import LLMGrader, LLMGraderConfig
from learn2ask.targets.base import reference_reply


def separation_pairs(samples: list[Sample], limit: int, seed: int = 0) -> list[tuple]:
    """(sample, expert's next question, another dialogue's question) for CONTINUE samples."""
    rng = random.Random(seed)
    pool = [(s.dialogue_id, reference_reply(s)) for s in samples if s.decision == "continue"]
    pairs = []
    for sample in samples:
        if sample.decision != "continue":
            continue
        dialogue, other = rng.choice(pool)
        while dialogue == sample.dialogue_id:
            dialogue, other = rng.choice(pool)
        pairs.append((sample, reference_reply(sample), other))
    rng.shuffle(pairs)
    return pairs[:limit]


def embedding_rows(grader: EmbeddingGrader, pairs: list[tuple]) -> list[dict]:
    samples = [p[0] for p in pairs]
    pos = [g.score for g in grader([p[1] for p in pairs], samples)]
    neg = [g.score for g in grader([p[2] for p in pairs], samples)]
    pos_sim = grader.similarities([p[1] for p in pairs], samples)
    neg_sim = grader.similarities([p[2] for p in pairs], samples)
    # Harder: hide the exact next question from I*, keep the items the expert asked later.
    loo = [
        (dataclasses.replace(s, info_set=[t for t in s.info_set if t != q]), q, o)
        for s, q, o in pairs
    ]
    loo = [p for p in loo if p[0].info_set]
    loo_pos = grader.similarities([p[1] for p in loo], [p[0] for p in loo])
    loo_neg = grader.similarities([p[2] for p in loo], [p[0] for p in loo])
    n = len(pairs)
    return [
        row(
            "grader AUC",
            "embedding R_a (0/0.5/1): real next question vs other dialogue's",
            round(roc_auc(pos, neg), 3),
            "AUC",
            f"{n} test pairs; goal >= 0.75",
        ),
        row(
            "grader AUC",
            "embedding similarity (continuous)",
            round(roc_auc(pos_sim, neg_sim), 3),
            "AUC",
            f"{n} test pairs",
        ),
        row(
            "grader AUC",
            "embedding, next question hidden from I* (harder)",
            round(roc_auc(loo_pos, loo_neg), 3),
            "AUC",
            f"{len(loo)} pairs: only the expert's LATER questions remain in I*",
        ),
    ]


def responses_per_s(grader: EmbeddingGrader, questions: list[str], samples: list[Sample]) -> float:
    """Throughput of one grader call."""
    started = time.perf_counter()
    grader(questions, samples)
    return len(questions) / (time.perf_counter() - started)


def embedding_speed(grader: EmbeddingGrader, samples: list[Sample]) -> list[dict]:
    """Cold (items encoded too) and steady-state (items cached, as in training) throughput."""
    import torch

    continues = [s for s in samples if s.decision == "continue"][:1000]
    questions = [reference_reply(s) for s in continues]
    fresh = EmbeddingGrader()
    cold = responses_per_s(fresh, questions, continues)
    # New question texts each round; the item cache stays warm, as across GRPO steps.
    warm = responses_per_s(fresh, [f"{q} Please say." for q in questions], continues)
    quantized = EmbeddingGrader(dataclasses.replace(fresh.config, quantize_int8=True))
    quantized(questions, continues)  # warm-up and item cache
    int8 = responses_per_s(quantized, [f"{q} Please say." for q in questions], continues)
    agree = sum(
        a.score == b.score
        for a, b in zip(quantized(questions, continues), fresh(questions, continues), strict=True)
    ) / len(questions)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = responses_per_s(fresh, [f"{q} Tell me." for q in questions], continues)
    finally:
        torch.set_num_threads(threads)
    n = len(questions)
    return [
        row(
            "grader speed",
            "embedding, cold item cache",
            round(cold),
            "responses/s",
            f"{n} responses, their I* items encoded too (once per sample set)",
        ),
        row(
            "grader speed",
            "embedding, items cached",
            round(warm),
            "responses/s",
            f"{n} new responses, {threads} threads; goal >= 300",
        ),
        row(
            "grader speed",
            "embedding, items cached, 1 thread",
            round(single),
            "responses/s",
            "robust when other jobs share the cores (2 busy threads stall each other)",
        ),
        row(
            "grader speed",
            "embedding int8 (quantize_int8), items cached",
            round(int8),
            "responses/s",
            f"R_a equal to fp32 on {agree:.0%} of responses",
        ),
    ]


def llm_rows(pairs: list[tuple]) -> list[dict]:
    rows = []
    with local_server() as base_url:

        def grader(concurrency: int, cache: Path) -> LLMGrader:
            client = ClientConfig(
                base_url=base_url,
                model="smollm2-135m-instruct",
                max_concurrency=concurrency,
                timeout_s=300,
            )
            return LLMGrader(
                LLMGraderConfig(client=client, cache_path=cache, max_tokens=48, parse_retries=0)
            )

        speed_pairs = pairs[:16]
        questions, samples = [p[1] for p in speed_pairs], [p[0] for p in speed_pairs]
        timings = {}
        with tempfile.TemporaryDirectory() as tmp:
            for concurrency in (1, 8):
                g = grader(concurrency, Path(tmp) / f"c{concurrency}.sqlite")
                started = time.perf_counter()
                g(questions, samples)
                timings[concurrency] = time.perf_counter() - started
            rerun = grader(8, Path(tmp) / "c8.sqlite")
            started = time.perf_counter()
            rerun(questions, samples)
            cached = time.perf_counter() - started
            rows += [
                row(
                    "grader speed",
                    "LLM grader, one request at a time",
                    round(len(questions) / timings[1], 2),
                    "responses/s",
                    "local serve-model, SmolLM2-135M judge",
                ),
                row(
                    "grader speed",
                    "LLM grader, async concurrency 8",
                    round(len(questions) / timings[8], 2),
                    "responses/s",
                ),
                row(
                    "grader speed",
                    "LLM grader async / sequential",
                    round(timings[1] / timings[8], 2),
                    "x",
                    "server batches concurrent requests",
                ),
                row(
                    "grader speed",
                    "LLM grader rerun from cache: model calls",
                    rerun.stats["model_calls"],
                    "calls",
                    f"{rerun.stats['cache_hits']} cache hits in {cached:.2f} s; failed grades "
                    "are never cached, so they are asked again",
                ),
            ]
            auc_pairs = pairs[:30]
            g = grader(8, Path(tmp) / "auc.sqlite")
            pos = g([p[1] for p in auc_pairs], [p[0] for p in auc_pairs])
            neg = g([p[2] for p in auc_pairs], [p[0] for p in auc_pairs])
        ok = [
            (a.score, b.score)
            for a, b in zip(pos, neg, strict=True)
            if a.score is not None and b.score is not None
        ]
        failures = sum(r.score is None for r in pos + neg)
        value = round(roc_auc([a for a, _ in ok], [b for _, b in ok]), 3) if ok else "n/a"
        rows.append(
            row(
                "grader AUC",
                "LLM rubric, SmolLM2-135M as judge",
                value,
                "AUC",
                f"{len(ok)} pairs graded, {failures}/{2 * len(auc_pairs)} grading "
                "failures (a 135M judge is far too small; use a real judge model)",
            )
        )
    return rows


def run() -> list[dict]:
    """All grader figures."""
    test = load_samples(demo_samples() / "test.jsonl")
    grader = EmbeddingGrader()
    pairs = separation_pairs(test, limit=400)
    return (
        embedding_rows(grader, pairs)
        + embedding_speed(grader, test)
        + context_embedding_rows()
        + llm_rows(pairs)
    )


def context_embedding_rows(n: int = 400) -> list[dict]:
    """The stop head's whole-context texts of ``n`` ACI-Bench training points (long visits),
    encoded one by one against :meth:`EmbeddingGrader.embed`, which encodes once the texts that
    share the encoder's 256-token window; side by side, each with a cold cache."""
    contexts = load_samples(demo_samples("aci-bench") / "train.jsonl")
    texts = [" ".join(t.content for t in s.context) for s in random.Random(0).sample(contexts, n)]
    rows = []
    for label, window_dedupe in (("every text", False), ("once per 256-token window", True)):
        grader = EmbeddingGrader()
        encode = grader.embed if window_dedupe else grader.model.encode
        started = time.perf_counter()
        encode(texts)
        rows.append(
            row(
                "grader speed",
                f"embedding whole contexts, {label}",
                round(len(texts) / (time.perf_counter() - started), 1),
                "texts/s",
                f"{n} ACI-Bench training contexts ({len(set(grader.encoder_keys(texts).values()))}"
                " distinct windows)",
            )
        )
    return rows
