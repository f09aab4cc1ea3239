"""Errors that the CLI turns into one clear message and a non-zero exit, never a traceback."""

from __future__ import annotations

from pathlib import Path


class Learn2AskError(Exception):
    """Base class of every error caused by the user's input or configuration."""

    exit_code = 2


class InputError(Learn2AskError):
    """Bad input data: names the file, the line (1-based, when known) and the reason."""

    def __init__(self, path: str | Path, reason: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


class ConfigError(Learn2AskError):
    """A configuration file or option that cannot be used."""


class OutputError(InputError):
    """An output that cannot be written: the path is a file, the disk is full or read-only."""


class EndpointError(Learn2AskError):
    """An endpoint answered, but not with what was asked (e.g. fewer choices than ``n``)."""


class FailureRateError(Learn2AskError):
    """More items failed than ``--max-failure-rate`` allows; the outputs name each failure."""

    exit_code = 3


def one_line(message: str) -> str:
    """``message`` folded onto one line: its non-blank lines, stripped, joined by ``"; "``."""
    return "; ".join(part.strip() for part in str(message).splitlines() if part.strip())


def os_error_message(exc: OSError) -> str:
    """``FILE: reason`` for an ``OSError`` (the file when the error names one)."""
    reason = exc.strerror or exc.__class__.__name__
    where = exc.filename if exc.filename is not None else None
    return f"{where}: {reason}" if where is not None else reason


def check_failure_rate(failures: int, total: int, max_rate: float, what: str) -> None:
    """Raise :class:`FailureRateError` (exit 3) when ``failures / total`` exceeds ``max_rate``.

    ``what`` names the items, e.g. ``"grading"``: the message reads
    ``grading: 5 of 6 failed (83.3%), above --max-failure-rate 0``.
    """
    check_max_failure_rate(max_rate)
    if total <= 0 or failures <= 0:
        return
    rate = failures / total
    if rate > max_rate:
        raise FailureRateError(
            f"{what}: {failures} of {total} failed ({rate:.1%}), above --max-failure-rate "
            f"{max_rate:g}"
        )


def check_max_failure_rate(max_rate: float) -> None:
    """A :class:`ConfigError` unless ``0 <= max_rate <= 1``."""
    if not 0.0 <= max_rate <= 1.0:
        raise ConfigError(f"--max-failure-rate must be in [0, 1], got {max_rate:g}")
