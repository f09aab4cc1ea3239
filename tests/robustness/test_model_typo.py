"""Finding 7: a model name that is nowhere on this machine fails at once, offline."""

from __future__ import annotations

import socket
import time

import pytest

from learn2ask.errors import ConfigError
from learn2ask.models.registry import BUNDLED_POLICY, check_model_available, resolve_model
from tests.robustness.conftest import assert_one_line_error, run_subprocess


@pytest.fixture()
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model name was looked up on the network")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.parametrize("name", ["runs/nope", "nope", "some-org/not-cached-model"])
def test_unknown_model_is_a_config_error_without_network(name, no_network, monkeypatch):
    monkeypatch.delenv("LEARN2ASK_ALLOW_DOWNLOADS", raising=False)
    with pytest.raises(ConfigError, match="no such model directory, bundled name"):
        resolve_model(name)
    with pytest.raises(ConfigError):
        check_model_available(name)


def test_known_names_pass_the_cheap_check(tmp_path, no_network):
    check_model_available(BUNDLED_POLICY)
    check_model_available(tmp_path)


def test_downloads_only_when_asked_and_never_offline(monkeypatch, no_network):
    monkeypatch.setenv("LEARN2ASK_ALLOW_DOWNLOADS", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert resolve_model("some-org/some-model") == "some-org/some-model"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError):
        resolve_model("some-org/some-model")


def test_evaluate_with_a_model_typo_fails_fast_in_one_line(tmp_path, prepared):
    out = tmp_path / "eval"
    argv = ["evaluate", "--model", "runs/nope", "--samples", str(prepared / "test.jsonl")]
    started = time.monotonic()
    result = run_subprocess([*argv, "--out", str(out)], cwd=tmp_path, timeout=30)
    assert time.monotonic() - started < 15
    assert "runs/nope: no such model directory" in assert_one_line_error(result, "evaluate")
    assert not out.exists()
