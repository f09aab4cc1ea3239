"""Registries of pluggable components, in the style of lm-evaluation-harness.

Each kind of component has one :class:`Registry`: log readers, target extractors, content
graders, reward fusions and training methods. A built-in is listed by the dotted path of its
object and imported on first use, so a CLI lists its choices at start-up without importing torch.
Code adds a component with a decorator, ``@GRADERS.register("keywords")``; a user's own component
needs no code here at all: name it by dotted import path, ``package.module:object`` (as TRL does
for reward functions), wherever a name is accepted. A typo gets a "did you mean".

What each kind's object is called with:

- ``READERS``: ``reader(path, ReaderConfig) -> Iterator[Dialogue | InputError]``
- ``EXTRACTORS``: ``factory(ExtractorConfig) -> Extractor``
- ``GRADERS``: ``factory(GraderConfig) -> ContentGrader``
- ``FUSIONS``: ``fuse(r_a, r_s, p, beta) -> float``
- ``METHODS``: ``run(TrainConfig, resume: bool) -> Path`` (the saved model directory); a recipe
  that embeds may also take ``embedder=`` (``run_training`` passes it only when given)
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import Any

from learn2ask.errors import ConfigError


class Registry:
    """Names -> components of one kind; built-ins load lazily from their modules."""

    def __init__(self, kind: str, builtins: dict[str, str]) -> None:
        self.kind = kind
        self._builtins = dict(builtins)  # name -> "module:object", imported on first use
        self._entries: dict[str, Any] = {}

    def register(self, name: str) -> Callable[[Any], Any]:
        """Decorator: ``@REGISTRY.register("name")`` above a function or class."""

        def add(obj: Any) -> Any:
            self._entries[name] = obj
            return obj

        return add

    def names(self) -> tuple[str, ...]:
        """Every registered name (built-ins included), in registration order."""
        return tuple(dict.fromkeys([*self._builtins, *self._entries]))

    def check(self, name: str) -> str:
        """``name`` itself when it is registered or a dotted path; else a ``ConfigError``."""
        if is_dotted_path(name) or name in self.names():
            return name
        raise ConfigError(self.unknown_message(name))

    def get(self, name: str) -> Any:
        """The component registered as ``name``, or the object at dotted path ``name``."""
        if name in self._entries:
            return self._entries[name]
        if name in self._builtins:
            return import_object(self._builtins[name])
        if is_dotted_path(name):
            return import_object(name)
        raise ConfigError(self.unknown_message(name))

    def unknown_message(self, name: str) -> str:
        """``unknown grader 'embeding' (did you mean 'embedding'?)`` with the known names."""
        close = difflib.get_close_matches(name, self.names(), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        known = ", ".join(self.names())
        return (
            f"unknown {self.kind} '{name}'{hint}; choose from {known}, "
            "or give a plug-in as package.module:object"
        )


def is_dotted_path(name: str) -> bool:
    """True for ``package.module:object``."""
    module, sep, attribute = name.partition(":")
    return bool(sep and module and attribute)


def import_object(path: str) -> Any:
    """The object at ``package.module:object`` (attributes may be nested: ``mod:Cls.attr``)."""
    module_name, _, attribute = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import plug-in module '{module_name}': {exc}") from None
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"plug-in '{path}': module '{module_name}' has no '{attribute}'")
        obj = getattr(obj, part)
    return obj


_READERS = "learn2ask.data.readers"
READERS = Registry(
    "format",
    {
        "realmedconv": f"{_READERS}:read_realmedconv",
        "chat": f"{_READERS}:read_chat",
        "mts-dialog": f"{_READERS}:read_mts_dialog",
        "aci-bench": f"{_READERS}:read_aci_bench",
        "textgrid": "learn2ask.data.textgrid:read_textgrid",
        "transcript": "learn2ask.data.transcript:read_transcript",
        "rows": "learn2ask.data.rows:read_rows",
    },
)
EXTRACTORS = Registry(
    "extractor",
    {"qa": "learn2ask.targets.build:qa_extractor", "llm": "learn2ask.targets.build:llm_extractor"},
)
GRADERS = Registry(
    "grader",
    {
        "embedding": "learn2ask.rewards.scorer:embedding_grader",
        "llm": "learn2ask.rewards.scorer:llm_grader",
    },
)
FUSIONS = Registry(
    "fusion",
    {
        name: f"learn2ask.rewards.fusion:fuse_{name}"
        for name in ("hierarchical", "sum", "ra_only", "rs_only")
    },
)
METHODS = Registry(
    "training method",
    {name: f"learn2ask.training.{name}:run" for name in ("sft", "decision_sft", "dpo", "grpo")},
)
