"""``learn2ask report``: several evaluation runs side by side, as Markdown and one HTML page.

Every number comes from a file a run wrote: ``metrics.json`` / ``eval_summary.json`` /
``rollouts.jsonl`` / ``replay_metrics.json`` of each evaluation directory, and
``train_log.jsonl`` of the training run whose model was evaluated. The report lists them.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learn2ask.errors import ConfigError, InputError
from learn2ask.evaluation.metrics import (
    METRIC_NAMES,
    REPORTED_METRICS,
    always_stop_rows,
    compute_metrics,
    paired_difference,
)
from learn2ask.evaluation.references import REFERENCES_FILE
from learn2ask.evaluation.rollouts import METRICS_FILE, ROLLOUTS_FILE, SUMMARY_FILE, read_rollouts
from learn2ask.evaluation.stop_point import STOP_POINT_FILE
from learn2ask.evaluation.stop_scores import STOP_SCORES_FILE
from learn2ask.io import write_text_atomic
from learn2ask.rewards.fusion import FusionConfig

REPLAY_KEYS = ("coverage", "turns_used", "premature_stop_rate", "late_stop_rate")
STOP_SCORE_KEYS = ("p_stop_on_stop", "p_stop_on_continue", "stop_auc")
STOP_POINT_KEYS = ("on_time", "early", "late", "coverage", "extra_questions")


@dataclass
class Run:
    """One evaluation directory and what it points to."""

    path: Path
    name: str
    metrics: dict[str, Any]
    summary: dict[str, Any]
    replay: dict[str, Any] | None = None
    stop_scores: dict[str, Any] | None = None
    stop_point: dict[str, Any] | None = None
    train_log: list[dict[str, Any]] = field(default_factory=list)
    train_log_path: Path | None = None
    sources: list[Path] = field(default_factory=list)


def load_run(path: Path) -> Run:
    """Read an evaluation directory (and the training log of its model, if there is one)."""
    metrics_path, summary_path = path / METRICS_FILE, path / SUMMARY_FILE
    for required in (metrics_path, summary_path):
        if not required.is_file():
            raise InputError(required, "missing: is this an evaluation directory?")
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    run = Run(
        path, summary.get("name", path.name), metrics, summary, sources=[metrics_path, summary_path]
    )
    replay_path = path / "replay_metrics.json"
    if replay_path.is_file():
        run.replay = json.loads(replay_path.read_text(encoding="utf-8"))
        run.sources.append(replay_path)
    point_path = path / STOP_POINT_FILE
    if point_path.is_file():
        run.stop_point = json.loads(point_path.read_text(encoding="utf-8"))
        run.sources.append(point_path)
    stop_path = path / STOP_SCORES_FILE
    if stop_path.is_file():
        run.stop_scores = json.loads(stop_path.read_text(encoding="utf-8"))["summary"]
        run.sources.append(stop_path)
    log_path = training_log_for(summary.get("model", ""))
    if log_path is not None:
        run.train_log = [
            json.loads(x) for x in log_path.read_text(encoding="utf-8").splitlines() if x.strip()
        ]
        run.train_log_path = log_path
        run.sources.append(log_path)
    return run


def training_log_for(model: str) -> Path | None:
    """``train_log.jsonl`` of the run that produced ``model`` (a run dir or its ``model/``)."""
    path = Path(model)
    for candidate in (path / "train_log.jsonl", path.parent / "train_log.jsonl"):
        if candidate.is_file():
            return candidate
    return None


def fmt(stat: dict[str, Any] | None) -> str:
    """``mean [low, high]`` for a metric entry."""
    if not stat or stat.get("mean") is None:
        return "n/a"
    return f"{stat['mean']:.3f} [{stat['ci_low']:.3f}, {stat['ci_high']:.3f}]"


def differences(runs: list[Run], pairs: Sequence[tuple[str, str]]) -> list[tuple[str, dict]]:
    """``(header, paired difference)`` for each ``(new, old)`` pair of run names."""
    by_name = {run.name: run for run in runs}
    columns = []
    for new, old in pairs:
        missing = [n for n in (new, old) if n not in by_name]
        if missing:
            raise ConfigError(f"--diff names unknown run(s) {missing}; runs: {sorted(by_name)}")
        rows_new = read_rollouts(by_name[new].path / ROLLOUTS_FILE)
        rows_old = read_rollouts(by_name[old].path / ROLLOUTS_FILE)
        columns.append((f"{new} − {old} (paired)", paired_difference(rows_new, rows_old)))
    return columns


ALWAYS_STOP = "always <stop /> (reference)"


def always_stop_reference(run: Run) -> tuple[str, dict]:
    """Column of what an always-``<stop />`` policy scores on ``run``'s samples and fusion."""
    fusion = FusionConfig(**run.summary.get("fusion", {}))
    rows = always_stop_rows(read_rollouts(run.path / ROLLOUTS_FILE), fusion)
    return ALWAYS_STOP, compute_metrics(rows)


REFERENCE_COLUMNS = (
    ("always_stop", "always <stop />"),
    ("always_ask", "always ask"),
    ("always_ask_best", "always ask best logged question"),
    ("expert", "logged expert"),
    ("classifier", "classifier (decision)"),
)


def reference_columns(run: Run) -> list[tuple[str, dict]]:
    """Columns of the reference policies scored on ``run``'s samples (``references.json``) and
    the paired differences ``run`` − always-stop and ``run`` − always-ask; falls back to the
    always-stop column computed from the rollouts for older evaluation directories."""
    path = run.path / REFERENCES_FILE
    if not path.is_file():
        return [always_stop_reference(run)]
    references = json.loads(path.read_text(encoding="utf-8"))
    run.sources.append(path)
    columns = [
        (f"{label} (reference)", references[key]["metrics"])
        for key, label in REFERENCE_COLUMNS
        if key in references
    ]
    for key, label in REFERENCE_COLUMNS[:3]:  # the rules a trained policy has to beat
        if key in references:
            columns.append(
                (f"{run.name} − {label} (paired)", references[key]["policy_minus_reference"])
            )
    return columns


def metrics_table(runs: list[Run], diffs: Sequence[tuple[str, dict]] = ()) -> list[list[str]]:
    """Rows of the side-by-side table: header, then one row per metric; ``diffs`` (extra
    columns such as :func:`differences` or :func:`always_stop_reference`) add one each."""
    table = [["metric", *[r.name for r in runs], *[header for header, _ in diffs]]]
    for name in REPORTED_METRICS:
        table.append(
            [name, *[fmt(r.metrics.get(name)) for r in runs], *[fmt(d.get(name)) for _, d in diffs]]
        )
    blank = [""] * len(diffs)
    table.append(
        [
            "grading_failures",
            *[str(r.metrics.get("grading_failures", {}).get("mean", "n/a")) for r in runs],
            *blank,
        ]
    )
    if any(r.replay for r in runs):
        for key in REPLAY_KEYS:
            table.append(
                [
                    f"replay_{key}",
                    *[fmt(r.replay.get(key)) if r.replay else "n/a" for r in runs],
                    *blank,
                ]
            )
    if any(r.stop_point for r in runs):
        table.extend(stop_point_rows(runs, blank))
    if any(r.stop_scores for r in runs):
        for key in STOP_SCORE_KEYS:
            table.append([key, *[fmt((r.stop_scores or {}).get(key)) for r in runs], *blank])
        for key in ("threshold", "balanced_accuracy_at_threshold"):
            table.append([key, *[str((r.stop_scores or {}).get(key, "n/a")) for r in runs], *blank])
    return table


def stop_point_rows(runs: list[Run], blank: list[str]) -> list[list[str]]:
    """Where each run first stops in whole dialogues, and stopping at random at its rate."""
    rows = []
    for key in STOP_POINT_KEYS:
        for part, label in (("policy", ""), ("random_same_rate", " (random at its stop rate)")):
            rows.append(
                [
                    f"stop_point_{key}{label}",
                    *[fmt((r.stop_point or {}).get(part, {}).get(key)) for r in runs],
                    *blank,
                ]
            )
    return rows


def markdown_table(table: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    lines += ["| " + " | ".join(row) + " |" for row in table[1:]]
    return "\n".join(lines)


def plot_metric_bars(runs: list[Run], path: Path) -> Path:
    """Bar chart per metric with 95% CI error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 3
    rows = -(-len(METRIC_NAMES) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 3.0 * rows), squeeze=False)
    for ax in axes.flat[len(METRIC_NAMES) :]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, METRIC_NAMES, strict=False):
        means, lows, highs, labels = [], [], [], []
        for run in runs:
            stat = run.metrics.get(name) or {}
            if stat.get("mean") is None:
                continue
            means.append(stat["mean"])
            lows.append(stat["mean"] - stat["ci_low"])
            highs.append(stat["ci_high"] - stat["mean"])
            labels.append(run.name)
        ax.bar(
            range(len(means)),
            means,
            yerr=[lows, highs],
            capsize=3,
            color=[f"C{i}" for i in range(len(means))],
        )
        ax.set_xticks(range(len(means)), labels, rotation=45, ha="right", fontsize=7)
        ax.set_title(name, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_reward_curves(runs: list[Run], path: Path) -> Path | None:
    """Reward and loss per training step, from each run's ``train_log.jsonl``."""
    logged = [r for r in runs if r.train_log]
    if not logged:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_reward, ax_loss) = plt.subplots(1, 2, figsize=(10, 3.4))
    for i, run in enumerate(logged):
        rewards = [(r["step"], r["reward"]) for r in run.train_log if "reward" in r]
        losses = [(r["step"], r["loss"]) for r in run.train_log if "loss" in r]
        if rewards:
            ax_reward.plot(*zip(*rewards, strict=True), label=run.name, color=f"C{i}")
        if losses:
            ax_loss.plot(*zip(*losses, strict=True), label=run.name, color=f"C{i}")
    ax_reward.set_title("mean reward per step (GRPO)")
    ax_loss.set_title("training loss per step")
    for ax in (ax_reward, ax_loss):
        ax.set_xlabel("step")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def example_rows(runs: list[Run], samples_path: Path | None, count: int = 4) -> list[dict]:
    """A few samples that every run answered, with each run's first reply and reward."""
    per_run = [
        {
            r["sample_id"]: r
            for r in read_rollouts(run.path / ROLLOUTS_FILE)
            if r.get("rollout", 0) == 0
        }
        for run in runs
    ]
    common = sorted(set.intersection(*(set(p) for p in per_run))) if per_run else []
    contexts: dict[str, Any] = {}
    if samples_path and samples_path.is_file():
        wanted = set(common)
        for line in samples_path.read_text(encoding="utf-8").splitlines():
            obj = json.loads(line)
            if obj["id"] in wanted:
                contexts[obj["id"]] = obj
    picked = [i for i in common if per_run[0][i]["decision"] == "stop"][: count // 2]
    picked += [i for i in common if per_run[0][i]["decision"] == "continue"][: count - len(picked)]
    examples = []
    for sample_id in picked:
        sample = contexts.get(sample_id, {})
        examples.append(
            {
                "id": sample_id,
                "decision": per_run[0][sample_id]["decision"],
                "context_tail": sample.get("context", [])[-4:],
                "info_set": sample.get("info_set", []),
                "replies": [(run.name, p[sample_id]) for run, p in zip(runs, per_run, strict=True)],
            }
        )
    return examples


REPLAY_FILE = "replay.jsonl"


def replay_examples(runs: list[Run], count: int = 2) -> list[dict[str, Any]]:
    """The first ``count`` dialogues every replayed run has, with each run's conversation."""
    replayed = [
        (run, {r["dialogue_id"]: r for r in read_rollouts(run.path / REPLAY_FILE)}) for run in runs
    ]
    replayed = [(run, episodes) for run, episodes in replayed if episodes]
    if not replayed:
        return []
    common = sorted(set.intersection(*(set(episodes) for _, episodes in replayed)))[:count]
    return [
        {"dialogue_id": d, "episodes": [(run.name, episodes[d]) for run, episodes in replayed]}
        for d in common
    ]


def _episode_caption(episode: dict[str, Any]) -> str:
    return (
        f"coverage {episode['coverage']:.2f} ({episode['elicited']}/{episode['items']} "
        f"items), {episode['questions']} questions, "
        f"{'stopped' if episode['stopped'] else 'never stopped'}"
    )


def write_report(
    run_dirs: list[Path],
    out: Path,
    samples_path: Path | None = None,
    title: str = "learn2ask evaluation report",
    diff_pairs: Sequence[tuple[str, str]] = (),
) -> tuple[Path, str]:
    """Write ``report.md``, ``report.html`` and the PNG figures into ``out``.

    ``diff_pairs`` are ``(new, old)`` run names to show as paired differences. Returns the HTML
    path and the metrics table as Markdown.
    """
    runs = [load_run(p) for p in run_dirs]
    table = metrics_table(runs, [*reference_columns(runs[-1]), *differences(runs, diff_pairs)])
    out.mkdir(parents=True, exist_ok=True)
    bars = plot_metric_bars(runs, out / "metrics.png")
    curves = plot_reward_curves(runs, out / "reward_curves.png")
    examples = example_rows(runs, samples_path)
    replays = replay_examples(runs)
    notes = [
        "Per-turn metrics: mean [95% bootstrap CI]. Rollouts are averaged within a sample, "
        "samples within a dialogue, then dialogues, so a long dialogue does not outweigh short "
        "ones; the bootstrap resamples dialogues. ave_total_reward_pooled weighs every sample "
        "alike (the authors' aggregation), its CI still from resampling dialogues. Grading "
        "failures are excluded and counted.",
    ]
    notes.append(
        "Columns '(reference)': rule policies scored on the samples of the last run with the "
        "same grader and fusion (references.json): always <stop /> (a right STOP earns "
        "R_a = 1, so on a balanced set this trivial rule scores high), always asking one "
        "generic question, always asking the one logged expert question with the best mean "
        "R_a on the training file, the logged expert's own next action (upper reference), and "
        "a classifier reference for the decision only (sentence embeddings + surface "
        "features, logistic regression fitted on the training file; it asks the best logged "
        "question). A trained policy has to beat the three rules on ave_total_reward."
    )
    if diff_pairs:
        notes.append(
            "Columns 'A − B (paired)': mean over the dialogues both runs evaluated of "
            "A's per-dialogue value minus B's, with a paired bootstrap CI (dialogues "
            "resampled); an interval excluding 0 is a difference beyond resampling "
            "noise. Computed from both runs' rollouts.jsonl."
        )
    if any(r.stop_scores for r in runs):
        notes.append(
            "Rows p_stop_*: P(stop), the probability the model gives to the stop tag's "
            "first token as its reply's first token, fused with its stop head's when it "
            "has one (the quantity the threshold decision rule uses; stop_scores.json), on "
            "STOP and on CONTINUE samples; stop_auc: how "
            "well it tells the two apart (0.5 = not at all, CI over dialogues); threshold and "
            "balanced_accuracy_at_threshold: the calibrated rule and how it does here."
        )
    sources = [str(p) for run in runs for p in run.sources]
    sources += [str(run.path / ROLLOUTS_FILE) for run in runs]
    sources += [str(run.path / REPLAY_FILE) for run in runs if (run.path / REPLAY_FILE).is_file()]
    if samples_path:
        sources.append(str(samples_path))
    sources.append(str(bars))
    if curves:
        sources.append(str(curves))
    md = _markdown(title, runs, table, notes, examples, replays, curves is not None, sources)
    write_text_atomic(out / "report.md", md)
    write_text_atomic(
        out / "report.html", _html(title, table, notes, examples, replays, bars, curves, sources)
    )
    return out / "report.html", markdown_table(table)


def _markdown(
    title: str,
    runs: list[Run],
    table: list[list[str]],
    notes: list[str],
    examples: list[dict],
    replays: list[dict],
    curves: bool,
    sources: list[str],
) -> str:
    parts = [f"# {title}", "", markdown_table(table), "", *notes, "", "![metrics](metrics.png)"]
    if curves:
        parts += ["", "![reward curves](reward_curves.png)"]
    parts += ["", "## Runs", ""]
    for run in runs:
        s = run.summary
        parts.append(
            f"- **{run.name}**: model `{s.get('model')}`, {s.get('samples')} samples "
            f"({s.get('stop_samples')} STOP) from {s.get('dialogues')} dialogues, "
            f"grader {s.get('grader')}, {s.get('seconds')} s"
        )
    parts += ["", "## Examples", ""]
    for ex in examples:
        parts.append(f"### {ex['id']} (s* = {ex['decision'].upper()})")
        for turn in ex["context_tail"]:
            parts.append(f"> **{turn['role']}**: {turn['content']}")
        parts.append(f"\nI*: {ex['info_set'][:3]}\n")
        for name, row in ex["replies"]:
            parts.append(f"- {name}: `{row['response'][:160]}` -> reward {row['reward']}")
        parts.append("")
    if replays:
        parts += ["## Replayed conversations", ""]
    for ex in replays:
        parts.append(f"### {ex['dialogue_id']}")
        for name, episode in ex["episodes"]:
            parts.append(f"- **{name}**: {_episode_caption(episode)}")
            for turn in episode["turns"]:
                parts.append(f"  - expert: `{turn['expert'][:160]}` / user: {turn['user']}")
        parts.append("")
    parts += ["## Sources", "", *[f"- `{s}`" for s in sources], ""]
    return "\n".join(parts)


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{path.name}" src="data:image/png;base64,{data}" style="max-width:100%">'


def _html(
    title: str,
    table: list[list[str]],
    notes: list[str],
    examples: list[dict],
    replays: list[dict],
    bars: Path,
    curves: Path | None,
    sources: list[str],
) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in table[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in table[1:]
    )
    ex_html = []
    for ex in examples:
        turns = "".join(
            f"<p><b>{esc(t['role'])}</b>: {esc(t['content'])}</p>" for t in ex["context_tail"]
        )
        replies = "".join(
            f"<li><b>{esc(n)}</b>: <code>{esc(r['response'][:200])}</code> "
            f"&rarr; reward {esc(str(r['reward']))}</li>"
            for n, r in ex["replies"]
        )
        ex_html.append(
            f"<h3>{esc(ex['id'])} (s* = {esc(ex['decision'].upper())})</h3>"
            f"<blockquote>{turns}</blockquote><p>I*: {esc(str(ex['info_set'][:3]))}"
            f"</p><ul>{replies}</ul>"
        )
    replay_html = ["<h2>Replayed conversations</h2>" if replays else ""]
    for ex in replays:
        replay_html.append(f"<h3>{esc(ex['dialogue_id'])}</h3>")
        for name, episode in ex["episodes"]:
            turns = "".join(
                f"<li>expert: <code>{esc(t['expert'][:200])}</code><br>user: "
                f"{esc(str(t['user']))}</li>"
                for t in episode["turns"]
            )
            replay_html.append(
                f"<p><b>{esc(name)}</b>: {esc(_episode_caption(episode))}</p><ol>{turns}</ol>"
            )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>body{{font-family:sans-serif;max-width:1100px;"
        "margin:auto}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;"
        "padding:4px 8px;font-size:13px}}</style></head><body>"
        f"<h1>{esc(title)}</h1><table><tr>{head}</tr>{body}</table>"
        + "".join(f"<p>{esc(n)}</p>" for n in notes)
        + _img(bars)
        + (_img(curves) if curves else "")
        + "<h2>Examples</h2>"
        + "".join(ex_html)
        + "".join(replay_html)
        + "<h2>Sources</h2><ul>"
        + "".join(f"<li><code>{esc(s)}</code></li>" for s in sources)
        + "</ul></body></html>"
    )
