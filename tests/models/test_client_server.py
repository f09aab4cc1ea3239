"""The OpenAI-compatible server (real, on loopback) and the client's retry/cap/error contract."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from learn2ask.models.client import (
    ChatClient,
    ClientConfig,
    LLMHTTPError,
    LLMResponseError,
    LLMRetriesExhausted,
    LLMTimeoutError,
    chat_many_sync,
    chat_sync,
)

pytestmark = pytest.mark.slow
HELLO = [{"role": "user", "content": "Say hello."}]


def test_models_endpoint_and_openai_client(local_llm_server):
    from openai import OpenAI

    listing = httpx.get(f"{local_llm_server}/models").json()
    assert listing["data"][0]["id"] == "smollm2-135m-instruct"
    client = OpenAI(base_url=local_llm_server, api_key="unused")
    reply = client.chat.completions.create(
        model="smollm2-135m-instruct", messages=HELLO, max_tokens=8, temperature=0
    )
    assert reply.choices[0].message.content
    assert reply.usage.completion_tokens > 0


def test_bad_request_is_400_with_openai_error_body(local_llm_server):
    response = httpx.post(f"{local_llm_server}/chat/completions", json={"messages": []})
    assert response.status_code == 400
    assert "messages" in response.json()["error"]["message"]
    wrong_model = httpx.post(
        f"{local_llm_server}/chat/completions", json={"model": "gpt-9", "messages": HELLO}
    )
    assert wrong_model.status_code == 404


def test_concurrent_requests_are_batched_and_answered(local_llm_server):
    config = ClientConfig(
        base_url=local_llm_server, model="smollm2-135m-instruct", max_concurrency=8
    )
    conversations = [[{"role": "user", "content": f"Count to {i}."}] for i in range(8)]
    health = local_llm_server.removesuffix("/v1") + "/health"
    before = httpx.get(health).json()
    replies = chat_many_sync(config, conversations, max_tokens=6)
    after = httpx.get(health).json()
    assert all(isinstance(r, str) and r for r in replies)
    served = after["requests_served"] - before["requests_served"]
    assert served >= 8  # a client retry after a timeout on a loaded machine adds requests
    assert after["batches_run"] - before["batches_run"] < served  # some shared a generate call
    # Greedy decoding: the same request gives the same text whether batched or alone.
    assert chat_sync(config, conversations[0], max_tokens=6) == replies[0]


def test_json_schema_request_is_accepted(local_llm_server):
    config = ClientConfig(base_url=local_llm_server, model="smollm2-135m-instruct")
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    reply = chat_sync(
        config, [{"role": "user", "content": "Reply in JSON."}], max_tokens=8, json_schema=schema
    )
    assert isinstance(reply, str) and reply


def test_n_choices_and_seed(local_llm_server):
    async def run():
        async with ChatClient(
            ClientConfig(base_url=local_llm_server, model="smollm2-135m-instruct")
        ) as client:
            return await client.complete(
                HELLO, temperature=1.0, max_tokens=8, extra={"n": 3, "seed": 5}
            )

    first, second = asyncio.run(run()), asyncio.run(run())
    assert len(first) == 3 and first == second


def _client(endpoint, **kw):
    return ChatClient(ClientConfig(base_url=endpoint.base_url, model="m", backoff_s=0.01, **kw))


def test_http_500_is_retried_up_to_the_cap(faulty_endpoint):
    faulty_endpoint.mode = "500"

    async def run():
        async with _client(faulty_endpoint, max_attempts=3) as client:
            return await client.chat(HELLO)

    with pytest.raises(LLMRetriesExhausted) as info:
        asyncio.run(run())
    assert faulty_endpoint.requests == 3
    assert isinstance(info.value.last_error, LLMHTTPError) and "boom" in str(info.value)


def test_timeout_is_bounded(faulty_endpoint):
    faulty_endpoint.mode, faulty_endpoint.sleep_s = "sleep", 3.0

    async def run():
        async with _client(faulty_endpoint, max_attempts=2, timeout_s=0.3) as client:
            return await client.chat(HELLO)

    started = time.monotonic()
    with pytest.raises(LLMRetriesExhausted) as info:
        asyncio.run(run())
    assert isinstance(info.value.last_error, LLMTimeoutError)
    assert time.monotonic() - started < 3.0


def test_non_json_body_is_a_typed_error_never_empty_text(faulty_endpoint):
    faulty_endpoint.mode = "nonjson"

    async def run():
        async with _client(faulty_endpoint, max_attempts=1) as client:
            return await client.chat_many([HELLO, HELLO])

    results = asyncio.run(run())
    assert all(isinstance(r, LLMRetriesExhausted) for r in results)
    assert all(isinstance(r.last_error, LLMResponseError) for r in results)


def test_client_errors_are_not_retried(local_llm_server):
    async def run():
        async with ChatClient(
            ClientConfig(base_url=local_llm_server, model="gpt-9", max_attempts=5)
        ) as client:
            await client.chat(HELLO)
            return client.calls

    with pytest.raises(LLMHTTPError) as info:
        asyncio.run(run())
    assert info.value.status == 404
