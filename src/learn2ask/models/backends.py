"""Policy backends with one interface: a local model, or any OpenAI-compatible endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from learn2ask.errors import EndpointError
from learn2ask.models.client import ChatClient, ClientConfig, LLMError
from learn2ask.models.generation import GenerationConfig, LocalGenerator, Messages
from learn2ask.models.policy import PolicyPromptConfig, load_prompt_config
from learn2ask.models.registry import resolve_local_model_dir, resolve_model


class PolicyBackend(Protocol):
    """Produces ``n`` replies per conversation."""

    name: str
    prompt_config: PolicyPromptConfig

    def generate_n(
        self, batch: Sequence[Messages], n: int, config: GenerationConfig
    ) -> list[list[str]]:
        """``n`` replies for each conversation, in order."""
        ...


@dataclass
class LocalPolicy:
    """A local checkpoint; uses the prompt settings saved beside it by training."""

    generator: LocalGenerator
    name: str
    prompt_config: PolicyPromptConfig

    @classmethod
    def load(cls, model: str | Path, device: str = "auto") -> LocalPolicy:
        """Load a bundled name, run directory (``OUT/model``) or checkpoint directory."""
        local = resolve_local_model_dir(model)
        resolved = resolve_model(local if local is not None else str(model))
        return cls(
            LocalGenerator.from_pretrained(resolved, device=device),
            str(model),
            load_prompt_config(resolved if Path(resolved).is_dir() else None),
        )

    def generate_n(
        self, batch: Sequence[Messages], n: int, config: GenerationConfig
    ) -> list[list[str]]:
        """Local batched generation."""
        return self.generator.generate_n(batch, n, config)


@dataclass
class RemotePolicy:
    """A policy behind an OpenAI-compatible endpoint (vLLM, our ``serve-model``, ...)."""

    client_config: ClientConfig
    name: str
    prompt_config: PolicyPromptConfig

    def generate_n(
        self, batch: Sequence[Messages], n: int, config: GenerationConfig
    ) -> list[list[str]]:
        """One request per conversation asking for ``n`` choices; failures raise."""

        async def run() -> list[list[str]]:
            async with ChatClient(self.client_config) as client:
                jobs = [
                    client.complete(
                        list(messages),
                        temperature=config.temperature,
                        max_tokens=config.max_new_tokens,
                        extra={
                            "n": n,
                            "seed": config.seed,
                            "top_p": config.top_p,
                            **({"stop": list(config.stop)} if config.stop else {}),
                        },
                    )
                    for messages in batch
                ]
                return list(await asyncio.gather(*jobs))

        try:
            replies = asyncio.run(run())
        except LLMError as exc:
            raise EndpointError(
                f"{self.client_config.base_url}: policy endpoint failed: {exc}"
            ) from exc
        if any(len(choices) != n for choices in replies):
            short = min(len(choices) for choices in replies)
            raise EndpointError(
                f"{self.client_config.base_url}: asked for n={n} choices, got {short}"
            )
        return replies
