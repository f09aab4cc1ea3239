"""The policy contract: the prompt the policy sees and the strict parser of what it says.

The policy answers each decision point with exactly one question (assessment CONTINUE) or the
stop tag alone (assessment STOP). The parser never guesses: anything else is reported as a
format violation with a reason, which the format score P and the reports use.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from learn2ask.data.questions import count_questions, count_turn_questions
from learn2ask.data.replies import STOP_TAG
from learn2ask.data.types import Decision, Turn
from learn2ask.domain import DEFAULT_DOMAIN, Domain, cached_domain
from learn2ask.runs import POLICY_FILE

_STOP_RE = re.compile(r"<\s*stop\s*/?\s*>", re.IGNORECASE)
POLICY_CONFIG_FILE = POLICY_FILE
DOMAIN_KEY = "domain_spec"


def _from_default_domain(attribute: str) -> Any:
    """A dataclass default read from the default domain file (``medical``)."""
    return field(default_factory=lambda: getattr(cached_domain(DEFAULT_DOMAIN), attribute))


@dataclass(frozen=True)
class PolicyPromptConfig:
    """How a decision point is shown to the policy; the texts come from a domain file.

    ``max_context_chars`` is a prompt-time budget for small models: the sample keeps the full
    history, the prompt keeps the first user message (the complaint) and as many of the latest
    turns as fit. ``None`` shows everything. Build one with :meth:`from_domain`; the defaults are
    the default domain's.
    """

    domain: str = DEFAULT_DOMAIN
    expert: str = _from_default_domain("expert")
    user: str = _from_default_domain("user")
    system_template: str = _from_default_domain("system_prompt")
    stop_tag: str = _from_default_domain("stop_tag")
    max_context_chars: int | None = None
    # Tell the policy how far the conversation has come (turns, questions asked so far): with a
    # context budget the start of a long conversation is cut, and how much has been asked is
    # a cue for when to stop that the visible turns no longer show.
    show_progress: bool = False

    @classmethod
    def from_domain(
        cls,
        domain: Domain,
        max_context_chars: int | None = None,
        expert: str | None = None,
        user: str | None = None,
        show_progress: bool = False,
    ) -> PolicyPromptConfig:
        """The prompt of ``domain`` (``expert``/``user`` override its names)."""
        return cls(
            domain=domain.name,
            expert=expert or domain.expert,
            user=user or domain.user,
            system_template=domain.system_prompt,
            stop_tag=domain.stop_tag,
            max_context_chars=max_context_chars,
            show_progress=show_progress,
        )


def save_prompt_config(model_dir: str | Path, config: PolicyPromptConfig, domain: Domain) -> None:
    """Store the prompt a model was trained with and its whole ``domain`` beside its weights,
    read back by :func:`load_prompt_config` and :func:`load_model_domain`, so evaluation and
    serving show the model what it learned on. The domain is passed in, not looked up by
    ``config.domain``: that is its name, and a domain given as a file is found by no name."""
    from learn2ask.io import write_json_atomic

    data: dict[str, Any] = asdict(config)
    data[DOMAIN_KEY] = domain.model_dump()
    write_json_atomic(Path(model_dir) / POLICY_CONFIG_FILE, data)


def write_policy_section(model_dir: str | Path, key: str, section: Any) -> None:
    """Add (or replace) one section of a model's ``learn2ask_policy.json``, keeping the rest."""
    from learn2ask.io import write_json_atomic

    path = Path(model_dir) / POLICY_CONFIG_FILE
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    data[key] = section
    write_json_atomic(path, data)


def _saved_policy_file(model_dir: str | Path | None) -> dict[str, Any]:
    """The JSON saved beside a model, or ``{}`` when there is none."""
    if model_dir is None:
        return {}
    path = Path(model_dir) / POLICY_CONFIG_FILE
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def read_policy_section(model_dir: str | Path | None, key: str) -> Any:
    """One section of the ``learn2ask_policy.json`` saved beside a model (None when absent)."""
    return _saved_policy_file(model_dir).get(key) or None


def load_prompt_config(model_dir: str | Path | None) -> PolicyPromptConfig:
    """The prompt config saved beside a model, or the default when there is none.

    Files written before domains existed (no ``domain`` key) load as the medical prompt they
    were trained with, since they carry their own template.
    """
    data = _saved_policy_file(model_dir)
    # The same file carries other sections (e.g. "decision", see models/decision.py).
    known = {f.name for f in fields(PolicyPromptConfig)}
    return PolicyPromptConfig(**{k: v for k, v in data.items() if k in known})


def load_model_domain(model_dir: str | Path | None) -> Domain | None:
    """The domain a model was trained on, as saved beside it (None for older models)."""
    spec = _saved_policy_file(model_dir).get(DOMAIN_KEY)
    return Domain.model_validate(spec) if spec else None


def resolve_domain(
    prompt: PolicyPromptConfig, override: str | Path | None, model_dir: str | Path | None = None
) -> tuple[PolicyPromptConfig, Domain]:
    """The prompt and domain to evaluate or serve a model with.

    ``override`` (``--domain NAME|FILE``) wins: its texts replace the saved prompt's, the context
    budget stays. Otherwise the domain saved beside the model (``model_dir``: a model directory
    or a training run directory), else the one the prompt names.
    """
    from learn2ask.domain import load_domain
    from learn2ask.runs import TrainRun

    if override is not None:
        domain = load_domain(override)
        return PolicyPromptConfig.from_domain(domain, prompt.max_context_chars), domain
    saved = None
    if model_dir is not None:
        saved = load_model_domain(model_dir) or load_model_domain(TrainRun(Path(model_dir)).model)
    return prompt, saved or cached_domain(prompt.domain)


@dataclass(frozen=True)
class ParsedResponse:
    """What a raw policy reply means, with no guessing.

    ``violation`` is ``None`` exactly when the reply is one question or a clean stop tag.
    """

    raw: str
    assessment: Decision
    question: str | None
    n_questions: int
    clean_stop: bool
    violation: str | None = field(default=None)

    @property
    def format_ok(self) -> bool:
        """True for exactly one question, or the stop tag alone."""
        return self.violation is None


def system_prompt(config: PolicyPromptConfig) -> str:
    """Render the system message for a domain configuration."""
    return config.system_template.format(
        expert=config.expert, user=config.user, stop_tag=config.stop_tag
    )


def build_policy_messages(
    context: list[Turn], config: PolicyPromptConfig | None = None
) -> list[dict[str, str]]:
    """Chat messages for one decision point: system prompt, then the (budgeted) history.

    User turns map to ``user``, expert turns to ``assistant``; consecutive turns of one role
    (IM-style logs) are merged into one message so every chat template accepts them.
    """
    config = config or PolicyPromptConfig()
    turns = fit_context(context, config.max_context_chars)
    system = system_prompt(config)
    if config.show_progress:
        system += " " + progress_line(context, config.expert)
    messages = [{"role": "system", "content": system}]
    for turn in turns:
        role = "user" if turn.role == "user" else "assistant"
        if messages[-1]["role"] == role:
            messages[-1] = {"role": role, "content": messages[-1]["content"] + "\n" + turn.content}
        else:
            messages.append({"role": role, "content": turn.content})
    return messages


def progress_line(context: list[Turn], expert: str) -> str:
    """How far the whole conversation has come, in one sentence."""
    # Unpunctuated speech counts its questions by their openings: by "?" alone a whole
    # speech-recognised visit would read "0 questions asked" to its end.
    asked = sum(count_turn_questions(t.content) for t in context if t.role == "expert")
    return f"So far: {len(context)} turns, {asked} questions asked by the {expert}."


def fit_context(context: list[Turn], max_chars: int | None) -> list[Turn]:
    """Keep the first turn and the most recent turns whose text fits in ``max_chars``."""
    if max_chars is None or sum(len(t.content) for t in context) <= max_chars:
        return list(context)
    first, rest = context[0], context[1:]
    budget = max_chars - len(first.content)
    kept: list[Turn] = []
    for turn in reversed(rest):
        if budget - len(turn.content) < 0 and kept:
            break
        kept.append(turn)
        budget -= len(turn.content)
    return [first, *reversed(kept)]


def parse_policy_response(raw: str, stop_tag: str = STOP_TAG) -> ParsedResponse:
    """Parse a raw reply into (assessment, question, format flags), strictly."""
    text = raw.strip()
    tag_re = _STOP_RE if stop_tag == STOP_TAG else re.compile(re.escape(stop_tag))
    if tag_re.search(text):
        rest = tag_re.sub("", text).strip()
        n_questions = count_questions(rest)
        return ParsedResponse(
            raw=raw,
            assessment="stop",
            question=rest or None,
            n_questions=n_questions,
            clean_stop=not rest,
            violation=None if not rest else "stop tag mixed with other text",
        )
    n_questions = count_questions(text)
    if not text:
        violation: str | None = "empty reply"
    elif n_questions == 0:
        violation = "neither a question nor the stop tag"
    elif n_questions > 1:
        violation = f"{n_questions} questions in one turn"
    else:
        violation = None
    return ParsedResponse(
        raw=raw,
        assessment="continue",
        question=text or None,
        n_questions=n_questions,
        clean_stop=False,
        violation=violation,
    )
