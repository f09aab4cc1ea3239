"""Load on the deployed assistant: 8 concurrent simulated patients x 6 messages against
``learn2ask serve`` on loopback; p50/p95 latency of the next action, turns/s, and whether any
acknowledged message was lost. Policies side by side: the bundled model with the threshold
rule (it generates every question), a trained ``decision_sft`` run, the policy one deploys
(P(stop) fused with its stop head, questions from its memory: no generation), and the same run
with ``--likelihood-weight 0.5`` (one more forward pass per question). The run is
``LEARN2ASK_BENCH_RUN``, else ``demo_out/runs/decision`` (what ``make demo`` trains); without
one its rows say so. Each load run also reads the assistant's ``/metrics``: how many policy
passes the load took, how many conversations each decided, how long one took. Also the
red-flag rule set's recall and false-alarm rate on the test set shipped in ``tests/serving``.

Bounded: one server process at a time, 48 turns each, a hard deadline; nothing leaves loopback.
"""

from __future__ import annotations

import concurrent.futures
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from benchmarks.common import row
from learn2ask.serving.probe import conversation, start_assistant

SESSIONS = 8
TURNS = 6
DEADLINE_S = 900
# Every patient tells a different story: a policy remembers the P(stop) of a prompt it has seen,
# so identical sessions would time that memory, not the model.
OPENINGS = [
    "I have had a headache for three days",
    "My lower back hurts since I lifted a box on Monday",
    "I have a cough that will not go away",
    "My stomach has been upset since yesterday",
    "I keep feeling dizzy when I stand up",
    "I have a rash on both arms",
    "My left knee is swollen and stiff",
    "I have been very tired for a few weeks",
]
ANSWERS = [
    "It started slowly and got worse",
    "It is worse in the evening",
    "Paracetamol helps a little",
    "I also feel a bit sick",
    "No other problems, I am usually healthy",
    "I do not take any regular medicines",
    "Nobody in my family has had this",
    "I work in an office and do not smoke",
]
# Each warm-up message reaches the policy (a message that only says "done" would not).
WARM_UP = ["Hello", "I would like some advice", "It started on Monday"]
ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "serving" / "red_flag_cases.yaml"
BUNDLED = "smollm2-135m-instruct"
LOAD_FLAGS = ("--decision", "threshold", "--rate-limit", "100000")


def run() -> list[dict]:
    """Latency/throughput rows of each policy's load run, then the red-flag rows."""
    rows = _load_rows(BUNDLED, "bundled model", "threshold rule, generated questions")
    trained = trained_run()
    if trained is None:
        rows.append(
            row(
                "serving, trained run",
                "load run",
                "skipped",
                "",
                "no LEARN2ASK_BENCH_RUN and no demo_out/runs/decision (make demo)",
            )
        )
    else:
        rows += _load_rows(str(trained), "trained run", f"{trained}: stop head, memory questions")
        rows += _load_rows(
            str(trained),
            "trained run, likelihood re-rank",
            f"{trained}: the same, its memory's 5 best-voted re-ranked by the policy's likelihood",
            ("--likelihood-weight", "0.5"),
        )
    return rows + _red_flag_rows()


def trained_run() -> Path | None:
    """The ``decision_sft`` run to serve: ``LEARN2ASK_BENCH_RUN``, else the demo's, else None."""
    named = os.environ.get("LEARN2ASK_BENCH_RUN")
    path = Path(named) if named else ROOT / "demo_out" / "runs" / "decision"
    return path if (path / "model").is_dir() else None


def script(patient: int, story: int) -> list[str]:
    """The messages of ``patient``'s ``story``-th conversation: an opening complaint, then
    answers in an order of its own (no two of the first four stories of any patients share
    their first two messages)."""
    opening = OPENINGS[(patient + 3 * story) % len(OPENINGS)]
    shift = (patient + story) % len(ANSWERS)
    return [opening, *ANSWERS[shift:], *ANSWERS[:shift]][:TURNS]


def _patient(url: str, patient: int) -> list[tuple[str, list[tuple[str, float, dict]]]]:
    """One simulated patient sends ``TURNS`` messages, starting a new story when the assistant
    stops; returns each session's id and timed turns."""
    sessions: list[tuple[str, list[tuple[str, float, dict]]]] = []
    sent = 0
    while sent < TURNS:
        sid, turns = conversation(url, script(patient, len(sessions))[: TURNS - sent])
        sessions.append((sid, turns))
        if not turns:  # refused: do not loop on it
            break
        sent += len(turns)
    return sessions


def _lost(url: str, results: list) -> int:
    lost = 0
    for sid, turns in results:
        stored = [m["content"] for m in httpx.get(f"{url}/v1/sessions/{sid}").json()["transcript"]]
        lost += sum(1 for text, _, _ in turns if text not in stored)
    return lost


def _load_rows(policy: str, kind: str, detail: str, flags: tuple[str, ...] = ()) -> list[dict]:
    """The load run against ``learn2ask serve --policy policy`` (plus ``flags``): latency,
    throughput, losses."""
    with tempfile.TemporaryDirectory(prefix="l2a-bench-serve-") as tmp:
        db = Path(tmp) / "sessions.sqlite"
        process, url = start_assistant(db, policy, (*LOAD_FLAGS, *flags))
        try:
            conversation(url, WARM_UP)  # warm-up, not timed
            before = policy_passes(url)
            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(SESSIONS) as pool:
                futures = [pool.submit(_patient, url, p) for p in range(SESSIONS)]
                results = [s for f in futures for s in f.result(timeout=DEADLINE_S)]
            wall = time.perf_counter() - started
            passes = [after - was for after, was in zip(policy_passes(url), before, strict=True)]
            lost = _lost(url, results)
        finally:
            process.terminate()
            process.wait(timeout=30)
    latencies = sorted(s for _, turns in results for _, s, _ in turns)
    actions = [r["action"] for _, turns in results for _, _, r in turns]
    n = len(latencies)
    note = (
        f"{SESSIONS} concurrent patients x {TURNS} messages ({len(results)} sessions), {detail}, "
        f"loopback, {os.cpu_count()} cores; {actions.count('ask')} ask / "
        f"{actions.count('stop')} stop"
    )
    p95 = latencies[min(n - 1, round(0.95 * (n - 1)))]
    name = f"serving, {kind}"
    return [
        row(name, "next-action latency p50", round(statistics.median(latencies), 3), "s", note),
        row(name, "next-action latency p95", round(p95, 3), "s", note),
        row(name, "throughput", round(n / wall, 2), "turns/s", note),
        row(name, "turns acknowledged", n, "turns", note),
        row(name, "acknowledged messages lost", lost, "messages", "read back after the run"),
        *_pass_rows(name, passes),
    ]


def policy_passes(url: str) -> tuple[float, float, float]:
    """``(passes, conversations decided, seconds)`` the assistant's policy has run so far, from
    its ``/metrics``."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=30).raise_for_status().text
    seen = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return (
        seen["learn2ask_policy_batch_size_count"],
        seen["learn2ask_policy_batch_size_sum"],
        seen["learn2ask_policy_seconds_sum"],
    )


def _pass_rows(name: str, passes: list[float]) -> list[dict]:
    """How the load's policy passes batched, and how long one took."""
    count, decided, seconds = passes
    if not count:
        return []
    note = "the run's own /metrics (warm-up excluded)"
    return [
        row(name, "policy passes", int(count), "passes", note),
        row(name, "conversations per policy pass", round(decided / count, 2), "mean", note),
        row(name, "policy pass seconds", round(seconds / count, 3), "s (mean)", note),
    ]


def _red_flag_rows() -> list[dict]:
    from learn2ask.serving.redflags import RedFlagMatcher
    from learn2ask.serving.server import load_settings

    matcher = RedFlagMatcher(load_settings("medical")[1].red_flags)
    cases = yaml.safe_load(CASES.read_text(encoding="utf-8"))
    caught = sum(matcher.check(t) is not None for t in cases["urgent"])
    alarms = sum(matcher.check(t) is not None for t in cases["look_alike"])
    note = f"rule set {matcher.version}"
    return [
        row(
            "serving",
            "red flags escalated",
            round(caught / len(cases["urgent"]), 4),
            "share",
            f"{note}, {len(cases['urgent'])} urgent phrasings",
        ),
        row(
            "serving",
            "red-flag false alarms",
            round(alarms / len(cases["look_alike"]), 4),
            "share",
            f"{note}, {len(cases['look_alike'])} look-alike phrasings",
        ),
    ]
