"""The stop head: an embedding classifier of s* fused with the LM's P(stop). It separates STOP
from CONTINUE on held-out points, weighs an uninformative LM P(stop) down, survives a save/load
round trip, refuses a tampered file, and the deciding policy thresholds the fused P(stop)
(``--assessment lm`` the LM's alone)."""

from __future__ import annotations

import json
import math
import shutil
import statistics

import pytest

from learn2ask.cli import main
from learn2ask.data.types import Sample, Turn
from learn2ask.errors import ConfigError
from learn2ask.evaluation.metrics import roc_auc
from learn2ask.models.decision import DecisionRule, load_deciding_policy, save_decision_rule
from learn2ask.models.stop_head import (
    HEAD_FILE,
    StopHead,
    fusion_weights,
    head_digest,
    surface_features,
)
from learn2ask.training.threshold import balanced_points

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def splits(small_test_samples):
    from learn2ask.data.samples import load_samples

    train = balanced_points(load_samples(small_test_samples.parent / "train.jsonl"), 300, 0)
    test = balanced_points(load_samples(small_test_samples), 60, 0)
    return train, test


def auc(scores, points):
    positives = [p for p, s in zip(scores, points, strict=True) if s.decision == "stop"]
    negatives = [p for p, s in zip(scores, points, strict=True) if s.decision != "stop"]
    return roc_auc(positives, negatives)


def test_surface_features_read_the_context(splits):
    _, test = splits
    point = test[0]
    features = surface_features(point.context)
    assert features[0] == pytest.approx(math.log1p(len(point.context)))
    expert_questions = sum(t.content.count("?") for t in point.context if t.role == "expert")
    assert features[4] == pytest.approx(math.log1p(expert_questions))


def point(name: str, last_user: str, stop: bool) -> Sample:
    return Sample(
        id=f"{name}_0",
        dialogue_id=name,
        index=0,
        context=[Turn("expert", "What brings you in today?"), Turn("user", last_user)],
        future=[],
        info_set=[] if stop else ["How long has it been going on?"],
        decision="stop" if stop else "continue",
        items=[],
    )


CLOSINGS = [
    "Thank you doctor, that is all.",
    "No, nothing else, thanks.",
    "Okay, goodbye then.",
    "Great, thanks for your help.",
    "That answers everything, thank you.",
    "Alright, see you next week.",
    "No more questions, thanks a lot.",
    "Bye, take care.",
]
COMPLAINTS = [
    "I have had a bad headache since yesterday.",
    "My knee has been swelling up.",
    "I keep coughing at night.",
    "There is a rash on my arm.",
    "My stomach hurts after meals.",
    "I feel dizzy when I stand up.",
    "My back has been aching for weeks.",
    "I can't sleep well.",
]


def test_head_separates_held_out_points_and_outweighs_a_useless_lm(grader):
    train = [point(f"s{i}", t, True) for i, t in enumerate(CLOSINGS[:6])]
    train += [point(f"c{i}", t, False) for i, t in enumerate(COMPLAINTS[:6])]
    held = [point(f"hs{i}", t, True) for i, t in enumerate(CLOSINGS[6:])]
    held += [point(f"hc{i}", t, False) for i, t in enumerate(COMPLAINTS[6:])]
    # An LM whose P(stop) says nothing (the same everywhere): the fusion must lean on the head.
    head = StopHead.fit(grader, train, train, [0.3] * len(train))
    lm_weight, head_weight, lexical_weight, _ = head.weights
    assert head_weight > 0 and lexical_weight > 0 and abs(lm_weight) < 1e-6 + abs(head_weight)
    fused = head.fuse([0.3] * len(held), [s.context for s in held])
    assert auc(fused, held) == 1.0
    assert head.provenance == {
        "train_points": len(train),
        "fusion_points": len(train),
        "fusion": "equal",
        "lexical": True,
    }
    # An LM that already knows: the fusion keeps it.
    p_lm = [0.9 if s.decision == "stop" else 0.1 for s in train]
    assert StopHead.fit(grader, train, train, p_lm).weights[0] > 0


def test_round_trip_and_a_tampered_file_is_refused(grader, splits, tiny_model_dir, tmp_path):
    train, test = splits
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    head = StopHead.fit(grader, train, test, [0.3] * len(test))
    head.save(model, {"stop_auc_head": 0.7})
    section = json.loads((model / "learn2ask_policy.json").read_text())["assessment"]
    assert section["head"] == "embedding+lexical" and section["stop_auc_head"] == 0.7
    assert set(section["weights"]) == {"lm", "head", "lexical", "bias"}
    loaded = StopHead.load(model, grader)
    contexts = [s.context for s in test]
    p_lm = [0.1 + 0.8 * (i % 2) for i in range(len(test))]
    assert loaded.fuse(p_lm, contexts) == pytest.approx(head.fuse(p_lm, contexts))
    (model / HEAD_FILE).write_text((model / HEAD_FILE).read_text().replace("0", "1", 1))
    with pytest.raises(ConfigError, match="does not match"):
        StopHead.load(model, grader)


def test_a_head_with_other_features_is_refused(grader, splits, tiny_model_dir, tmp_path):
    # A head written before the counts went through log1p: loading it must not silently feed
    # it the new features.
    train, test = splits
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    StopHead.fit(grader, train, test, [0.3] * len(test)).save(model)
    data = json.loads((model / HEAD_FILE).read_text())
    data["classifier"]["features"][2] = "turns_so_far"
    (model / HEAD_FILE).write_text(json.dumps(data))
    policy = json.loads((model / "learn2ask_policy.json").read_text())
    policy["assessment"]["digest"] = head_digest(model)
    (model / "learn2ask_policy.json").write_text(json.dumps(policy))
    with pytest.raises(ConfigError, match=r"stop_head\.json: the stop head was fitted on features"):
        StopHead.load(model, grader)


def test_the_policy_thresholds_the_fused_p_stop(grader, splits, tiny_model_dir, tmp_path):
    train, test = splits
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    save_decision_rule(model, DecisionRule(threshold=0.5, stop_token_id=44, stop_token="<"))
    contexts = [s.context for s in test[:6]]
    lm_only = load_deciding_policy(str(model), device="cpu")
    p_lm = lm_only.stop_probabilities(contexts)
    StopHead.fit(grader, train, test, lm_only.stop_probabilities([s.context for s in test])).save(
        model
    )
    policy = load_deciding_policy(str(model), device="cpu")
    expected = policy.stop_head.fuse(p_lm, contexts)
    assert policy.stop_probabilities(contexts) == pytest.approx(expected)
    actions = policy.decide(contexts)
    assert [a.p_stop for a in actions] == pytest.approx(expected)
    assert [a.action for a in actions] == ["stop" if p >= 0.5 else "ask" for p in expected]
    again = load_deciding_policy(str(model), device="cpu", assessment="lm")
    assert again.stop_head is None
    assert again.stop_probabilities(contexts) == pytest.approx(p_lm)


def test_evaluate_assessment_lm_writes_the_lm_p_stop(tiny_model_dir, small_test_samples, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    save_decision_rule(model, DecisionRule(threshold=0.5, stop_token_id=44, stop_token="<"))
    common = ["--model", str(model), "--samples", str(small_test_samples), "--max-samples", "4"]
    common += ["--stop-probs", "--no-references", "--max-new-tokens", "4"]
    assert main(["evaluate", *common, "--out", str(tmp_path / "lm"), "--assessment", "lm"]) == 0
    scores = json.loads((tmp_path / "lm" / "stop_scores.json").read_text())
    assert len(scores["samples"]) == 4
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", *common, "--out", str(tmp_path / "x"), "--assessment", "head"])
    assert exit_info.value.code == 2


def test_equal_fusion_weighs_both_log_odds_alike_and_fitted_is_kept():
    # An LM that separates the calibration points better than the head: a free fit leans on
    # it, the equal fusion still gives both the same weight per unit of spread.
    lm = [2.0, 1.5, 1.0, -1.0, -1.5, -2.0, 0.5, -0.5]
    head = [0.4, -0.2, 0.3, -0.1, 0.2, -0.4, 0.1, 0.0]
    is_stop = [True, True, True, False, False, False, True, False]
    a, b, _ = fusion_weights([lm, head], is_stop, "equal")
    assert a > 0 and b > 0
    assert a * statistics.pstdev(lm) == pytest.approx(b * statistics.pstdev(head))
    fa, fb, _ = fusion_weights([lm, head], is_stop, "fitted")
    assert fa / fb > a / b  # the free fit trusts the LM more than the equal fusion does
    assert fusion_weights([lm, head], [True] * len(lm), "equal") == (1.0, 0.0, 0.0)


def test_an_unknown_fusion_is_refused(grader, splits):
    train, test = splits
    with pytest.raises(ConfigError, match="unknown stop head fusion 'mean'"):
        StopHead.fit(grader, train, test, [0.3] * len(test), fusion="mean")
