"""Endpoint options shared by every component that calls an OpenAI-compatible model (the LLM
extractor, the LLM grader): one set of fields, one way to turn them into a client config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from learn2ask.errors import ConfigError

if TYPE_CHECKING:
    from learn2ask.models.client import ClientConfig


@dataclass(frozen=True)
class EndpointOptions:
    """Where a component's model is served and how hard to try (base of the typed configs)."""

    base_url: str | None = None
    model: str | None = None
    timeout_s: float = 60.0
    max_attempts: int = 3
    max_concurrency: int = 8

    def client(self, missing: str) -> ClientConfig:
        """The client config; ``ConfigError(missing)`` when the URL or the model is not given."""
        from learn2ask.models.client import ClientConfig

        if not self.base_url or not self.model:
            raise ConfigError(missing)
        return ClientConfig(
            base_url=self.base_url,
            model=self.model,
            timeout_s=self.timeout_s,
            max_attempts=self.max_attempts,
            max_concurrency=self.max_concurrency,
        )
