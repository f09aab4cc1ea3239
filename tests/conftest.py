"""Fixtures shared by every stage's tests: the bundled model, a tiny model, the local server."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
MTS_VALIDATION = (
    REPO_ROOT
    / "src"
    / "learn2ask"
    / "resources"
    / "data"
    / "mts-dialog"
    / "MTS-Dialog-ValidationSet.csv"
)


@pytest.fixture(scope="session")
def bundled_model_dir() -> Path:
    """The bundled SmolLM2-135M-Instruct as a safetensors checkpoint (converted once, cached)."""
    from learn2ask.models.registry import BUNDLED_POLICY, resolve_model

    return Path(resolve_model(BUNDLED_POLICY))


def save_tiny_causal_lm(bundled_model_dir: Path, out: Path, architecture: str, layers: int) -> Path:
    """Save a randomly initialised ``architecture`` ("llama" or "qwen2") with ``layers`` layers
    and the bundled tokenizer to ``out``: fast to train in tests."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(bundled_model_dir)
    config = AutoConfig.for_model(
        architecture,
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, bundled_model_dir: Path) -> Path:
    """A randomly initialised 2-layer Llama with the bundled tokenizer: fast to train in tests."""
    return save_tiny_causal_lm(bundled_model_dir, tmp_path_factory.mktemp("tiny-llama"), "llama", 2)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def local_llm_server(bundled_model_dir: Path):
    """The project's own OpenAI-compatible server with the bundled model, on loopback.

    Yields the base URL (``http://127.0.0.1:PORT/v1``); the process is stopped at the end.
    """
    import subprocess
    import sys
    import time

    import httpx

    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "learn2ask",
            "serve-model",
            "smollm2-135m-instruct",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {process.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start within 180 s")
            time.sleep(0.5)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture()
def faulty_endpoint():
    """A local HTTP endpoint that misbehaves on purpose (failure injection only).

    Set ``endpoint.mode`` to ``"500"``, ``"sleep"``, ``"nonjson"``, ``"reply"`` (the content in
    ``endpoint.content``); ``endpoint.requests`` counts the requests received.
    """
    import json
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from types import SimpleNamespace

    state = SimpleNamespace(mode="500", content="", requests=0, sleep_s=5.0, base_url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output quiet
            pass

        def do_POST(self):  # noqa: N802 - http.server API
            length = int(self.headers.get("content-length", 0))
            self.rfile.read(length)
            state.requests += 1
            if state.mode == "sleep":
                time.sleep(state.sleep_s)
            if state.mode == "500":
                body, status = b'{"error": {"message": "boom"}}', 500
            elif state.mode == "nonjson":
                body, status = b"<html>gateway</html>", 200
            else:
                body = json.dumps(
                    {
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": state.content}}
                        ],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
                    }
                ).encode()
                status = 200
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def small_test_samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Held-out samples prepared from the bundled MTS-Dialog validation set (test split)."""
    from learn2ask.data.prepare import PrepareConfig, prepare_dataset
    from learn2ask.targets.qa import QAExtractor

    out = tmp_path_factory.mktemp("test-samples")
    prepare_dataset(
        PrepareConfig(inputs=(MTS_VALIDATION,), out=out, test_fraction=0.3), QAExtractor()
    )
    return out / "test.jsonl"


def schema_acceptor(schema: dict):
    """``accepts(text) -> (all tokens allowed, token count)`` for the bundled tokenizer under
    ``schema`` with llguidance, as serve-model constrains ``response_format`` replies."""
    import llguidance
    import llguidance.hf

    from learn2ask.models.loading import load_tokenizer
    from learn2ask.models.registry import resolve_model

    tokenizer = load_tokenizer(resolve_model("smollm2-135m-instruct"))
    ll_tokenizer = llguidance.hf.from_tokenizer(tokenizer)
    grammar = llguidance.LLMatcher.grammar_from_json_schema(
        schema, defaults={"whitespace_flexible": False}
    )

    def accepts(text: str) -> tuple[bool, int]:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        matcher = llguidance.LLMatcher(ll_tokenizer, grammar, log_level=0)
        return all(matcher.consume_token(i) for i in ids), len(ids)

    return accepts
