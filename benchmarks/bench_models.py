"""Bundled model: load time (first conversion, cached), generation tokens/s, server throughput."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import local_server, peak_rss_mib, row
from learn2ask.models.client import ChatClient, ClientConfig
from learn2ask.models.generation import GenerationConfig, LocalGenerator
from learn2ask.models.registry import BUNDLED_POLICY, resolve_model

PROMPT = [{"role": "user", "content": "My head hurts since yesterday. What should I ask a doctor?"}]


def _load_times() -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        resolve_model(BUNDLED_POLICY, cache_dir=Path(tmp))
        first = time.perf_counter() - started
    started = time.perf_counter()
    generator = LocalGenerator.from_pretrained(BUNDLED_POLICY, device="cpu")
    cached = time.perf_counter() - started
    rows = [
        row("models", "first load (GGUF -> safetensors)", round(first, 1), "s"),
        row("models", "cached load", round(cached, 1), "s"),
    ]
    for batch in (1, 8):
        config = GenerationConfig(max_new_tokens=32, temperature=1.0, batch_size=batch)
        generator.tokens_generated = 0
        started = time.perf_counter()
        generator.generate([PROMPT] * batch, config)
        seconds = time.perf_counter() - started
        rows.append(
            row(
                "models",
                f"generation, batch {batch}",
                round(generator.tokens_generated / seconds, 1),
                "tokens/s",
                "32 new tokens, sampled, 2 CPU cores",
            )
        )
    rows.append(row("models", "peak RSS after loading + generating", round(peak_rss_mib()), "MiB"))
    return rows


async def _server_load(base_url: str, requests: int, concurrency: int) -> tuple[float, list]:
    """``concurrency`` workers send ``requests`` in all; latency is per request (no queueing)."""
    latencies: list[float] = []
    config = ClientConfig(
        base_url=base_url, model=BUNDLED_POLICY, max_concurrency=concurrency, timeout_s=300
    )
    async with ChatClient(config) as client:

        async def worker(first: int) -> None:
            for i in range(first, requests, concurrency):
                started = time.perf_counter()
                await client.chat(
                    [{"role": "user", "content": f"Question {i}: what is a cold?"}], max_tokens=16
                )
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        return time.perf_counter() - started, latencies


GRADING_REQUESTS = 200
# As many in flight as the server batches (8 rows): more only queue, and on 2 CPU cores a
# request queued behind 32 others can pass the server's 300 s request timeout.
GRADING_CONCURRENCY = 8


async def _grading(base_url: str, requests: int) -> tuple[float, int, int]:
    """``requests`` LLM-grader requests with the grader's JSON schema, sent together (the server
    batches them); seconds, how many replies are valid ``GradeReply`` JSON, how many answered."""
    import httpx

    from benchmarks.common import demo_samples
    from learn2ask.data.samples import load_samples
    from learn2ask.models.client import json_schema_format
    from learn2ask.rewards.graders.llm import GradeReply, grade_reply_schema, grading_messages

    samples = load_samples(demo_samples() / "test.jsonl")
    response_format = json_schema_format(grade_reply_schema(), "grade")
    limit = asyncio.Semaphore(GRADING_CONCURRENCY)

    async def one(client: httpx.AsyncClient, i: int) -> str | None:
        body = {
            "messages": grading_messages("Any allergies?", samples[i % len(samples)], 6),
            "max_tokens": 128,
            "temperature": 0,
            "response_format": response_format,
        }
        async with limit:
            response = await client.post("/chat/completions", json=body)
        return response.json()["choices"][0]["message"]["content"] if response.is_success else None

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url, timeout=1800) as client:
        texts = await asyncio.gather(*(one(client, i) for i in range(requests)))
    seconds = time.perf_counter() - started
    valid = 0
    for text in texts:
        try:
            GradeReply.model_validate_json(text or "")
            valid += 1
        except ValueError:
            pass
    return seconds, valid, sum(t is not None for t in texts)


def _grading_rows(base_url: str) -> list[dict]:
    seconds, valid, answered = asyncio.run(_grading(base_url, GRADING_REQUESTS))
    note = (
        f"grader schema via response_format, greedy, {GRADING_CONCURRENCY} in flight, "
        f"{answered} answered"
    )
    return [
        row("server", "grading replies that are valid GradeReply JSON", valid, "of 200", note),
        row("server", "grading throughput", round(GRADING_REQUESTS / seconds, 2), "req/s", note),
    ]


def run() -> list[dict]:
    """All model figures."""
    rows = _load_times()
    with local_server() as base_url:
        asyncio.run(_server_load(base_url, 2, 2))  # warm-up
        throughput: dict[int, float] = {}
        for concurrency in (1, 8):
            seconds, latencies = asyncio.run(_server_load(base_url, 16, concurrency))
            throughput[concurrency] = 16 / seconds
            quantiles = statistics.quantiles(latencies, n=20)
            rows += [
                row(
                    "server",
                    f"requests/s at concurrency {concurrency}",
                    round(16 / seconds, 2),
                    "req/s",
                    "16 requests x 16 new tokens",
                ),
                row(
                    "server",
                    f"p50 latency at concurrency {concurrency}",
                    round(statistics.median(latencies), 2),
                    "s",
                ),
                row(
                    "server",
                    f"p95 latency at concurrency {concurrency}",
                    round(quantiles[18], 2),
                    "s",
                ),
            ]
        rows.append(
            row(
                "server",
                "throughput gain, 8 concurrent vs one at a time",
                round(throughput[8] / throughput[1], 2),
                "x",
                "same server, side by side",
            )
        )
        rows += _grading_rows(base_url)
    return rows
