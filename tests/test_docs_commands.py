"""Every `learn2ask ...` command in the README's and docs' shell blocks parses with today's CLI:
a user who copies one does not meet an option that was renamed or removed."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from learn2ask.cli import build_parser, discover_commands

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Every fenced block, whatever its language, so that a yaml or text block's closing fence is
# never read as the opening of the next (which would skip every shell block after it).
FENCED_BLOCK = re.compile(r"^```([\w-]*)\n(.*?)^```", re.S | re.M)
SHELL = ("", "bash", "sh", "console")


def documented_commands() -> list[tuple[str, str]]:
    """``(doc, command line)`` for each line of a shell block that starts with ``learn2ask``,
    continuation lines joined, a trailing comment, ``&`` or redirection dropped."""
    found = []
    for doc in DOCS:
        for language, block in FENCED_BLOCK.findall(doc.read_text(encoding="utf-8")):
            if language not in SHELL:
                continue
            for line in block.replace("\\\n", " ").splitlines():
                line = re.sub(r"\s+#.*$", "", line.strip())
                if line.startswith("learn2ask "):
                    line = re.split(r" (?:\||&&|>|2>) ", line)[0].rstrip("&").strip()
                    found.append((doc.name, line))
    return found


COMMANDS = documented_commands()


def test_the_docs_hold_commands_to_check() -> None:
    assert len(COMMANDS) >= 20
    assert {name for name, _ in COMMANDS} >= {"README.md", "serving.md", "data.md"}


@pytest.mark.parametrize(("doc", "line"), COMMANDS, ids=[f"{d}:{c[:60]}" for d, c in COMMANDS])
def test_a_documented_command_parses(doc: str, line: str) -> None:
    parser = build_parser(discover_commands())
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(shlex.split(line)[1:])
    except SystemExit as exit_:
        assert not exit_.code, f"{doc}: {line}: {errors.getvalue().strip().splitlines()[-1]}"
