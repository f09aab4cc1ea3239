"""The LLM grader against the real local server and an injected faulty endpoint."""

from __future__ import annotations

import json

import pytest

from learn2ask.models.client import ClientConfig
from learn2ask.rewards.graders.llm import LLMGrader, LLMGraderConfig, parse_grade
from tests.rewards.conftest import make_sample


def grader_for(base_url: str, tmp_path, **kw) -> LLMGrader:
    client = ClientConfig(
        base_url=base_url,
        model=kw.pop("model", "m"),
        backoff_s=0.01,
        max_attempts=kw.pop("max_attempts", 2),
        timeout_s=kw.pop("timeout", 5),
    )
    return LLMGrader(LLMGraderConfig(client=client, cache_path=tmp_path / "g.sqlite", **kw))


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ('{"score": 1, "reason": "asks onset"}', 1.0),
        ('Sure! {"score": 0.5}', 0.5),
        ('{"score": 0}', 0.0),
    ],
)
def test_parse_grade_valid(text, score):
    assert parse_grade(text) == score


@pytest.mark.parametrize("text", ['{"score": 2}', '{"score": 0.7}', "one", '{"grade": 1}'])
def test_parse_grade_rejects_out_of_range_and_junk(text):
    with pytest.raises(ValueError):
        parse_grade(text)


@pytest.mark.slow
def test_real_server_grades_or_counts_failures(local_llm_server, tmp_path, headache_sample):
    # Short replies, no re-ask: keeps the CPU cost of a 135M judge small in CI.
    grader = grader_for(
        local_llm_server,
        tmp_path,
        model="smollm2-135m-instruct",
        timeout=120,
        max_tokens=48,
        parse_retries=0,
    )
    questions = ["When did the headache start?", "How are you?", "Any ankle swelling?"]
    results = grader(questions, [headache_sample] * 3)
    assert len(results) == 3
    for result in results:
        # The 135M judge often writes invalid JSON: that must be a counted failure with a
        # reason, never a silent 0.
        assert (result.score in (0.0, 0.5, 1.0)) != (result.error is not None)
    assert grader.stats["failures"] == sum(r.error is not None for r in results)


def test_cache_hits_cost_no_model_call(faulty_endpoint, tmp_path, headache_sample):
    faulty_endpoint.mode, faulty_endpoint.content = "reply", json.dumps({"score": 1})
    grader = grader_for(faulty_endpoint.base_url, tmp_path)
    assert [r.score for r in grader(["When did it start?"], [headache_sample])] == [1.0]
    requests = faulty_endpoint.requests
    again = grader_for(faulty_endpoint.base_url, tmp_path)  # new process, same cache file
    assert [r.score for r in again(["When did it start?"], [headache_sample])] == [1.0]
    assert faulty_endpoint.requests == requests
    assert again.stats == {"model_calls": 0, "cache_hits": 1, "failures": 0}


def test_out_of_range_reply_is_reasked_then_counted(faulty_endpoint, tmp_path, headache_sample):
    faulty_endpoint.mode, faulty_endpoint.content = "reply", json.dumps({"score": 7})
    grader = grader_for(faulty_endpoint.base_url, tmp_path, parse_retries=1)
    (result,) = grader(["When did it start?"], [headache_sample])
    assert result.score is None and "unparseable grade after 2 tries" in result.error
    assert faulty_endpoint.requests == 2 and grader.stats["failures"] == 1


@pytest.mark.parametrize("mode", ["500", "nonjson", "sleep"])
def test_endpoint_faults_become_counted_failures_without_hanging(
    faulty_endpoint, tmp_path, headache_sample, mode
):
    faulty_endpoint.mode, faulty_endpoint.sleep_s = mode, 2.0
    grader = grader_for(faulty_endpoint.base_url, tmp_path, max_attempts=2, timeout=0.3)
    results = grader(["When did it start?", "Any nausea?"], [headache_sample] * 2)
    assert all(r.score is None and r.error.startswith("endpoint error") for r in results)
    assert grader.stats["failures"] == 2
    assert faulty_endpoint.requests == 4  # two questions x the cap of two attempts


def test_sample_without_items_is_a_failure_not_a_call(faulty_endpoint, tmp_path):
    grader = grader_for(faulty_endpoint.base_url, tmp_path)
    (result,) = grader(["Any fever?"], [make_sample("e_0", [])])
    assert result.score is None and faulty_endpoint.requests == 0
