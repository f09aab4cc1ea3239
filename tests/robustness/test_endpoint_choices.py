"""Finding 2: an endpoint that returns fewer choices than ``n`` is an error, not a partial
result. (``evaluate`` now asks one choice per rollout; ``RemotePolicy.generate_n`` is the path
that still asks for ``n``.) Likewise an endpoint without vLLM's ``prompt_logprobs`` cannot
score the question memory's candidates: an error naming what is needed, not a silent vote."""

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


def test_an_unreachable_policy_endpoint_is_one_line_exit_2(tmp_path, capsys):
    """``evaluate --base-url`` at a port nobody listens on: one error line naming the URL, exit
    2, no traceback (it was a RuntimeError)."""
    import socket

    from learn2ask.cli import main
    from tests.conftest import MTS_VALIDATION

    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    assert main(["prepare", str(MTS_VALIDATION), "--out", str(tmp_path / "data")]) == 0
    capsys.readouterr()
    argv = ["evaluate", "--model", "m", "--base-url", url, "--decision", "greedy"]
    argv += ["--samples", str(tmp_path / "data" / "test.jsonl"), "--max-samples", "2"]
    assert main([*argv, "--out", str(tmp_path / "eval"), "--no-references"]) == 2
    err = capsys.readouterr().err.strip()  # the grader's loading bars may come before it
    assert "Traceback" not in err and f"{url}: policy endpoint failed" in err.splitlines()[-1]


def test_an_endpoint_without_prompt_logprobs_cannot_rerank_questions(faulty_endpoint):
    """An OpenAI-style server answers without ``prompt_logprobs``: the likelihood re-rank says
    what it needs instead of ranking by a made-up score."""
    from learn2ask.data.types import Turn
    from learn2ask.models.decision import DecisionRule, RemoteDecidingPolicy

    faulty_endpoint.mode, faulty_endpoint.content = "reply", "ok"
    policy = RemoteDecidingPolicy(
        name="m",
        prompt_config=PolicyPromptConfig(),
        rule=DecisionRule(threshold=0.5, stop_token_id=44, stop_token="<"),
        generation=GenerationConfig(),
        client_config=ClientConfig(base_url=faulty_endpoint.base_url, model="m", max_attempts=1),
    )
    context = [Turn("user", "My knee hurts.")]
    with pytest.raises(EndpointError, match="no prompt_logprobs.*vLLM or serve-model"):
        policy.question_likelihoods(context, ["How long?", "Any swelling?"])
    assert faulty_endpoint.requests == 4  # the prompt, an empty turn and each question once


def _scored(tokens: list[tuple[str, float]], prompt: int) -> dict:
    """A chat completion body whose prompt is ``prompt`` tokens and then ``tokens`` (the text
    and logprob of each, as vLLM's ``prompt_logprobs`` give them)."""
    entries = [None] + [{"7": {"logprob": -1.0, "decoded_token": "x"}}] * (prompt - 1)
    entries += [{str(k): {"logprob": lp, "decoded_token": t}} for k, (t, lp) in enumerate(tokens)]
    return {"prompt_logprobs": entries, "usage": {"prompt_tokens": len(entries)}}


def test_a_reply_is_read_only_where_the_endpoint_says_it_is():
    """The sum covers the reply's tokens and the end of turn; where the decoded tokens there do
    not read as the reply (a template that closes a turn unlike its generation prompt), it is
    an error, not a sum over the wrong tokens."""
    from learn2ask.models.decision import reply_logprob

    body = _scored([("Any", -1.0), (" fever", -2.0), ("?", -0.5), ("<|im_end|>", -0.25)], 5)
    body["prompt_logprobs"].append({"9": {"logprob": -3.0, "decoded_token": "\n"}})
    body["usage"]["prompt_tokens"] += 1
    assert reply_logprob(body, 5, 2, "Any fever?") == -3.75
    with pytest.raises(EndpointError, match="read ' fever.<.im_end.>' where the reply"):
        reply_logprob(body, 6, 1, "Any fever?")
