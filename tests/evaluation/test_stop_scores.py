"""P(stop) as the decision rule uses it, its summary, and the threshold rule's actions."""

from __future__ import annotations

import pytest

from learn2ask.evaluation.stop_scores import summarize_stop_scores, threshold_accuracy


def rows(stop: list[float], cont: list[float]) -> list[dict]:
    made = [{"dialogue_id": f"s{i}", "decision": "stop", "p_stop": p} for i, p in enumerate(stop)]
    made += [
        {"dialogue_id": f"c{i}", "decision": "continue", "p_stop": p} for i, p in enumerate(cont)
    ]
    return made


def test_summary_separates_a_discriminating_policy_from_a_blind_one():
    sharp = summarize_stop_scores(rows([0.9, 0.8, 0.7], [0.2, 0.1, 0.3]), n_boot=200)
    assert sharp["stop_auc"]["mean"] == 1.0
    assert sharp["decision_accuracy_at_half"] == 1.0
    assert sharp["p_stop_on_stop"]["mean"] == pytest.approx(0.8)
    blind = summarize_stop_scores(rows([0.4, 0.4], [0.4, 0.4]), n_boot=200)
    assert blind["stop_auc"]["mean"] == 0.5
    assert blind["decision_accuracy_at_half"] == 0.5  # never stops: right on CONTINUE only


def test_threshold_accuracy_reads_the_rule():
    got = threshold_accuracy(rows([0.3, 0.05], [0.1, 0.01]), threshold=0.08)
    assert got["decision_accuracy_at_threshold"] == 0.5  # stops at 0.3 and 0.1
    assert got["balanced_accuracy_at_threshold"] == 0.5


@pytest.mark.slow
def test_p_stop_is_the_first_token_softmax_batched_or_not(tiny_model_dir):
    import torch

    from learn2ask.models.generation import LocalGenerator

    generator = LocalGenerator.from_pretrained(tiny_model_dir, device="cpu")
    conversations = [
        [{"role": "system", "content": "Ask or stop."}, {"role": "user", "content": "I cough."}],
        [
            {"role": "system", "content": "Ask or stop."},
            {"role": "user", "content": "My knee has hurt for a week after a long run."},
        ],
    ]
    token = generator.tokenizer("<stop />", add_special_tokens=False)["input_ids"][0]
    batched = generator.next_token_probs(conversations, token)
    for conversation, value in zip(conversations, batched, strict=True):
        ids = generator.tokenizer(generator.render(conversation), add_special_tokens=False)
        with torch.inference_mode():
            logits = generator.model(input_ids=torch.tensor([ids["input_ids"]])).logits[0, -1]
        expected = float(torch.softmax(logits.float(), dim=-1)[token])
        # left padding, and the shared system prompt run once as a KV cache, change nothing
        assert value == pytest.approx(expected, rel=1e-4)


def test_shared_prefix_leaves_every_prompt_a_token():
    from learn2ask.models.generation import shared_prefix_length

    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 5]]) == 2
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3, 4]]) == 2  # [1, 2, 3] keeps its last
    assert shared_prefix_length([[7], [7, 8]]) == 0
    assert shared_prefix_length([[1, 2], [3, 2]]) == 0
    assert shared_prefix_length([]) == 0


@pytest.mark.slow
def test_threshold_rule_stops_above_it_and_asks_without_the_stop_tag(tiny_model_dir):
    from learn2ask.data.types import Turn
    from learn2ask.models.decision import load_deciding_policy
    from learn2ask.models.generation import GenerationConfig
    from learn2ask.models.policy import parse_policy_response

    contexts = [[Turn("user", "I have a cough.")], [Turn("user", "My knee hurts a lot.")]]
    policy = load_deciding_policy(
        str(tiny_model_dir), generation=GenerationConfig(max_new_tokens=6)
    )
    p_stop = policy.stop_probabilities(contexts)
    middle = sum(p_stop) / 2
    policy.rule = policy.rule.__class__(
        threshold=middle, stop_token_id=policy.rule.stop_token_id, stop_token="<"
    )
    actions = policy.decide(contexts)
    for action, p in zip(actions, p_stop, strict=True):
        assert action.p_stop == pytest.approx(p)
        assert action.action == ("stop" if p >= middle else "ask")
        if action.action == "ask":
            # The stop tag's first token is banned: the reply cannot be a stop.
            assert parse_policy_response(action.raw).assessment == "continue"


def test_a_context_that_may_not_stop_is_asked_under_every_rule(tiny_model_dir):
    """``may_stop`` False (the assistant's min_questions): a question whatever P(stop) says."""
    from learn2ask.data.types import Turn
    from learn2ask.models.decision import DecisionRule, load_deciding_policy
    from learn2ask.models.generation import GenerationConfig
    from learn2ask.models.policy import parse_policy_response

    contexts = [[Turn("user", "I have a cough.")], [Turn("user", "My knee hurts a lot.")]]
    policy = load_deciding_policy(
        str(tiny_model_dir), generation=GenerationConfig(max_new_tokens=6)
    )
    token = policy.rule.stop_token_id
    policy.rule = DecisionRule(threshold=0.0, stop_token_id=token, stop_token="<")  # always STOP
    assert [a.action for a in policy.decide(contexts)] == ["stop", "stop"]
    held = policy.decide(contexts, may_stop=[False, True])
    assert [a.action for a in held] == ["ask", "stop"]
    assert parse_policy_response(held[0].raw).assessment == "continue"
    assert held[0].p_stop == pytest.approx(policy.stop_probabilities(contexts)[0])
    # A decoding rule: a reply that stops is decoded again with the stop tag's token banned.
    policy.rule = DecisionRule(rule="greedy", threshold=None, stop_token_id=token)
    policy.generate = lambda messages, config: [
        "How long?" if config.suppress_token_ids else "<stop />" for _ in messages
    ]
    assert [a.action for a in policy.decide(contexts, may_stop=[False, True])] == ["ask", "stop"]


def test_only_the_threshold_rules_rows_give_their_p_stop():
    from learn2ask.evaluation.stop_scores import rule_p_stop

    rows_ = [
        {"sample_id": "a", "rule": "threshold", "p_stop": 0.7},
        {"sample_id": "b", "rule": "greedy", "p_stop": None},
        {"sample_id": "c", "rule": "threshold", "p_stop": None},
    ]
    assert rule_p_stop(rows_) == {"a": 0.7}


@pytest.mark.slow
def test_stop_scores_reuse_the_rules_p_stop_and_score_only_the_rest(tiny_model_dir, tmp_path):
    import json

    from learn2ask.data.types import Sample, Turn
    from learn2ask.evaluation.stop_scores import STOP_SCORES_FILE, score_stop_probabilities
    from learn2ask.models.decision import load_deciding_policy

    samples = [
        Sample(f"d{i}:1", f"d{i}", 1, [Turn("user", text)], [], [], decision)
        for i, (text, decision) in enumerate(
            [("I cough.", "stop"), ("My knee hurts.", "continue"), ("I feel dizzy.", "stop")]
        )
    ]
    policy = load_deciding_policy(str(tiny_model_dir))
    fresh = policy.stop_probabilities([s.context for s in samples])
    scored: list[int] = []
    compute = policy.stop_probabilities
    policy.stop_probabilities = lambda contexts: scored.append(len(contexts)) or compute(contexts)
    score_stop_probabilities(policy, samples, tmp_path, n_boot=20, known={"d0:1": 0.123})
    saved = json.loads((tmp_path / STOP_SCORES_FILE).read_text())["samples"]
    assert scored == [2]  # the known sample is not scored again
    assert saved[0]["p_stop"] == 0.123
    assert [r["p_stop"] for r in saved[1:]] == pytest.approx(fresh[1:], rel=1e-5)


@pytest.mark.slow
def test_a_policy_computes_each_prompts_p_stop_once(tiny_model_dir, monkeypatch):
    """The demo scores a held-out point under the balanced and the natural cut: the second
    time costs no forward pass, gives the same P(stop), and the memo stays bounded."""
    from dataclasses import replace

    from learn2ask.data.types import Turn
    from learn2ask.models import decision
    from learn2ask.models.decision import load_deciding_policy

    a, b, c = ([Turn("user", text)] for text in ("I cough.", "My knee hurts.", "I feel dizzy."))
    policy = load_deciding_policy(str(tiny_model_dir))
    passes: list[int] = []
    forward = policy.p_stop
    policy.p_stop = lambda messages: passes.append(len(messages)) or forward(messages)
    first = policy.stop_probabilities([a, b, b])
    again = policy.stop_probabilities([b, c, a])
    assert passes == [2, 1]  # a and b (b once), then only c
    assert again[0] == first[1] and again[2] == first[0] and first[1] == first[2]
    # Another prompt is another key: the same context with the progress line shown or not.
    shown = policy.prompt_config.show_progress
    policy.prompt_config = replace(policy.prompt_config, show_progress=not shown)
    policy.stop_probabilities([a])
    assert passes == [2, 1, 1]
    # Past the limit the memo starts over instead of growing.
    monkeypatch.setattr(decision, "P_STOP_MEMO_LIMIT", 4)
    policy.stop_probabilities([[Turn("user", f"Pain number {i}.")] for i in range(2)])
    assert len(policy.p_stop_memo) == 2 and passes[-1] == 2


def test_best_balanced_cut_is_the_best_of_every_cut():
    import random

    from learn2ask.evaluation.stop_scores import best_balanced_cut

    rng = random.Random(0)
    rows = [
        {"p_stop": round(rng.random(), 2), "decision": rng.choice(["stop", "continue"])}
        for _ in range(300)
    ]  # rounded: many ties

    def balanced(cut: float) -> float:
        stops = [r["p_stop"] >= cut for r in rows if r["decision"] == "stop"]
        asks = [r["p_stop"] < cut for r in rows if r["decision"] == "continue"]
        return (sum(stops) / len(stops) + sum(asks) / len(asks)) / 2

    cut, accuracy = best_balanced_cut(rows)
    assert accuracy == pytest.approx(balanced(cut))
    assert accuracy == pytest.approx(max(balanced(r["p_stop"]) for r in rows))


def test_the_recut_hint_speaks_only_when_the_saved_cut_sits_off():
    from learn2ask.evaluation.stop_scores import recut_hint, threshold_accuracy

    # P(stop) sits high on this source: the saved cut 0.4 stops almost everywhere.
    high = [{"p_stop": 0.9, "decision": "stop"}] * 10 + [
        {"p_stop": 0.6, "decision": "continue"}
    ] * 10
    summary = threshold_accuracy(high, 0.4)
    assert summary["stops_at_stop"] == 1.0 and summary["stops_at_continue"] == 1.0
    assert summary["hindsight_best_balanced_accuracy"] == 1.0
    hint = recut_hint(summary)
    assert hint is not None and "100% of STOP and 100% of CONTINUE" in hint
    assert "learn2ask calibrate TRAIN.jsonl --decision RUN" in hint
    # Where the saved cut already separates them, nothing is said.
    fits = [{"p_stop": 0.9, "decision": "stop"}] * 10 + [
        {"p_stop": 0.2, "decision": "continue"}
    ] * 10
    assert recut_hint(threshold_accuracy(fits, 0.4)) is None
