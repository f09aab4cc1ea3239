"""Prometheus metrics of ``learn2ask serve-model`` (``GET /metrics``), read from the engine.

The engine already counts what ``/health`` shows; a collector reads those counters at scrape
time, so nothing is counted twice. Names follow the project's ``learn2ask_`` prefix; each
series carries the served model's name, as vLLM's do, so one dashboard can hold several.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

# (metric name, engine attribute, help): each a counter of the engine's since it started.
ENGINE_COUNTERS = (
    ("learn2ask_model_prompt_tokens", "prompt_tokens", "Prompt tokens of submitted sequences."),
    ("learn2ask_model_generated_tokens", "generated_tokens", "Tokens generated."),
    ("learn2ask_model_batches", "batches_run", "Batches: rows generated together to their ends."),
    ("learn2ask_model_sequences", "requests_served", "Sequences (choices) run, as a batch starts."),
    ("learn2ask_model_sequences_cancelled", "sequences_cancelled", "Sequences whose client left."),
    ("learn2ask_model_sequences_timed_out", "sequences_timed_out", "Sequences past the deadline."),
)


class EngineCollector(Collector):
    """Reads a :class:`~learn2ask.models.serve_engine.ServeEngine`'s counters at each scrape."""

    def __init__(self, engine: Any, model_name: str) -> None:
        self.engine = engine
        self.model_name = model_name

    def collect(self) -> Iterator[Metric]:
        """One family per engine counter, and the model's context length as a gauge."""
        for name, attribute, documentation in ENGINE_COUNTERS:
            family = CounterMetricFamily(name, documentation, labels=["model"])
            family.add_metric([self.model_name], getattr(self.engine, attribute))
            yield family
        context = GaugeMetricFamily(
            "learn2ask_model_context_length", "The model's context, in tokens.", labels=["model"]
        )
        context.add_metric([self.model_name], self.engine.context_length)
        yield context


def engine_registry(engine: Any, model_name: str) -> CollectorRegistry:
    """A registry of its own (never the module-global default) holding the engine's metrics."""
    registry = CollectorRegistry()
    registry.register(EngineCollector(engine, model_name))
    return registry


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The text format Prometheus scrapes, and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
