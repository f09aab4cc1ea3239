"""The ``learn2ask`` command line: one thin subcommand per pipeline stage.

Each stage module exposes ``COMMANDS``: a list of :class:`Command`. Stage CLI modules import
heavy libraries (torch, transformers) only inside ``run`` so that ``--help`` stays instant.
User errors (:class:`~learn2ask.errors.Learn2AskError`) become one message and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from learn2ask import __version__
from learn2ask.commands import Command
from learn2ask.errors import Learn2AskError

# Order is the pipeline's order; each module is imported to build the parser.
STAGE_CLI_MODULES = (
    "learn2ask.data.cli",
    "learn2ask.rewards.cli",
    "learn2ask.calibration.cli",
    "learn2ask.training.cli",
    "learn2ask.evaluation.cli",
    "learn2ask.models.cli",
    "learn2ask.serving.cli",
    "learn2ask.demo",
)


def discover_commands() -> list[Command]:
    """Collect the subcommands of every stage module that is present."""
    commands: list[Command] = []
    for module_name in STAGE_CLI_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        commands.extend(getattr(module, "COMMANDS", []))
    return commands


def build_parser(commands: Sequence[Command]) -> argparse.ArgumentParser:
    """The top-level parser with one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="learn2ask",
        description="Turn expert conversation logs into a proactive agent: prepare -> grade -> "
        "train -> evaluate -> serve.",
    )
    parser.add_argument("--version", action="version", version=f"learn2ask {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in commands:
        sub_parser = sub.add_parser(
            command.name,
            help=command.help,
            description=command.description or command.help,
            formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        )
        command.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``learn2ask`` console script; returns the exit code."""
    parser = build_parser(discover_commands())
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except Learn2AskError as exc:
        print(f"learn2ask {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"learn2ask {args.command}: interrupted", file=sys.stderr)
        return 130
