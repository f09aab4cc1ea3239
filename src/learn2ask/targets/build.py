"""Build the extractor a typed :class:`ExtractorConfig` names: ``qa``, ``llm`` or a plug-in.

The built-in factories register in ``learn2ask.plugins.EXTRACTORS``; a user's own extractor is
named ``package.module:factory`` and called with the same config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from learn2ask.data.extraction import Extractor
from learn2ask.domain import DEFAULT_DOMAIN, Domain, cached_domain
from learn2ask.endpoint import EndpointOptions
from learn2ask.errors import ConfigError
from learn2ask.plugins import EXTRACTORS


@dataclass(frozen=True)
class ExtractorConfig(EndpointOptions):
    """Which extractor derives I*, and its options.

    ``domain`` gives the LLM extractor its description and attribute list (``attributes``
    replaces the list). ``action_pattern``: expert actions that are not questions (``qa``).
    The endpoint fields (``base_url``, ``model``, ...) and ``cache_dir``: the LLM extractor's.
    """

    kind: str = "qa"
    domain: Domain = field(default_factory=lambda: cached_domain(DEFAULT_DOMAIN))
    attributes: tuple[str, ...] = ()
    action_pattern: str | None = None
    cache_dir: Path | None = None


def build_extractor(config: ExtractorConfig) -> Extractor:
    """The extractor ``config.kind`` names (registered, or a plug-in by dotted path)."""
    return EXTRACTORS.get(config.kind)(config)


@EXTRACTORS.register("qa")
def qa_extractor(config: ExtractorConfig) -> Extractor:
    """The offline question/answer rules (``action_pattern`` replaces the default)."""
    from learn2ask.targets.qa import QAExtractor, QAExtractorConfig

    if config.action_pattern:
        return QAExtractor(QAExtractorConfig(action_pattern=config.action_pattern))
    return QAExtractor()


@EXTRACTORS.register("llm")
def llm_extractor(config: ExtractorConfig) -> Extractor:
    """Attribute extraction by an LLM, told the domain's description and attributes."""
    from learn2ask.targets.llm import LLMExtractor, LLMExtractorConfig

    client = config.client("--extractor llm needs --base-url and --model")
    if config.cache_dir is None:
        raise ConfigError("the llm extractor needs a cache directory")
    return LLMExtractor(
        LLMExtractorConfig(
            client=client,
            cache_dir=config.cache_dir,
            domain=config.domain.extractor.description,
            attributes=config.attributes or tuple(config.domain.extractor.attributes),
        )
    )
