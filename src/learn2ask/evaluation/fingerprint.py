"""What produced an evaluation directory's rollouts, so a rerun never reuses another run's.

``evaluate`` resumes from ``OUT/rollouts.jsonl``. Resuming is only right when the rollouts come
from the same model, endpoint, sampling, prompt, grader and samples. :func:`check_fingerprint`
keeps ``OUT/fingerprint.json`` beside them: the same fingerprint resumes, a different one is
refused with one line naming what differs (or, with ``overwrite``, the old outputs are removed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from learn2ask.errors import ConfigError, InputError
from learn2ask.io import ensure_output_dir, write_json_atomic
from learn2ask.runs import EvalRun

FINGERPRINT_FILE = EvalRun.FINGERPRINT
FINGERPRINT_VERSION = 1
# Everything ``evaluate`` writes that depends on the fingerprinted settings (not the grade
# cache: its keys name the grader, model and inputs).
EVALUATION_OUTPUTS = (
    EvalRun.ROLLOUTS,
    EvalRun.METRICS,
    EvalRun.SUMMARY,
    EvalRun.STOP_SCORES,
    EvalRun.REPLAY,
    EvalRun.REPLAY_METRICS,
    EvalRun.REFERENCES,
)
# Files whose content identifies a local model and its saved prompt/decision settings.
MODEL_IDENTITY_FILES = ("config.json", "learn2ask_policy.json", "adapter_config.json")
MODEL_WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.gguf")


def normalise(value: Any) -> Any:
    """``value`` as plain JSON data: dataclasses and mappings become dicts, paths strings,
    tuples lists, so that a fingerprint read back from disk compares equal."""
    if is_dataclass(value) and not isinstance(value, type):
        return normalise(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): normalise(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [normalise(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def compute_fingerprint(**parts: Any) -> dict[str, Any]:
    """A JSON-able fingerprint of the named parts (model, endpoint, sampling, prompt, grader,
    samples, ...); equal settings give equal fingerprints."""
    return {"version": FINGERPRINT_VERSION, **normalise(parts)}


def file_digest(path: str | Path | None) -> str | None:
    """SHA-256 of a file's bytes (None for no path or a missing file)."""
    if path is None or not Path(path).is_file():
        return None
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def require_file(path: Path) -> Path:
    """``path``, or an :class:`InputError` when it is not an existing file."""
    if not Path(path).is_file():
        raise InputError(path, "file not found")
    return path


def model_identity(model: str | Path) -> str | None:
    """A digest of a local model directory (its config, saved policy settings, and the size and
    modification time of its weights), so a retrained model in the same place is a different
    model; None for names that are not local directories (bundled names, endpoint names)."""
    path = Path(model).expanduser()
    if not path.is_dir():
        return None
    digest = hashlib.sha256()
    for directory in (path, path / "model"):
        for name in MODEL_IDENTITY_FILES:
            digest.update(f"{directory.name}/{name}={file_digest(directory / name)}".encode())
        for pattern in MODEL_WEIGHT_PATTERNS:
            for weight in sorted(directory.glob(pattern)):
                stat = weight.stat()
                digest.update(f"{weight.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def evaluation_fingerprint(args: argparse.Namespace) -> dict[str, Any]:
    """The fingerprint of ``learn2ask evaluate``'s options: what decides the rollouts."""
    return compute_fingerprint(
        model={"name": str(args.model), "identity": model_identity(args.model)},
        endpoint=args.base_url,
        sampling={
            "n_rollouts": args.n_rollouts,
            "temperature": args.temperature,
            "top_p": args.top_p,
            "max_new_tokens": args.max_new_tokens,
            "seed": args.seed,
        },
        prompt={"max_context_chars": args.max_context_chars},
        decision={
            "rule": getattr(args, "decision", None),
            "threshold": getattr(args, "threshold", None),
            "mix": getattr(args, "decision_mix", None),
            "questions": getattr(args, "questions", None),
            "assessment": getattr(args, "assessment", "saved"),
            # only when set, so evaluations made before the options existed still resume
            **{
                name: getattr(args, name)
                for name in ("anchor_weight", "likelihood_weight")
                if getattr(args, name, None) is not None
            },
        },
        samples={
            "digest": file_digest(require_file(args.samples)),
            "max_samples": args.max_samples,
            "balanced": args.balanced,
            # only when set, so evaluations made before the option existed still resume
            **({"whole_dialogues": True} if getattr(args, "whole_dialogues", False) else {}),
        },
        grader={
            "grader": args.grader,
            "grader_file": file_digest(args.grader_file),
            "grader_base_url": args.grader_base_url if args.grader == "llm" else None,
            "grader_model": args.grader_model if args.grader == "llm" else None,
            "fusion": args.fusion,
            "beta": args.beta,
        },
    )


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    if not isinstance(data, dict):
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def describe_differences(old: dict[str, Any], new: dict[str, Any], limit: int = 4) -> str:
    """``model.name: 'a' -> 'b', sampling.temperature: 0.0 -> 0.9`` (at most ``limit``)."""
    before, after = flatten(old), flatten(new)
    keys = [k for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
    shown = [f"{k}: {before.get(k)!r} -> {after.get(k)!r}" for k in keys[:limit]]
    if len(keys) > limit:
        shown.append(f"and {len(keys) - limit} more")
    return ", ".join(shown)


def read_fingerprint(out_dir: Path) -> dict[str, Any] | None:
    """The fingerprint saved in ``out_dir`` (None when there is none; unreadable = ``{}``)."""
    path = out_dir / FINGERPRINT_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def existing_outputs(out_dir: Path, outputs: Iterable[str]) -> list[Path]:
    """The outputs of an earlier run present in ``out_dir``."""
    return [out_dir / name for name in outputs if (out_dir / name).exists()]


def check_fingerprint(
    out_dir: Path,
    fingerprint: dict[str, Any],
    overwrite: bool,
    outputs: Iterable[str] = EVALUATION_OUTPUTS,
) -> None:
    """Make ``out_dir`` safe to (re)use for a run with ``fingerprint``.

    - No earlier outputs, or the same fingerprint: keep them (resume) and record it.
    - ``overwrite``: remove the earlier outputs, record the new fingerprint.
    - Otherwise a :class:`ConfigError` in one line names what differs; nothing is touched.
    """
    out_dir = ensure_output_dir(out_dir)
    outputs = tuple(outputs)
    saved = read_fingerprint(out_dir)
    found = existing_outputs(out_dir, outputs)
    if overwrite:
        for path in found:
            path.unlink()
    elif found and saved is None:
        raise ConfigError(
            f"{out_dir}: holds evaluation outputs ({found[0].name}) without a record of what "
            "produced them; use a new --out or pass --overwrite to replace them"
        )
    elif found and saved != fingerprint:
        differences = (
            describe_differences(saved, fingerprint) if saved else f"unreadable {FINGERPRINT_FILE}"
        )
        raise ConfigError(
            f"{out_dir}: holds rollouts made with other settings ({differences}); "
            "use a new --out or pass --overwrite to replace them"
        )
    if saved != fingerprint:
        write_json_atomic(out_dir / FINGERPRINT_FILE, fingerprint)
