"""Shared inputs of the robustness suite: a small chat log, its prepared samples, CLI runners."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# A record of the CLI's logging format (learn2ask.cli: "%(asctime)s %(levelname)s %(name)s: ...").
LOG_RECORD = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING) [\w.]+: ")
EXPERT_DIALOGUE = [
    ("user", "I have had a headache since Monday."),
    ("assistant", "How long does each headache last?"),
    ("user", "A few hours."),
    ("assistant", "Do you have any fever or stiff neck?"),
    ("user", "No fever."),
    ("assistant", "Rest and drink water; see me if it gets worse."),
]


@dataclass(frozen=True)
class CliResult:
    """Exit code and captured output of one ``learn2ask`` run."""

    code: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        """The non-blank lines written to stderr, less log records (``HH:MM:SS WARNING ...``)
        that work done before the failure legitimately logged."""
        return [
            line for line in self.stderr.splitlines() if line.strip() and not LOG_RECORD.match(line)
        ]


def chat_line(dialogue_id: str, turns: list[tuple[str, str]]) -> str:
    """One chat-format JSONL record."""
    messages = [{"role": role, "content": text} for role, text in turns]
    return json.dumps({"id": dialogue_id, "messages": messages})


def write_chat_log(path: Path, n_dialogues: int = 6) -> Path:
    """A chat JSONL log of ``n_dialogues`` short expert conversations."""
    path.write_text(
        "\n".join(chat_line(f"d{i}", EXPERT_DIALOGUE) for i in range(n_dialogues)) + "\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture()
def chat_log(tmp_path: Path) -> Path:
    """A valid chat log in a fresh directory."""
    return write_chat_log(tmp_path / "logs.jsonl")


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``prepare`` output directory (train.jsonl, test.jsonl, stats.json), made once."""
    from learn2ask.data.prepare import PrepareConfig, prepare_dataset
    from learn2ask.targets.qa import QAExtractor

    root = tmp_path_factory.mktemp("prepared")
    log = write_chat_log(root / "logs.jsonl")
    prepare_dataset(
        PrepareConfig(inputs=(log,), out=root / "out", test_fraction=0.34), QAExtractor()
    )
    return root / "out"


def run_in_process(argv: list[str], capsys: pytest.CaptureFixture[str]) -> CliResult:
    """``learn2ask.cli.main(argv)`` with its output captured (for fault-injection cases)."""
    from learn2ask.cli import main

    capsys.readouterr()
    code = main(argv)
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


def run_subprocess(argv: list[str], cwd: Path, timeout: float = 60.0) -> CliResult:
    """The real console command, as a new user runs it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("LEARN2ASK_ALLOW_DOWNLOADS", None)
    completed = subprocess.run(
        [sys.executable, "-m", "learn2ask", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


def assert_one_line_error(result: CliResult, command: str, code: int = 2) -> str:
    """The run exited ``code`` with exactly one ``learn2ask COMMAND: error:`` line on stderr;
    returns that line."""
    assert result.code == code, (result.code, result.stderr[-2000:])
    assert len(result.stderr_lines) == 1, result.stderr[-2000:]
    line = result.stderr_lines[0]
    assert line.startswith(f"learn2ask {command}: error: "), line
    assert "Traceback" not in result.stderr
    return line
