"""The subcommand record every stage CLI module exposes (``COMMANDS``); the top-level
``learn2ask`` parser collects them. Kept apart from ``learn2ask.cli`` so that no stage imports
the top-level CLI."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, one-line help, argument set-up and entry point."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str | None = None
