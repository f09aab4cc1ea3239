"""The extraction schema sent as response_format closes both objects: a constrained judge cannot
add keys that run its reply past max_tokens (what the grading judge did)."""

import pytest

from learn2ask.targets.llm import ExtractionReply, extraction_reply_schema
from tests.conftest import schema_acceptor


@pytest.fixture(scope="module")
def accepts():
    check = schema_acceptor(extraction_reply_schema())
    return lambda text: check(text)[0]


GOOD = '{"items":[{"attribute":"onset","value":"two days ago","question":"When did it start?"}]}'


def test_a_normal_reply_is_accepted_and_parses(accepts) -> None:
    assert accepts(GOOD)
    assert ExtractionReply.model_validate_json(GOOD).items[0].attribute == "onset"


@pytest.mark.parametrize(
    "reply",
    [
        '{"items":[],"notes":"the patient',
        '{"items":[{"attribute":"onset","value":"today","user_answer":"she',
    ],
)
def test_extra_keys_are_refused_at_either_level(accepts, reply: str) -> None:
    assert not accepts(reply)


def test_parsing_stays_lenient_for_unconstrained_endpoints() -> None:
    reply = '{"items":[{"attribute":"onset","value":"today","extra":1}],"notes":"x"}'
    assert ExtractionReply.model_validate_json(reply).items[0].value == "today"
