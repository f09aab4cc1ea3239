"""The grading schema sent as response_format bounds the reply's length in tokens."""

import string

import pytest

from learn2ask.calibration.autoprompt import AutoPromptConfig
from learn2ask.rewards.graders.llm import (
    REASON_CHARS,
    GradeReply,
    LLMGraderConfig,
    grade_reply_schema,
    min_grading_tokens,
)
from tests.conftest import schema_acceptor


@pytest.fixture(scope="module")
def matcher_factory():
    return schema_acceptor(grade_reply_schema())


def test_longest_allowed_reply_fits_the_token_budget(matcher_factory) -> None:
    allowed = "".join(c for c in string.printable[:95] if c not in '"\\')
    worst = (allowed * 2)[:REASON_CHARS]  # every kind of character the pattern lets through
    accepted, tokens = matcher_factory('{"score":0.5,"reason":"' + worst + '"}')
    assert accepted
    assert tokens <= min_grading_tokens()
    GradeReply.model_validate_json('{"score":0.5,"reason":"' + worst.replace("\\", "") + '"}')


@pytest.mark.parametrize(
    "reason",
    ["a" * (REASON_CHARS + 1), 'say \\"no\\"', "fièvre", "tab\\there"],
)
def test_replies_that_could_run_long_are_refused(matcher_factory, reason: str) -> None:
    accepted, _ = matcher_factory('{"score":0,"reason":"' + reason + '"}')
    assert not accepted


def test_extra_keys_are_refused(matcher_factory) -> None:
    accepted, _ = matcher_factory('{"score":0,"reason":"ok","user_answer":"She passed."}')
    assert not accepted


def test_default_budgets_fit_the_schema() -> None:
    assert LLMGraderConfig.__dataclass_fields__["max_tokens"].default >= min_grading_tokens()
    assert AutoPromptConfig.__dataclass_fields__["max_tokens"].default >= min_grading_tokens()
