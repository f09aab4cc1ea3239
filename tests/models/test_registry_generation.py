"""Bundled model resolution and local generation."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from learn2ask.models.generation import GenerationConfig, LocalGenerator, cut_at_stop
from learn2ask.models.registry import BUNDLED_MODELS, BUNDLED_POLICY, resolve_model

CHAT = [
    [{"role": "user", "content": "Name a fruit."}],
    [{"role": "user", "content": "What is the capital of France? Answer briefly."}],
]


@pytest.mark.slow
def test_bundled_model_converts_once_even_when_asked_twice_at_once(tmp_path, monkeypatch):
    import learn2ask.models.registry as registry

    calls = []
    original = registry._convert_gguf
    monkeypatch.setattr(
        registry, "_convert_gguf", lambda gguf, target: (calls.append(gguf), original(gguf, target))
    )
    # Two callers at once (accelerate ranks, parallel test workers): one converts, one waits.
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(
            lambda _: resolve_model(BUNDLED_POLICY, cache_dir=tmp_path), [0, 1]
        )
    assert first == second and len(calls) == 1
    assert resolve_model(BUNDLED_POLICY, cache_dir=tmp_path) == first and len(calls) == 1
    assert (tmp_path / BUNDLED_POLICY / "model.safetensors").is_file()
    assert BUNDLED_MODELS[BUNDLED_POLICY].filename in str(calls[0])


def test_gguf_files_parse_once_inside_the_conversion_block_only(tmp_path):
    import gguf
    import numpy as np

    from learn2ask.models.registry import gguf_parsed_once

    path = str(tmp_path / "tiny.gguf")
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    original = gguf.GGUFReader
    with gguf_parsed_once():
        assert gguf.GGUFReader(path) is gguf.GGUFReader(path)
        assert gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 2) is gguf.get_tensor_name_map(
            gguf.MODEL_ARCH.LLAMA, 2
        )
        assert len(gguf.GGUFReader(path).tensors) == 1
        memoised = gguf.GGUFReader
        with gguf_parsed_once():  # a block inside another leaves restoring to the outer one
            assert gguf.GGUFReader is memoised
        assert gguf.GGUFReader is memoised
    assert gguf.GGUFReader is original and gguf.GGUFReader(path) is not gguf.GGUFReader(path)


def test_local_directory_passes_through(tiny_model_dir, monkeypatch):
    assert resolve_model(tiny_model_dir) == str(tiny_model_dir)
    monkeypatch.setenv("LEARN2ASK_ALLOW_DOWNLOADS", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert resolve_model("some-org/some-model") == "some-org/some-model"


def test_missing_local_path_is_a_clear_error_not_a_hub_lookup(tmp_path, capsys):
    from learn2ask.cli import main
    from learn2ask.errors import ConfigError

    missing = tmp_path / "runs" / "sft" / "checkpoints" / "checkpoint-40"
    with pytest.raises(ConfigError, match="no such model directory"):
        resolve_model(missing)
    with pytest.raises(ConfigError, match="no such model directory"):
        resolve_model("./not-here")
    assert main(["serve-model", str(missing), "--port", "1"]) == 2
    assert "no such model directory" in capsys.readouterr().err


def test_load_policy_sets_pad_token_and_left_padding(tiny_model_dir):
    from learn2ask.models.loading import load_policy

    model, tokenizer = load_policy(tiny_model_dir, device="cpu")
    assert tokenizer.pad_token is not None and tokenizer.padding_side == "left"
    assert model.generation_config.pad_token_id == tokenizer.pad_token_id
    assert not model.training
    generator = LocalGenerator(model, tokenizer)
    config = GenerationConfig(max_new_tokens=4, stop=("\n",), batch_size=2)
    replies = generator.generate(CHAT, config)
    assert len(replies) == 2 and all("\n" not in r for r in replies)
    assert "<|im_end|>" not in "".join(replies)  # special tokens are stripped


def test_cut_at_stop():
    assert cut_at_stop("Why?\nUser: x", ["\nUser:"]) == "Why?"
    assert cut_at_stop("abc", []) == "abc"


@pytest.fixture(scope="module")
def bundled_generator(bundled_model_dir):
    return LocalGenerator.from_pretrained(bundled_model_dir, device="cpu")


@pytest.mark.slow
def test_greedy_generation_is_batched_and_deterministic(bundled_generator):
    config = GenerationConfig(max_new_tokens=12, batch_size=2)
    batched = bundled_generator.generate(CHAT, config)
    one_by_one = [bundled_generator.generate([c], config)[0] for c in CHAT]
    assert batched == one_by_one
    assert "paris" in batched[1].lower()


@pytest.mark.slow
def test_seeded_sampling_repeats_and_n_rollouts_differ(bundled_generator):
    config = GenerationConfig(max_new_tokens=12, temperature=1.0, seed=7)
    assert bundled_generator.generate(CHAT, config) == bundled_generator.generate(CHAT, config)
    rollouts = bundled_generator.generate_n(CHAT[:1], 3, config)
    assert len(rollouts) == 1 and len(rollouts[0]) == 3
    assert len(set(rollouts[0])) > 1
