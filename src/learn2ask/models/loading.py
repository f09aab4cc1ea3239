"""Load a causal LM and its tokenizer from a bundled name, a local directory or a hub id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from learn2ask.models.registry import resolve_model


def pick_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_tokenizer(name_or_path: str | Path, padding_side: str = "left") -> Any:
    """The tokenizer with a pad token (the EOS token when the model has none)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(name_or_path))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    return tokenizer


def load_policy(
    name_or_path: str | Path, device: str = "auto", dtype: str | None = None
) -> tuple[Any, Any]:
    """``(model, tokenizer)`` in eval mode, tokenizer left-padded for batched generation.

    ``dtype`` is a torch dtype name (``float32``, ``bfloat16``); default float32 on CPU and
    bfloat16 on CUDA.
    """
    import torch
    from transformers import AutoModelForCausalLM

    device = pick_device(device)
    dtype = dtype or ("bfloat16" if device.startswith("cuda") else "float32")
    path = resolve_model(name_or_path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
    model.to(device)
    model.eval()
    tokenizer = load_tokenizer(path)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer
