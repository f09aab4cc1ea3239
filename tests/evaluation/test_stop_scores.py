"""P(stop) scoring: the teacher-forced probability and its summary."""

from __future__ import annotations

import pytest

from learn2ask.evaluation.stop_scores import stop_probability, summarize_stop_scores


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


@pytest.mark.slow
def test_stop_probability_is_the_product_of_next_token_probabilities(tiny_model_dir):
    import torch

    from learn2ask.models.generation import LocalGenerator

    generator = LocalGenerator.from_pretrained(tiny_model_dir, device="cpu")
    messages = [
        {"role": "system", "content": "Ask or stop."},
        {"role": "user", "content": "I have a cough."},
    ]
    tag = "<stop />"
    tokenizer = generator.tokenizer
    ids = tokenizer(generator.render(messages), add_special_tokens=False)["input_ids"]
    tag_ids = tokenizer(tag, add_special_tokens=False)["input_ids"]
    assert len(tag_ids) > 1
    expected = 1.0
    for token in tag_ids:  # one forward pass per token, no shared indexing with the code
        with torch.inference_mode():
            logits = generator.model(input_ids=torch.tensor([ids])).logits[0, -1]
        expected *= float(torch.softmax(logits.float(), dim=-1)[token])
        ids = ids + [token]
    assert stop_probability(generator, messages, tag) == pytest.approx(expected, rel=1e-4)
