"""What operators watch on a running assistant: Prometheus metrics at ``GET /metrics``.

Each ``learn2ask serve`` process counts its own (Prometheus scrapes every replica and sums);
the registry belongs to the app, not to the module, so two assistants in one process (the
tests) do not share counts. The policy's P(stop) is a histogram by the action it led to: a
source whose conversations sit above the run's cut (the README's "A new source") shows as
STOP decisions piling up in the top buckets long before anyone reads transcripts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram

from learn2ask.models.serve_metrics import exposition

if TYPE_CHECKING:
    from learn2ask.serving.service import NextAction

# A decision is a batched forward pass on a CPU (about 1 s under load on 2 cores) or a GPU
# (about 0.3 s): buckets from 10 ms to 30 s cover both and a stalled endpoint.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
P_STOP_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32)


class ServingMetrics:
    """The assistant's counters and histograms, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sessions = Counter(
            "learn2ask_sessions_created", "Sessions opened.", registry=self.registry
        )
        self.decisions = Counter(
            "learn2ask_decisions",
            "Next actions after a user message: action (ask, stop, escalate, operator) and "
            "source (policy, budget, user, red_flags, operator).",
            ["action", "source"],
            registry=self.registry,
        )
        self.decision_seconds = Histogram(
            "learn2ask_decision_seconds",
            "Seconds from a user message to the stored next action, by action.",
            ["action"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.p_stop = Histogram(
            "learn2ask_policy_p_stop",
            "The policy's P(stop) at each of its decisions, by the action taken.",
            ["action"],
            buckets=P_STOP_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "learn2ask_policy_batch_size",
            "Conversations decided together in one policy pass (concurrent sessions batch).",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.policy_seconds = Histogram(
            "learn2ask_policy_seconds",
            "Seconds of one batched policy pass (the rest of a decision's time is queueing, "
            "the store and the checks).",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.responses = Counter(
            "learn2ask_http_responses",
            "HTTP responses by route template and status code.",
            ["route", "status"],
            registry=self.registry,
        )

    def session_created(self) -> None:
        """Count one opened session."""
        self.sessions.inc()

    def decided(self, action: NextAction) -> None:
        """Count a next action, its latency and, where the policy decided, its P(stop)."""
        self.decisions.labels(action.action, action.source or "none").inc()
        self.decision_seconds.labels(action.action).observe(action.latency_s)
        if action.source == "policy" and action.p_stop is not None:
            self.p_stop.labels(action.action).observe(action.p_stop)

    def policy_pass(self, batch_size: int, seconds: float) -> None:
        """Record one batched policy pass (the batcher's ``observe``)."""
        self.batch_size.observe(batch_size)
        self.policy_seconds.observe(seconds)

    def responded(self, route: str, status: int) -> None:
        """Count one HTTP response (``route`` is the template, so ids do not make new series)."""
        self.responses.labels(route, str(status)).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The text format Prometheus scrapes, and its content type."""
        return exposition(self.registry)
