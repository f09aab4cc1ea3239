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


def run() -> list[dict]:
    """All model figures."""
    rows = _load_times()
    with local_server() as base_url:
        asyncio.run(_server_load(base_url, 2, 2))  # warm-up
        for concurrency in (1, 8):
            seconds, latencies = asyncio.run(_server_load(base_url, 16, concurrency))
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
    return rows
