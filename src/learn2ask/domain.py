"""Domains: one YAML file says who talks, what the policy is told, how targets are extracted and
graded, and how the deployed assistant behaves. ``--domain NAME|FILE`` picks one; the bundled
files live in ``resources/domains/``.
"""

from __future__ import annotations

import difflib
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


def bundled_names(folder: str) -> list[str]:
    """Names of the YAML files shipped with the package in ``folder`` (under ``learn2ask/``)."""
    root = Path(str(files("learn2ask").joinpath(folder)))
    return sorted(p.stem for p in root.glob("*.yaml"))


def bundled_domain_names() -> list[str]:
    """Names of the domain files shipped with the package."""
    return bundled_names(BUNDLED_DOMAINS)


def bundled_yaml(name_or_file: str | Path, folder: str, what: str) -> Path:
    """The shipped ``folder/NAME.yaml`` for a bare name, or ``name_or_file`` itself when it is a
    path (a ``.yaml``/``.yml`` suffix or an existing file). A pip-installed package has no
    source tree to point at, so its files are reachable by name; ``what`` names the kind in the
    error ("domain", "config"), which has a "did you mean" for a near miss."""
    candidate = Path(name_or_file)
    if candidate.suffix in (".yaml", ".yml") or candidate.is_file():
        return candidate
    path = Path(str(files("learn2ask").joinpath(folder, f"{name_or_file}.yaml")))
    if not path.is_file():
        known = bundled_names(folder)
        close = difflib.get_close_matches(str(name_or_file), known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(
            f"unknown {what} '{name_or_file}'{hint} (bundled: {', '.join(known)}; or a YAML file)"
        )
    return path


def domain_path(name_or_file: str | Path) -> Path:
    """The file of a bundled domain name, or ``name_or_file`` itself when it is a path."""
    return bundled_yaml(name_or_file, BUNDLED_DOMAINS, "domain")


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
