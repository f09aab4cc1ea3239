"""`prepare` with the qa extractor over every bundled dialogue (goal: under 10 s on 2 cores),
and reading the same conversations in the export shapes users bring (one row per message, chat
records), side by side with the bundled CSV reader."""

from __future__ import annotations

import csv
import json
import tempfile
import time
from pathlib import Path

from benchmarks.common import row
from learn2ask.data.prepare import PrepareConfig, prepare_dataset, preset_paths
from learn2ask.data.readers import read_dialogues
from learn2ask.data.types import Dialogue
from learn2ask.targets.qa import QAExtractor


def write_exports(dialogues: list[Dialogue], folder: Path) -> dict[str, Path]:
    """The same conversations as a one-row-per-message CSV, chat JSON Lines and a JSON array."""
    rows, lines, array = folder / "rows.csv", folder / "chat.jsonl", folder / "chat.json"
    with rows.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["conversation_id", "role", "text"])
        for dialogue in dialogues:
            writer.writerows([dialogue.id, t.role, t.content] for t in dialogue.turns)
    records = [
        {"id": d.id, "messages": [{"role": t.role, "content": t.content} for t in d.turns]}
        for d in dialogues
    ]
    lines.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    array.write_text(json.dumps(records, indent=1), encoding="utf-8")
    return {"rows CSV": rows, "chat JSON Lines": lines, "chat JSON array": array}


def reading_rows() -> list[dict]:
    """Dialogues read per second from MTS-Dialog's training CSV and from the same conversations
    written in the export shapes."""
    source = preset_paths("mts-dialog")[0]
    started = time.perf_counter()
    dialogues = read_dialogues([source]).dialogues
    timed = {"MTS-Dialog CSV (bundled)": time.perf_counter() - started}
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in write_exports(dialogues, Path(tmp)).items():
            started = time.perf_counter()
            again = read_dialogues([path]).dialogues
            timed[name] = time.perf_counter() - started
            assert len(again) == len(dialogues)
    return [
        row("read", f"dialogues per second, {name}", round(len(dialogues) / s), "dialogues/s")
        for name, s in timed.items()
    ]


def run() -> list[dict]:
    """Time prepare over the `all` preset (MTS-Dialog + ACI-Bench), then reading."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        stats = prepare_dataset(
            PrepareConfig(inputs=preset_paths("all"), out=Path(tmp)), QAExtractor()
        )
        seconds = time.perf_counter() - started
    return [
        row(
            "prepare",
            "wall time, all bundled dialogues",
            round(seconds, 2),
            "s",
            f"{stats.dialogues} dialogues -> {stats.samples} samples; goal < 10 s",
        ),
        row("prepare", "samples per second", round(stats.samples / seconds), "samples/s"),
        *reading_rows(),
    ]
