"""The ``learn2ask`` command line: one thin subcommand per pipeline stage.

Each stage module exposes ``COMMANDS``: a list of :class:`Command`. Stage CLI modules import
heavy libraries (torch, transformers) only inside ``run`` so that ``--help`` stays instant.
User errors (:class:`~learn2ask.errors.Learn2AskError`) become one message and exit code 2 (3
for too many failures). So do input nested too deeply to parse (``RecursionError``) and outputs
that cannot be written (disk full, read-only, no permission, a file in the way): one line on
stderr, the traceback only with ``--verbose``.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import sys
from collections.abc import Sequence

from learn2ask import __version__
from learn2ask.commands import Command
from learn2ask.errors import Learn2AskError, one_line, os_error_message

logger = logging.getLogger(__name__)

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


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends an option's default to its help, except where there is none to show (``None``,
    a flag's ``False``) or the help already says what it is ("default: the domain's")."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        unset = action.default is None or (action.nargs == 0 and action.default is False)
        if unset or "default" in text:
            return text
        return super()._get_help_string(action) or text


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
            formatter_class=DefaultsHelpFormatter,
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
    if not args.verbose:  # one line per request would bury the result and the error
        logging.getLogger("httpx").setLevel(logging.WARNING)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except Learn2AskError as exc:
        return report_error(args, str(exc), exc.exit_code)
    except RecursionError:
        return report_error(args, "input nested too deeply to read (RecursionError)", 2)
    except UnicodeEncodeError as exc:  # lone surrogates that a reader let through
        return report_error(args, f"text that is not valid Unicode ({exc.reason})", 2)
    except OSError as exc:
        if not is_user_os_error(exc):
            raise
        return report_error(args, os_error_message(exc), 2)
    except KeyboardInterrupt:
        print(f"learn2ask {args.command}: interrupted", file=sys.stderr)
        return 130


def is_user_os_error(exc: OSError) -> bool:
    """Whether ``exc`` comes from the user's environment (a full or read-only disk, missing
    permission, a file where a directory belongs) rather than from a bug."""
    user_errnos = {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
        errno.EFBIG,
        errno.EEXIST,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.ENOENT,
    }
    return exc.errno in user_errnos


def report_error(args: argparse.Namespace, message: str, exit_code: int) -> int:
    """Print ``learn2ask CMD: error: MESSAGE`` as one line (the traceback only with
    ``--verbose``); returns ``exit_code``."""
    if args.verbose:
        logger.debug("traceback of the error below", exc_info=True)
    print(f"learn2ask {args.command}: error: {one_line(message)}", file=sys.stderr)
    return exit_code
