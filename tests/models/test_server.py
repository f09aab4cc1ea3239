"""``serve-model`` as an OpenAI server: limits, streaming, seeds, logprobs, logit_bias,
response_format and cancellation, against the real app with the bundled model on loopback."""

from __future__ import annotations

import asyncio
import json
import math
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from learn2ask.models.server import ServerLimits, create_app

pytestmark = pytest.mark.slow
HELLO = [{"role": "user", "content": "Say hello."}]
ROUTE = "/v1/chat/completions"


@contextmanager
def serving(generator: object, limits: ServerLimits | None = None) -> Iterator[str]:
    """Run the app in a uvicorn thread on a free loopback port; yield its base URL."""
    import uvicorn

    app = create_app(generator, "smollm2-135m-instruct", limits=limits)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def generator(bundled_model_dir):
    from learn2ask.models.generation import LocalGenerator

    return LocalGenerator.from_pretrained("smollm2-135m-instruct", device="cpu")


@pytest.fixture(scope="module")
def server(generator) -> Iterator[str]:
    with serving(generator, ServerLimits(max_body_bytes=256 * 1024)) as url:
        yield url


def post(url: str, timeout: float = 120, **body: object) -> httpx.Response:
    return httpx.post(url + ROUTE, json={"messages": HELLO, **body}, timeout=timeout)


def error_of(response: httpx.Response) -> str:
    return response.json()["error"]["message"]


# --- bad input: 4xx with a reason, and the server stays up -------------------------------------


def test_metrics_count_what_the_server_did(generator):
    from prometheus_client.parser import text_string_to_metric_families

    with serving(generator) as url:  # a fresh server: its counters start at zero
        reply = post(url, max_tokens=6, temperature=0, n=2).json()
        scraped = httpx.get(url + "/metrics", timeout=30)
    assert scraped.status_code == 200
    seen = {
        sample.name: (sample.labels, sample.value)
        for family in text_string_to_metric_families(scraped.text)
        for sample in family.samples
    }
    model = {"model": "smollm2-135m-instruct"}
    usage = reply["usage"]
    assert seen["learn2ask_model_prompt_tokens_total"] == (model, 2 * usage["prompt_tokens"])
    assert seen["learn2ask_model_generated_tokens_total"] == (model, usage["completion_tokens"])
    assert seen["learn2ask_model_sequences_total"] == (model, 2)
    assert seen["learn2ask_model_batches_total"][1] >= 1
    assert seen["learn2ask_model_context_length"] == (model, 8192)


def test_unknown_fields_are_named_in_a_400(server):
    response = post(server, frequency_penalty=0.5, logprobz=True)
    assert response.status_code == 400
    assert "frequency_penalty" in error_of(response) and "logprobz" in error_of(response)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"top_logprobs": 21, "logprobs": True}, "top_logprobs"),
        ({"top_logprobs": 2}, "requires logprobs"),
        ({"logit_bias": {"abc": 1}}, "token ids"),
        ({"logit_bias": {"5": 101}}, "[-100, 100]"),
        ({"response_format": {"type": "xml"}}, "response_format"),
        ({"temperature": 3}, "temperature"),
        ({"prompt_logprobs": 21}, "prompt_logprobs"),
        ({"prompt_logprobs": 0, "stream": True}, "not returned when stream"),
        ({"continue_final_message": True}, "cannot both be true"),
        (
            {"continue_final_message": True, "add_generation_prompt": False},
            "last message to be the assistant's",
        ),
    ],
)
def test_invalid_values_are_400_naming_the_field(server, body, fragment):
    response = post(server, **body)
    assert response.status_code == 400
    assert fragment in error_of(response)


def test_malformed_and_deeply_nested_json_are_400(server):
    for content in (b"{not json", b"[" * 100_000, b"[1, 2]"):
        response = httpx.post(server + ROUTE, content=content, timeout=30)
        assert response.status_code == 400, content[:10]


def test_body_over_the_limit_is_413_declared_or_chunked(server):
    big = b" " * (300 * 1024)
    declared = httpx.post(server + ROUTE, content=big, timeout=30)
    assert declared.status_code == 413 and "limit" in error_of(declared)

    def chunks() -> Iterator[bytes]:
        for _ in range(300):
            yield b" " * 1024

    chunked = httpx.post(server + ROUTE, content=chunks(), timeout=30)
    assert chunked.status_code == 413


def test_prompt_beyond_the_context_is_400_naming_the_limit(server):
    long = [{"role": "user", "content": "word " * 40_000}]
    response = httpx.post(server + ROUTE, json={"messages": long}, timeout=60)
    assert response.status_code == 400 and "8192" in error_of(response)
    # A prompt that fits, but not together with its max_tokens.
    fits = [{"role": "user", "content": "word " * 8_000}]
    response = httpx.post(server + ROUTE, json={"messages": fits, "max_tokens": 500}, timeout=60)
    assert response.status_code == 400 and "max_tokens (500)" in error_of(response)
    assert post(server, max_tokens=2, temperature=0).status_code == 200


# --- OpenAI semantics ----------------------------------------------------------------------------


def _events(url: str, **body: object) -> list[dict | str]:
    events: list[dict | str] = []
    with httpx.stream(
        "POST", url + ROUTE, json={"messages": HELLO, "stream": True, **body}, timeout=120
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                data = line.removeprefix("data: ")
                events.append(data if data == "[DONE]" else json.loads(data))
    return events


def test_stream_is_openai_chunks_ending_with_done(server):
    events = _events(server, max_tokens=12, temperature=0, stream_options={"include_usage": True})
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    with_choices = [c for c in chunks if c["choices"]]
    assert with_choices[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in with_choices)
    whole = post(server, max_tokens=12, temperature=0).json()
    assert streamed == whole["choices"][0]["message"]["content"]
    assert chunks[-1]["usage"] == whole["usage"]


def test_openai_sdk_streams(server):
    from openai import OpenAI

    client = OpenAI(base_url=server + "/v1", api_key="unused")
    pieces = client.chat.completions.create(
        model="smollm2-135m-instruct", messages=HELLO, max_tokens=6, temperature=0, stream=True
    )
    text = "".join(p.choices[0].delta.content or "" for p in pieces if p.choices)
    assert text


def _contents(url: str, count: int, **body: object) -> list[str]:
    """``count`` identical requests sent together (so they share a batch)."""

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            payload = {"messages": HELLO, **body}
            return await asyncio.gather(*(client.post(ROUTE, json=payload) for _ in range(count)))

    return [r.json()["choices"][0]["message"]["content"] for r in asyncio.run(run())]


def test_seed_only_when_given(server):
    body = {"temperature": 1.0, "max_tokens": 12}
    assert len(set(_contents(server, 3, **body))) > 1
    assert len(set(_contents(server, 3, seed=7, **body))) == 1


def test_any_integer_seed_is_accepted(server):
    for seed in (-1, 2**70):
        assert post(server, seed=seed, max_tokens=1, temperature=1.0).status_code == 200


def test_usage_and_stop_strings(server):
    reply = post(server, max_tokens=20, temperature=0).json()
    text = reply["choices"][0]["message"]["content"]
    assert reply["usage"]["total_tokens"] == (
        reply["usage"]["prompt_tokens"] + reply["usage"]["completion_tokens"]
    )
    marker = text.split()[1]
    cut = post(server, max_tokens=20, temperature=0, stop=[marker]).json()["choices"][0]
    assert cut["finish_reason"] == "stop"
    assert marker not in cut["message"]["content"] and text.startswith(cut["message"]["content"])


# --- logprobs and logit_bias ---------------------------------------------------------------------


def test_logprobs_have_openai_shape(server):
    choice = post(server, max_tokens=5, temperature=0, logprobs=True, top_logprobs=4).json()[
        "choices"
    ][0]
    content = choice["logprobs"]["content"]
    assert len(content) >= 1
    for entry in content:
        assert set(entry) == {"token", "logprob", "bytes", "top_logprobs"}
        assert len(entry["top_logprobs"]) == 4
        assert entry["logprob"] <= 0 and isinstance(entry["bytes"], list)
        # Greedy: the chosen token is the most likely one.
        assert entry["logprob"] == pytest.approx(entry["top_logprobs"][0]["logprob"])
    assert bytes(b for e in content for b in e["bytes"]).decode() == choice["message"]["content"]


def test_first_token_probabilities_match_local_softmax(server, generator):
    conversation = [{"role": "user", "content": "Patient: my knee hurts. What do you ask?"}]
    reply = httpx.post(
        server + ROUTE,
        json={"messages": conversation, "max_tokens": 1, "logprobs": True, "top_logprobs": 5},
        timeout=60,
    ).json()
    top = reply["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    assert len(top) == 5
    for candidate in top:
        token_id = _token_id(generator.tokenizer, candidate["bytes"])
        local = generator.next_token_probs([conversation], token_id)[0]
        assert math.exp(candidate["logprob"]) == pytest.approx(local, abs=1e-4)


def _token_id(tokenizer: object, raw: list[int]) -> int:
    """The id of the byte-level BPE token whose bytes are ``raw``."""
    from learn2ask.models.serve_engine import byte_decoder

    encoder = {byte: char for char, byte in byte_decoder().items()}
    return tokenizer.get_vocab()["".join(encoder[b] for b in raw)]


def test_prompt_logprobs_have_vllms_shape_and_score_a_given_reply(server, generator):
    """vLLM's ``prompt_logprobs``: None for the first token, then each prompt token's raw
    logprob keyed by its id (with the ``k`` most likely beside it); a closed assistant turn
    sent with ``add_generation_prompt: false`` is scored as the local model scores the reply."""
    reply = "How long has it hurt?"
    closed = [*HELLO, {"role": "assistant", "content": reply}]
    body = post(
        server,
        messages=closed,
        add_generation_prompt=False,
        prompt_logprobs=2,
        max_tokens=1,
        temperature=0,
    ).json()
    scored = body["prompt_logprobs"]
    assert len(scored) == body["usage"]["prompt_tokens"] and scored[0] is None
    tokens = generator.tokenizer(
        generator.render(closed, add_generation_prompt=False), add_special_tokens=False
    )["input_ids"]
    for token, entry in zip(tokens[1:], scored[1:], strict=True):
        assert str(token) in entry and 2 <= len(entry) <= 3  # its own, the two most likely
        assert sorted(e["rank"] for e in entry.values())[:2] == [1, 2]
        assert all(e["logprob"] <= 0 for e in entry.values())
    # The reply starts where the assistant would speak; its tokens and the end of turn are
    # what the local scorer sums.
    start = post(server, max_tokens=1, temperature=0).json()["usage"]["prompt_tokens"]
    length = len(generator.tokenizer(reply, add_special_tokens=False)["input_ids"]) + 1
    served = sum(scored[k][str(tokens[k])]["logprob"] for k in range(start, start + length))
    assert served == pytest.approx(generator.reply_logprobs(HELLO, [reply])[0], abs=1e-3)


def test_a_prompt_scored_in_pieces_scores_as_in_one_pass(generator, monkeypatch):
    """A long prompt is scored a piece at a time through the KV cache (memory); the pieces
    give what one pass gives."""
    from learn2ask.models import serve_engine

    engine = serve_engine.ServeEngine(generator)
    ids = engine.prompt_ids([*HELLO, {"role": "assistant", "content": "Hello! How are you?"}])
    whole = engine.prompt_logprobs(ids, 1)
    monkeypatch.setattr(serve_engine, "PROMPT_PIECE", 5)
    pieces = engine.prompt_logprobs(ids, 1)
    assert len(ids) > 10 and len(pieces) == len(whole) == len(ids)
    for one, other in zip(whole[1:], pieces[1:], strict=True):
        assert one.keys() == other.keys()
        for token, entry in one.items():
            assert other[token]["logprob"] == pytest.approx(entry["logprob"], abs=1e-4)


def test_continue_final_message_leaves_the_last_turn_open(server):
    """An open assistant turn is continued: its prompt is the closed turn's minus what closes
    it, and the reply goes on from the given words."""
    turn = [*HELLO, {"role": "assistant", "content": "Hello! How"}]
    open_ = post(
        server,
        messages=turn,
        add_generation_prompt=False,
        continue_final_message=True,
        max_tokens=3,
        temperature=0,
    ).json()
    closed = post(
        server, messages=turn, add_generation_prompt=False, max_tokens=1, temperature=0
    ).json()
    assert open_["usage"]["prompt_tokens"] < closed["usage"]["prompt_tokens"]
    assert open_["choices"][0]["message"]["content"].strip()


def test_logit_bias_bans_and_forces_tokens(server, generator):
    first = post(server, max_tokens=1, temperature=0, logprobs=True, top_logprobs=2).json()
    entry = first["choices"][0]["logprobs"]["content"][0]
    greedy_token = entry["token"]
    banned_id = generator.tokenizer.encode(greedy_token, add_special_tokens=False)[0]
    banned = post(server, max_tokens=1, temperature=0, logit_bias={str(banned_id): -100}).json()
    assert banned["choices"][0]["message"]["content"] != greedy_token
    forced_id = generator.tokenizer.encode(" banana", add_special_tokens=False)[0]
    forced = post(server, max_tokens=1, temperature=0.7, logit_bias={str(forced_id): 100}).json()
    assert forced["choices"][0]["message"]["content"] == " banana"


# --- response_format -----------------------------------------------------------------------------


def test_json_object_format_gives_a_json_object(server):
    reply = post(server, max_tokens=48, temperature=0, response_format={"type": "json_object"})
    choice = reply.json()["choices"][0]
    if choice["finish_reason"] == "stop":
        assert isinstance(json.loads(choice["message"]["content"]), dict)
    else:
        assert choice["message"]["content"].startswith("{")


def test_grader_schema_gives_valid_grades_for_concurrent_requests(server, small_test_samples):
    """A bounded slice of issue #14's 200-request figure (the benchmark runs all 200)."""
    from learn2ask.data.samples import load_samples
    from learn2ask.models.client import json_schema_format
    from learn2ask.rewards.graders.llm import GradeReply, grading_messages

    samples = load_samples(small_test_samples)[:6]
    response_format = json_schema_format(GradeReply.model_json_schema(), "grade")

    async def grade_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server, timeout=300) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        ROUTE,
                        json={
                            "messages": grading_messages("Any allergies?", sample, 6),
                            "max_tokens": 64,
                            "temperature": 0.0,
                            "response_format": response_format,
                        },
                    )
                    for sample in samples
                )
            )

    responses = asyncio.run(grade_all())
    texts = [r.json()["choices"][0]["message"]["content"] for r in responses]
    for text in texts:
        GradeReply.model_validate_json(text)  # raises on any invalid reply


def test_invalid_schema_is_400(server):
    bad = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "nonsense"}}}
    response = post(server, response_format=bad)
    assert response.status_code == 400 and "response_format" in error_of(response)


# --- cancellation, timeout, and one bad request beside many good ones ----------------------------


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _wait_for(url: str, key: str, above: int) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        value = httpx.get(url + "/health").json()[key]
        if value > above:
            return value
        time.sleep(0.1)
    return httpx.get(url + "/health").json()[key]


def test_client_hang_up_cancels_generation(server, generator):
    # End-of-sequence banned, so the reply runs to max_tokens whatever is sampled (a sampled
    # early end once let the request finish inside the client's timeout).
    endless = {
        str(generator.tokenizer.eos_token_id): -100,
        **{str(t): -100 for t in _as_list(generator.model.generation_config.eos_token_id)},
    }
    long_reply = {"max_tokens": 4000, "temperature": 1.0, "logit_bias": endless}
    before = httpx.get(server + "/health").json()["cancelled"]
    with pytest.raises(httpx.ReadTimeout):
        post(server, timeout=1.0, **long_reply)
    assert _wait_for(server, "cancelled", before) == before + 1
    with httpx.stream(
        "POST",
        server + ROUTE,
        json={"messages": HELLO, "stream": True, **long_reply},
        timeout=60,
    ) as response:
        next(response.iter_lines())
    assert _wait_for(server, "cancelled", before + 1) == before + 2
    assert post(server, max_tokens=2).status_code == 200


def test_request_timeout_is_408_and_server_keeps_serving(generator):
    with serving(generator, ServerLimits(request_timeout_s=0.5)) as url:
        response = post(url, max_tokens=4000, temperature=1.0)
        assert response.status_code == 408 and "timed out" in error_of(response)
        health = httpx.get(url + "/health").json()
        assert health["status"] == "ok" and health["timed_out"] == 1


def _p95(url: str, oversized: bool) -> float:
    async def one(client: httpx.AsyncClient, i: int) -> float:
        started = time.perf_counter()
        body = {"messages": [{"role": "user", "content": f"Count to {i}."}], "max_tokens": 4}
        response = await client.post(ROUTE, json=body)
        assert response.status_code == 200
        return time.perf_counter() - started

    async def huge(client: httpx.AsyncClient) -> int:
        body = {"messages": [{"role": "user", "content": "x " * 100_000}], "max_tokens": 8}
        return (await client.post(ROUTE, json=body)).status_code

    async def run() -> float:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            extra = [huge(client)] if oversized else []
            results = await asyncio.gather(*extra, *(one(client, i) for i in range(16)))
        if oversized:
            assert results[0] == 400
        latencies = results[1:] if oversized else results
        return statistics.quantiles(latencies, n=20)[18]

    return asyncio.run(run())


def test_one_oversized_request_does_not_slow_sixteen_others(server):
    _p95(server, oversized=False)  # warm-up
    # Interleaved rounds, so load from other processes on a shared machine hits both sides.
    baseline, loaded = [], []
    for _ in range(2):
        baseline.append(_p95(server, oversized=False))
        loaded.append(_p95(server, oversized=True))
    assert min(loaded) <= 2 * max(baseline), (baseline, loaded)
