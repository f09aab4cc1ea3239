"""File helpers shared by every stage: atomic writes and strict JSONL reading."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from learn2ask.errors import ConfigError, InputError, OutputError

# errno values that mean "this output cannot be written here", not a bug.
OUTPUT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}
)


def output_error(path: str | Path, exc: OSError) -> OutputError:
    """An :class:`OutputError` naming ``path`` and the system's reason."""
    return OutputError(path, f"cannot write ({exc.strerror or exc.__class__.__name__})")


def ensure_output_dir(path: str | Path, option: str = "--out", create: bool = True) -> Path:
    """Create the output directory ``path`` (or, with ``create=False``, only check that it
    could be); a file in the way or an unwritable place is an :class:`OutputError`, raised
    before any work is done."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(path, f"exists and is not a directory ({option} needs a directory)")
    if not create:
        check_parents_are_dirs(path, option)
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise OutputError(
            path, f"a parent is not a directory ({option} needs a directory)"
        ) from None
    except OSError as exc:
        raise output_error(path, exc) from None
    return path


def check_parents_are_dirs(path: Path, option: str) -> None:
    """An :class:`OutputError` when an existing ancestor of ``path`` is a file."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(path, f"{parent} is not a directory ({option} needs a directory)")
            return


@contextmanager
def staged_outputs(out: str | Path) -> Iterator[Path]:
    """Yield a hidden staging directory inside ``out``; on success move every file written
    there into ``out``, so the outputs of one command appear together or not at all.

    On an exception nothing of the new set appears (an earlier complete set stays as it was)
    and the staging directory is removed.
    """
    out = ensure_output_dir(out)
    try:
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    except OSError as exc:
        raise output_error(out, exc) from None
    try:
        yield staging
        for item in sorted(staging.iterdir()):
            os.replace(item, out / item.name)
    except OSError as exc:
        if exc.errno in OUTPUT_ERRNOS:
            raise output_error(out, exc) from None
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path`` and move it into place only on success.

    A crash or an exception inside the block leaves any earlier ``path`` untouched and no
    partial file behind. A full disk or an unwritable place is an :class:`OutputError`.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(path, "is a directory, expected a file name")
    ensure_output_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise output_error(path, exc) from None
    # mkstemp creates 0600 files; give the result the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        kwargs = {"encoding": encoding} if "b" not in mode else {}
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.errno in OUTPUT_ERRNOS:
            raise output_error(path, exc) from None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path) as handle:
        handle.write(text)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write one JSON document (indented, UTF-8) to ``path`` atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def write_jsonl_atomic(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write one JSON object per line to ``path`` atomically; returns the number of rows."""
    count = 0
    with atomic_open(path) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def append_jsonl(path: str | Path, row: dict[str, Any]) -> None:
    """Append one JSON line and flush it, for logs and resumable outputs."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        handle.flush()


def read_jsonl_tolerant(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file that an interrupted writer may have left with a torn last line:
    unparsable lines are skipped (their work is redone by the resuming job); a missing file is
    empty."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


# A byte-order mark declares the encoding: Windows editors write UTF-8 with one, and Praat
# saves a TextGrid as UTF-16 whenever it holds a character outside ASCII.
BYTE_ORDER_MARKS = (
    (b"\xef\xbb\xbf", "utf-8-sig", "UTF-8"),
    (b"\xff\xfe", "utf-16", "UTF-16"),
    (b"\xfe\xff", "utf-16", "UTF-16"),
)


def read_text_strict(path: str | Path) -> str:
    """Read a text file, turning a missing file or bad encoding into an ``InputError``: UTF-8,
    or the encoding a byte-order mark declares (UTF-8 or UTF-16; the mark is dropped)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, expected a file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read file ({exc.strerror})") from None
    codec, name = next(
        ((codec, name) for mark, codec, name in BYTE_ORDER_MARKS if data.startswith(mark)),
        ("utf-8", "UTF-8"),
    )
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].decode(codec, errors="ignore").count("\n") + 1
        raise InputError(path, f"not valid {name} (byte {exc.start})", line=line) from None


def is_valid_unicode(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8 (no lone surrogates such as ``"\\udc80"``,
    which JSON escapes can carry)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_json(text: str, path: str | Path, line: int | None = None) -> Any:
    """``json.loads`` whose failures (bad syntax, nesting too deep to parse) are an
    :class:`InputError` naming the file and line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON ({exc.msg})", line=line or exc.lineno) from None
    except RecursionError:
        raise InputError(path, "JSON nested too deeply to read", line=line) from None


def load_yaml(path: str | Path, what: str = "config") -> Any:
    """Parse a YAML file; a missing file or a syntax error is one :class:`ConfigError` line
    ``FILE:LINE: not valid YAML (problem)``."""
    import yaml

    text = read_text_strict(path)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        raise ConfigError(f"{where}: {what} is not valid YAML ({problem})") from None
    except RecursionError:
        raise ConfigError(f"{path}: {what} is nested too deeply to read") from None


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, parsed_object)`` for each non-blank line of a JSONL file.

    Raises ``InputError`` naming the line for text that is not JSON.
    """
    text = read_text_strict(path)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        yield number, parse_json(line, path, number)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a whole JSONL file of objects; any non-object line is an ``InputError``."""
    rows = []
    for number, obj in iter_jsonl(path):
        if not isinstance(obj, dict):
            raise InputError(path, "expected a JSON object on each line", line=number)
        rows.append(obj)
    return rows
