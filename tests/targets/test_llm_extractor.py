"""The LLM extractor: validated JSON, disk cache/resume, counted failures (real server too)."""

from __future__ import annotations

import json

import pytest

from learn2ask.data.types import Turn
from learn2ask.models.client import ClientConfig
from learn2ask.targets.base import ExtractionFailure
from learn2ask.targets.llm import LLMExtractor, LLMExtractorConfig, parse_extraction

CONTEXT = [Turn("user", "My knee hurts.")]
FUTURE = [
    Turn("expert", "Since when?"),
    Turn("user", "Three days."),
    Turn("expert", "Is it swollen?"),
    Turn("user", "A bit."),
]
REPLY = json.dumps(
    {
        "items": [
            {"attribute": "duration", "value": "three days", "question": "Since when?"},
            {"attribute": "symptom", "value": "slight swelling", "question": "Is it swollen?"},
        ]
    }
)


def extractor(base_url, tmp_path, **kw):
    client = ClientConfig(
        base_url=base_url,
        model=kw.pop("model", "m"),
        backoff_s=0.01,
        max_attempts=2,
        timeout_s=kw.pop("timeout", 5),
    )
    return LLMExtractor(LLMExtractorConfig(client=client, cache_dir=tmp_path / "cache", **kw))


def test_parse_extraction_validates_schema_and_attributes():
    items = parse_extraction(REPLY, ("duration", "symptom"))
    assert [i.text for i in items] == ["duration: three days", "symptom: slight swelling"]
    with pytest.raises(ValueError, match="unknown attribute"):
        parse_extraction(REPLY, ("duration",))
    with pytest.raises(ValueError, match="schema"):
        parse_extraction('{"items": [{"attribute": "x"}]}', ("x",))


def test_cached_rerun_costs_nothing(faulty_endpoint, tmp_path):
    faulty_endpoint.mode, faulty_endpoint.content = "reply", REPLY
    first = extractor(faulty_endpoint.base_url, tmp_path).extract([(CONTEXT, FUTURE)])
    assert [i.attribute for i in first[0]] == ["duration", "symptom"]
    calls = faulty_endpoint.requests
    again = extractor(faulty_endpoint.base_url, tmp_path)
    assert again.extract([(CONTEXT, FUTURE)]) == first
    assert faulty_endpoint.requests == calls and again.stats["cache_hits"] == 1


def test_invalid_reply_becomes_counted_failure(faulty_endpoint, tmp_path):
    faulty_endpoint.mode, faulty_endpoint.content = "reply", "I think the knee."
    (result,) = extractor(faulty_endpoint.base_url, tmp_path).extract([(CONTEXT, FUTURE)])
    assert isinstance(result, ExtractionFailure) and "no JSON" in result.reason
    faulty_endpoint.mode = "500"
    (result,) = extractor(faulty_endpoint.base_url, tmp_path).extract([(CONTEXT, FUTURE)])
    assert isinstance(result, ExtractionFailure) and "endpoint error" in result.reason


@pytest.mark.slow
def test_real_server_extracts_or_reports_why(local_llm_server, tmp_path):
    ex = extractor(
        local_llm_server, tmp_path, model="smollm2-135m-instruct", timeout=120, max_tokens=96
    )
    (result,) = ex.extract([(CONTEXT, FUTURE)])
    assert isinstance(result, (list, ExtractionFailure))
    if isinstance(result, ExtractionFailure):
        assert result.reason


def test_prepare_with_llm_extractor_counts_failures(tmp_path):
    """One decision point gets a valid reply, the other never does: kept vs counted."""
    from learn2ask.cli import main
    from tests.calibration.test_autoprompt import Recorder

    source = tmp_path / "chat.jsonl"
    source.write_text(
        json.dumps(
            {
                "id": "k",
                "messages": [
                    {"role": "user", "content": "My knee hurts."},
                    {"role": "assistant", "content": "Since when?"},
                    {"role": "user", "content": "Three days."},
                    {"role": "assistant", "content": "Is it swollen?"},
                    {"role": "user", "content": "A bit."},
                ],
            }
        )
        + "\n"
    )
    valid = json.dumps({"items": [{"attribute": "symptom", "value": "a bit swollen"}]})
    recorder = Recorder(valid)

    # the first decision point (its future still holds "Since when?") gets prose, never JSON
    def reply_for(body: dict) -> str:
        future = body["messages"][1]["content"].split("What happens next:")[1]
        return "no JSON" if "Since when?" in future else valid

    recorder.reply_for = reply_for
    out = tmp_path / "out"
    try:
        code = main(
            [
                "prepare",
                str(source),
                "--out",
                str(out),
                "--extractor",
                "llm",
                "--base-url",
                recorder.base_url,
                "--model",
                "m",
                "--test-fraction",
                "0",
            ]
        )
    finally:
        recorder.close()
    assert code == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["extraction_failures"] == 1 and stats["samples"] == 1
    assert all("invalid extraction reply" in r for r in stats["extraction_failure_reasons"])


def test_extractor_requests_its_schema_and_counts_ignored_schemas(tmp_path):
    """A server that ignores response_format: every invalid reply is counted, none silent."""
    from tests.calibration.test_autoprompt import Recorder

    recorder = Recorder("Here are the items: duration, swelling.")
    try:
        ex = extractor(recorder.base_url, tmp_path, parse_retries=1)
        result = ex.extract([(CONTEXT, FUTURE)])
    finally:
        recorder.close()
    fmt = recorder.bodies[0]["response_format"]
    assert fmt["type"] == "json_schema"
    assert "items" in fmt["json_schema"]["schema"]["properties"]
    assert isinstance(result[0], ExtractionFailure)
    assert ex.stats["invalid_replies"] == ex.stats["model_calls"] == len(recorder.bodies) == 2
