"""An installed learn2ask (a wheel, not this editable checkout) carries every file it reads.

The editable install reads the source tree, so a page or resource left out of the package data
works in every other test and breaks only for a user who ran `pip install learn2ask`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def tracked_files() -> list[str]:
    """The files of this checkout, relative to its root: what git tracks, and new files it
    does not ignore (what the next commit would hold)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (REPO / name).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built offline from a copy of the tracked files (the checkout stays clean)."""
    source = tmp_path_factory.mktemp("source")
    for name in tracked_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run([*command, "-q", "-w", str(out), str(source)], check=True)
    (built,) = out.glob("learn2ask-*.whl")
    return built


def test_the_wheel_holds_every_file_of_the_package(wheel: Path):
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    package = [name.removeprefix("src/") for name in tracked_files()]
    expected = {name for name in package if name.startswith("learn2ask/")}
    assert expected - in_wheel == set()


def test_an_installed_wheel_serves_its_pages(wheel: Path, tmp_path: Path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), wheel],
        check=True,
    )
    read_pages = (
        "import learn2ask, learn2ask.serving.app as app;"
        "print(learn2ask.__file__);"
        "print(len(app._page('chat.html')), len(app._page('operator.html')))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", read_pages],
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0, shown.stderr
    where, sizes = shown.stdout.splitlines()
    assert where.startswith(str(target))
    assert all(int(size) > 500 for size in sizes.split())
