"""bench_decision times the model in every row: a row after another on the same points would
otherwise time the policy's memo of P(stop) per prompt."""

from __future__ import annotations

from benchmarks.bench_decision import forget_p_stop

from learn2ask.data.types import Turn
from learn2ask.models.decision import load_deciding_policy


def test_forgetting_the_memo_makes_the_model_decide_again(tiny_model_dir):
    policy = load_deciding_policy(str(tiny_model_dir), device="cpu")
    computed: list[int] = []
    model_p_stop = policy.p_stop
    policy.p_stop = lambda messages: computed.append(len(messages)) or model_p_stop(messages)
    contexts = [[Turn(role="user", content="hello")], [Turn(role="user", content="my knee")]]
    first = policy.stop_probabilities(contexts)
    assert policy.stop_probabilities(contexts) == first and computed == [2]  # the memo
    forget_p_stop(policy)
    assert policy.stop_probabilities(contexts) == first and computed == [2, 2]  # the model
