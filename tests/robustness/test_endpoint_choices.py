"""Finding 2: an endpoint that returns fewer choices than ``n`` is an error, not a partial
result. (``evaluate`` now asks one choice per rollout; ``RemotePolicy.generate_n`` is the path
that still asks for ``n``.)"""

from __future__ import annotations

import pytest

from learn2ask.errors import EndpointError
from learn2ask.models.backends import RemotePolicy
from learn2ask.models.client import ClientConfig
from learn2ask.models.generation import GenerationConfig
from learn2ask.models.policy import PolicyPromptConfig

PROMPTS = [[{"role": "user", "content": "My knee hurts."}]] * 3


def remote(endpoint) -> RemotePolicy:
    """A remote policy at ``endpoint`` (which returns exactly one choice per request)."""
    config = ClientConfig(base_url=endpoint.base_url, model="m", max_attempts=1)
    return RemotePolicy(config, "m", PolicyPromptConfig())


def test_fewer_choices_than_n_is_an_error(faulty_endpoint):
    faulty_endpoint.mode, faulty_endpoint.content = "reply", "How long has it hurt?"
    with pytest.raises(EndpointError, match="asked for n=4 choices, got 1") as caught:
        remote(faulty_endpoint).generate_n(PROMPTS, 4, GenerationConfig(temperature=1.0))
    assert caught.value.exit_code == 2


def test_exactly_n_choices_is_the_result(faulty_endpoint):
    faulty_endpoint.mode, faulty_endpoint.content = "reply", "How long has it hurt?"
    replies = remote(faulty_endpoint).generate_n(PROMPTS, 1, GenerationConfig())
    assert replies == [["How long has it hurt?"]] * 3
