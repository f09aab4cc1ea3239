"""Dialogue-level replay evaluation (beyond the paper's per-turn metrics).

The policy leads whole conversations against a *replay user* built from the real log:

- The user opens with the logged history up to the first decision point (their complaint).
- Each policy question is matched to the logged expert questions of that dialogue (I* at the
  first decision point) by embedding similarity; at or above ``match_threshold`` the user gives
  the logged answer to the best match, else "I don't know."
- The episode ends when the policy stops, or after ``max_turns`` questions.

Reported: information coverage (share of the dialogue's I* elicited before stopping), turns
used, premature stops (stopped while items were left), late stops (kept asking after everything
was elicited, or never stopped), and the repeated-question rate.

Limits: the replay user can only reveal what the log holds; a good question the real expert
never asked earns "I don't know" and no coverage; matching by similarity can pair a question
with the wrong logged answer; the user never volunteers information unprompted.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from learn2ask.data.types import Sample, Turn
from learn2ask.evaluation.metrics import bootstrap_ci, mean
from learn2ask.io import write_json_atomic, write_jsonl_atomic
from learn2ask.models.decision import DecidingPolicy
from learn2ask.models.generation import GenerationConfig
from learn2ask.models.policy import parse_policy_response

UNKNOWN_ANSWER = "I don't know."


@dataclass(frozen=True)
class ReplayConfig:
    """Replay settings."""

    max_dialogues: int = 16
    max_turns: int = 6
    match_threshold: float = 0.6
    repeat_threshold: float = 0.9
    generation: GenerationConfig = field(default_factory=GenerationConfig)


@dataclass
class Episode:
    """One replayed conversation."""

    dialogue_id: str
    items: list[Any]
    context: list[Turn]
    questions: list[str] = field(default_factory=list)
    elicited: set[int] = field(default_factory=set)
    stopped: bool = False
    coverage_at_stop: float = 0.0
    repeats: int = 0
    turns: list[dict[str, Any]] = field(default_factory=list)


def opening_samples(samples: list[Sample], limit: int) -> list[Sample]:
    """The first decision point of each dialogue that still has something to elicit."""
    first: dict[str, Sample] = {}
    for sample in sorted(samples, key=lambda s: (s.dialogue_id, s.index)):
        first.setdefault(sample.dialogue_id, sample)
    openings = [s for s in first.values() if s.items]
    return openings[:limit]


def replay_dialogues(
    policy: DecidingPolicy,
    samples: list[Sample],
    embedder: Any,
    config: ReplayConfig,
    out: Path,
    progress: bool = True,
) -> dict[str, Any]:
    """Run every episode turn by turn (all active episodes batched) and write the results."""
    started = time.perf_counter()
    episodes = [
        Episode(s.dialogue_id, list(s.items), list(s.context))
        for s in opening_samples(samples, config.max_dialogues)
    ]
    for turn in range(config.max_turns):
        active = [e for e in episodes if not e.stopped]
        if not active:
            break
        actions = policy.decide([e.context for e in active])
        stop_tag = policy.prompt_config.stop_tag
        replies = [a.question or "" if a.action == "ask" else stop_tag for a in actions]
        for episode, reply in zip(active, replies, strict=True):
            step(episode, reply, embedder, config)
        if progress:
            print(
                f"  [replay] turn {turn + 1}/{config.max_turns}: {len(active)} dialogues "
                f"still talking ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    rows = [episode_row(e) for e in episodes]
    metrics = summarize_replay(rows)
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    metrics["config"] = {k: v for k, v in asdict(config).items() if k != "generation"}
    write_jsonl_atomic(out / "replay.jsonl", rows)
    write_json_atomic(out / "replay_metrics.json", metrics)
    return metrics


def step(episode: Episode, reply: str, embedder: Any, config: ReplayConfig) -> None:
    """Apply one policy reply: stop, or ask and receive the replay user's answer."""
    parsed = parse_policy_response(reply)
    coverage = len(episode.elicited) / len(episode.items)
    if parsed.assessment == "stop":
        episode.stopped = True
        episode.coverage_at_stop = coverage
        episode.turns.append({"expert": reply, "user": None})
        return
    question = parsed.question or reply
    if episode.questions:
        earlier = embedder.embed(episode.questions)
        if float((earlier @ embedder.embed([question])[0]).max()) >= config.repeat_threshold:
            episode.repeats += 1
    episode.questions.append(question)
    # Match against the logged expert questions (the item text when a log has no question).
    logged = [i.question or i.text for i in episode.items]
    sims = embedder.embed(logged) @ embedder.embed([question])[0]
    best = int(sims.argmax())
    if float(sims[best]) >= config.match_threshold:
        answer = episode.items[best].answer or UNKNOWN_ANSWER
        episode.elicited.add(best)
    else:
        answer = UNKNOWN_ANSWER
    episode.context.extend([Turn("expert", reply), Turn("user", answer)])
    episode.turns.append(
        {
            "expert": reply,
            "user": answer,
            "similarity": round(float(sims[best]), 3),
            "coverage_before": round(coverage, 4),
        }
    )


def episode_row(episode: Episode) -> dict[str, Any]:
    """Per-dialogue outcome."""
    coverage = len(episode.elicited) / len(episode.items)
    if not episode.stopped:
        episode.coverage_at_stop = coverage
    return {
        "dialogue_id": episode.dialogue_id,
        "items": len(episode.items),
        "elicited": len(episode.elicited),
        "coverage": round(coverage, 4),
        "questions": len(episode.questions),
        "stopped": episode.stopped,
        "premature_stop": episode.stopped and coverage < 1.0,
        "late_stop": (not episode.stopped)
        or any(t.get("coverage_before") == 1.0 for t in episode.turns),
        "repeats": episode.repeats,
        "turns": episode.turns,
    }


def summarize_replay(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means with bootstrap CIs over dialogues."""

    def stat(values: list[float]) -> dict[str, float | None]:
        if not values:
            return {"mean": None, "ci_low": None, "ci_high": None}
        low, high = bootstrap_ci(values)
        return {"mean": round(mean(values), 4), "ci_low": round(low, 4), "ci_high": round(high, 4)}

    asked = sum(r["questions"] for r in rows)
    return {
        "dialogues": len(rows),
        "coverage": stat([r["coverage"] for r in rows]),
        "turns_used": stat([float(r["questions"]) for r in rows]),
        "premature_stop_rate": stat([float(r["premature_stop"]) for r in rows]),
        "late_stop_rate": stat([float(r["late_stop"]) for r in rows]),
        "repeated_question_rate": round(sum(r["repeats"] for r in rows) / asked, 4)
        if asked
        else 0.0,
    }
