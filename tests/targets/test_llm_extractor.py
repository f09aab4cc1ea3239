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


def test_prepare_with_llm_extractor_counts_failures(faulty_endpoint, tmp_path):
    from learn2ask.cli import main

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
                ],
            }
        )
        + "\n"
    )
    faulty_endpoint.mode, faulty_endpoint.content = "reply", "not json"
    out = tmp_path / "out"
    assert (
        main(
            [
                "prepare",
                str(source),
                "--out",
                str(out),
                "--extractor",
                "llm",
                "--base-url",
                faulty_endpoint.base_url,
                "--model",
                "m",
                "--test-fraction",
                "0",
            ]
        )
        == 0
    )
    stats = json.loads((out / "stats.json").read_text())
    assert stats["extraction_failures"] == 2 and stats["samples"] == 0
    assert all("invalid extraction reply" in r for r in stats["extraction_failure_reasons"])
