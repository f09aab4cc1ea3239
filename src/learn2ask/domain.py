"""Domains: one YAML file says who talks, what the policy is told, how targets are extracted and
graded, and how the deployed assistant behaves. ``--domain NAME|FILE`` picks one; the bundled
files live in ``resources/domains/``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from learn2ask.errors import ConfigError

BUNDLED_DOMAINS = "resources/domains"
DEFAULT_DOMAIN = "medical"


class ExtractorSettings(BaseModel):
    """What the LLM extractor is told about the domain."""

    model_config = ConfigDict(extra="forbid")
    description: str
    attributes: list[str] = Field(min_length=1)


class GraderSettings(BaseModel):
    """The LLM grader's rubric text for this domain."""

    model_config = ConfigDict(extra="forbid")
    rubric: str


class Domain(BaseModel):
    """One domain file, validated. ``serving`` is parsed by ``learn2ask.serving``."""

    model_config = ConfigDict(extra="forbid")
    name: str
    version: int = 1
    description: str = ""
    expert: str
    user: str
    stop_tag: str = "<stop />"
    system_prompt: str
    extractor: ExtractorSettings
    grader: GraderSettings
    # Logged expert turns the deployed assistant must never ask (case-insensitive regular
    # expressions): the medical domain's are a physical examination's prompts.
    unaskable: list[str] = Field(default_factory=list)
    # Words a logged question may take for granted unnamed ("your knee"): the question memory's
    # check of what a question refers back to (learn2ask.models.question_fit).
    shared_referents: list[str] = Field(default_factory=list)
    # Groups of words that name the same thing ("hurts", "ache", "pain"): the same checks read
    # a user's "my knee hurts" as naming "the pain".
    synonyms: list[list[str]] = Field(default_factory=list)
    serving: dict[str, Any] = Field(default_factory=dict)

    @field_validator("unaskable")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression ({exc})") from None
        return patterns

    @field_validator("synonyms")
    @classmethod
    def _groups_apart(cls, groups: list[list[str]]) -> list[list[str]]:
        seen: dict[str, int] = {}
        for number, group in enumerate(groups, start=1):
            if len(group) < 2:
                raise ValueError(f"group {number} {group!r} needs at least two words")
            for word in group:
                if seen.setdefault(word.lower(), number) != number:
                    raise ValueError(f"{word!r} is in groups {seen[word.lower()]} and {number}")
        return groups


def bundled_domain_names() -> list[str]:
    """Names of the domain files shipped with the package."""
    root = Path(str(files("learn2ask").joinpath(BUNDLED_DOMAINS)))
    return sorted(p.stem for p in root.glob("*.yaml"))


def domain_path(name_or_file: str | Path) -> Path:
    """The file of a bundled domain name, or ``name_or_file`` itself when it is a path."""
    candidate = Path(name_or_file)
    if candidate.suffix in (".yaml", ".yml") or candidate.is_file():
        return candidate
    path = Path(str(files("learn2ask").joinpath(BUNDLED_DOMAINS, f"{name_or_file}.yaml")))
    if not path.is_file():
        known = ", ".join(bundled_domain_names())
        raise ConfigError(f"unknown domain '{name_or_file}' (bundled: {known}; or a YAML file)")
    return path


def read_yaml_mapping(path: str | Path, what: str) -> dict[str, Any]:
    """The top-level mapping of a YAML file (``{}`` for an empty one); a ``ConfigError`` that
    names the file (and the line of a syntax error) otherwise. ``what``: "domain", "config"."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data or {}


def load_domain(name_or_file: str | Path = DEFAULT_DOMAIN) -> Domain:
    """Read and validate a domain; every problem is named with its key path."""
    path = domain_path(name_or_file)
    data = read_yaml_mapping(path, "domain")
    try:
        return Domain.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None


@lru_cache(maxsize=16)
def cached_domain(name_or_file: str = DEFAULT_DOMAIN) -> Domain:
    """:func:`load_domain`, read once per process (for defaults built many times)."""
    return load_domain(name_or_file)
