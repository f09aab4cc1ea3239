"""Run every benchmark in one process and print their figures side by side.

Each ``benchmarks/bench_*.py`` module exposes ``run() -> list[dict]``: rows with at least
``benchmark``, ``metric``, ``value`` and ``unit`` (plus free-form ``note``). ``make bench``
prints them as one table and writes ``benchmarks/results/latest.json``; every module's rows also
go to ``benchmarks/results/<module>.json``, so running a few (``python -m benchmarks.run_all
NAME``) updates those without discarding the full run's file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import platform
import time
from pathlib import Path

import benchmarks
from learn2ask.io import write_json_atomic

RESULTS_DIR = Path(__file__).parent / "results"


def discover(selected: list[str] | None) -> list[str]:
    """Names of the benchmark modules to run (all ``bench_*`` unless some are selected)."""
    names = sorted(
        m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")
    )
    if selected:
        names = [n for n in names if any(s in n for s in selected)]
    return names


def format_table(rows: list[dict]) -> str:
    """Plain-text table of benchmark rows."""
    header = ("benchmark", "metric", "value", "unit", "note")
    lines = [header] + [
        (r["benchmark"], r["metric"], _fmt(r["value"]), r.get("unit", ""), r.get("note", ""))
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in lines
    )


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def main() -> None:
    """Run the selected benchmarks, print one table, save the rows as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("only", nargs="*", help="substrings of benchmark module names to run")
    args = parser.parse_args()
    rows: list[dict] = []
    for name in discover(args.only):
        module = importlib.import_module(f"benchmarks.{name}")
        started = time.perf_counter()
        print(f"== {name}", flush=True)
        module_rows = module.run()
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
        rows.extend(module_rows)
        write_json_atomic(RESULTS_DIR / f"{name}.json", _results(module_rows))
    print()
    print(format_table(rows))
    if not args.only:
        write_json_atomic(RESULTS_DIR / "latest.json", _results(rows))


def _results(rows: list[dict]) -> dict:
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()} {platform.processor()} cores={_cores()}",
        "rows": rows,
    }


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
