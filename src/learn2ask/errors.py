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
