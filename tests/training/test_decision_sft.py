"""Decision-first SFT: trains the top layers on cached activations, calibrates and saves the
decision rule, resumes from a checkpoint, and its threshold search maximises the reward."""

from __future__ import annotations

import json

import pytest

from learn2ask.cli import main
from learn2ask.models.decision import load_decision_rule
from learn2ask.training.threshold import balanced_accuracy, best_threshold, split_validation

pytestmark = pytest.mark.slow


def test_recipe_saves_a_model_with_a_calibrated_rule_and_resumes(tiny_config):
    config, out = tiny_config(
        "decision_sft",
        max_steps=4,
        save_steps=2,
        lora={"enabled": False},
        decision={
            "top_layers": 1,
            "validation_points": 20,
            "ask_reward_samples": 4,
            "natural_stop_share": 0.1,  # a deployment that stops less often than the logs
        },
    )
    assert main(["train", "--config", str(config)]) == 0
    rule = load_decision_rule(out / "model")
    assert rule is not None and rule.rule == "threshold" and 0.0 <= rule.threshold <= 1.0
    assert rule.stop_token == "<" and rule.calibration["points"] > 0
    # Fewer STOP than CONTINUE points where it is deployed: the natural cut stops later. The
    # share is the configured one; the training file's own share, counted on every point's
    # label (not only the validation dialogues'), is recorded beside it.
    assert rule.calibration["natural_stop_share"] == 0.1
    assert 0.0 < rule.calibration["natural_stop_share_counted"] < 0.5
    summary = json.loads((out / "training_summary.json").read_text())
    pool = rule.calibration["natural_stop_share_points"]
    assert pool > summary["validation_samples"] and pool >= summary["train_samples"]
    assert rule.natural_threshold is not None and rule.natural_threshold > rule.threshold
    from learn2ask.models.decision import load_deciding_policy

    natural = load_deciding_policy(str(out / "model"), device="cpu", mix="natural")
    assert natural.rule.threshold == rule.natural_threshold
    # An explicit threshold is the one threshold, whatever the mix.
    forced = load_deciding_policy(str(out / "model"), device="cpu", threshold=0.4, mix="natural")
    assert forced.rule.threshold == 0.4 and forced.rule.for_mix("natural").threshold == 0.4
    # The live assistant walks a conversation to its first STOP: the sequential cut, chosen on
    # the walks of the training dialogues.
    from learn2ask.serving.server import load_policy, load_settings

    assert rule.sequential_threshold is not None
    assert rule.calibration["sequential"]["dialogues"] >= summary["validation_dialogues"]
    domain, _ = load_settings("medical")
    live = load_policy(str(out / "model"), None, domain).rule
    assert live.threshold == rule.sequential_threshold
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["steps"] == 4 and summary["validation_dialogues"] > 0
    # The question memory is built from the training dialogues only, and named in the policy file.
    policy = json.loads((out / "model" / "learn2ask_policy.json").read_text())
    assert policy["questions"]["built_from"] == summary["question_memory"]
    assert 0 < summary["question_memory"]["dialogues"] < summary["validation_dialogues"] * 20
    # The threshold is cut on the LM's P(stop) fused with the stop head fitted beside it.
    assert policy["assessment"]["head"] == "embedding+lexical"
    assert policy["assessment"]["fusion_points"] == rule.calibration["points"]
    assert {"stop_auc_lm", "stop_auc_head", "stop_auc_lexical"} <= set(rule.calibration)
    assert natural.stop_head is not None
    steps = [r["step"] for r in map(json.loads, (out / "train_log.jsonl").read_text().splitlines())]
    assert steps == [1, 2, 3, 4]
    # Resuming a finished run to more steps continues from its last checkpoint (step 2).
    config2, _ = tiny_config(
        "decision_sft",
        max_steps=6,
        save_steps=2,
        output_dir=str(out),
        lora={"enabled": False},
        decision={"top_layers": 1, "validation_points": 20, "ask_reward_samples": 4},
    )
    assert main(["train", "--config", str(config2), "--resume"]) == 0
    steps = [r["step"] for r in map(json.loads, (out / "train_log.jsonl").read_text().splitlines())]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_one_epoch_trains_every_example_once_and_counts_them(tiny_config):
    # Batches group examples of one length (no padding), so steps x batch_size overstates
    # what was trained: the summary's throughput counts the examples themselves.
    config, out = tiny_config(
        "decision_sft",
        max_steps=-1,
        epochs=1,
        save_steps=0,
        lora={"enabled": False},
        decision={"top_layers": 1, "calibrate": False, "question_memory": False},
    )
    assert main(["train", "--config", str(config)]) == 0
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["examples_trained"] == summary["train_samples"]
    assert summary["steps"] * 4 > summary["train_samples"]  # some batches were not full


def test_the_activation_cache_leaves_the_gpu_when_it_would_crowd_out_training():
    from learn2ask.training.decision_sft import cache_bytes, cache_home

    # The 0.5B recipe's 5,008 demo examples (~620 tokens each, 896 wide): about 11 GB.
    need = cache_bytes([([0] * 600, [0] * 20, True)] * 5008, 896)
    assert 10e9 < need < 12e9
    assert cache_home("auto", need, free_bytes=140 * 2**30) == "device"  # an H200: stays
    assert cache_home("auto", need, free_bytes=22 * 2**30) == "cpu"  # a 24 GB card: host
    assert cache_home("auto", need, free_bytes=None) == "device"  # no GPU: nothing to spare
    assert cache_home("cpu", need, free_bytes=140 * 2**30) == "cpu"  # forced either way
    assert cache_home("device", need, free_bytes=1) == "device"


def test_a_given_embedder_is_the_one_the_memory_and_head_embed_with(tiny_config):
    """The demo hands its evaluations' grader to the training (one embedding per text); one of
    another version is refused before anything trains (the memory ranks by its R_a)."""
    from learn2ask.errors import ConfigError
    from learn2ask.models.question_memory import default_grader
    from learn2ask.training import load_train_config, run_training

    config, out = tiny_config(
        "decision_sft",
        max_steps=1,
        lora={"enabled": False},
        decision={
            "top_layers": 1,
            "validation_points": 8,
            "ask_reward_samples": 2,
            "memory_max_points": 20,
            "stop_head_points": 20,
        },
    )
    embedder = default_grader()
    embedded: list[str] = []
    embed = embedder.embed
    embedder.embed = lambda texts: embedded.extend(texts) or embed(texts)
    run_training(load_train_config(config), embedder=embedder)
    assert (out / "model" / "stop_head.json").is_file() and embedded

    class OtherGrader:
        version = "embedding:other"

    refused = out.parent / "refused"
    config, _ = tiny_config("decision_sft", output_dir=str(refused))
    with pytest.raises(ConfigError, match="bundled grader"):
        run_training(load_train_config(config), embedder=OtherGrader())
    assert not refused.exists()


def test_threshold_maximises_the_expected_reward():
    p_stop = [0.9, 0.8, 0.6, 0.3, 0.2, 0.1]
    is_stop = [True, True, False, True, False, False]
    threshold, reward = best_threshold(p_stop, is_stop, stop_reward=4.0, ask_reward=2.0)
    # Stopping from 0.3 up catches every STOP (3 x 4) and asks at 0.2 and 0.1 (2 x 2): 16 / 6.
    assert 0.2 < threshold <= 0.3 and reward == pytest.approx(16 / 6)
    # When a right question is worth more than a right stop, the threshold moves up.
    high, _ = best_threshold(p_stop, is_stop, stop_reward=1.0, ask_reward=5.0)
    assert high > 0.6
    assert balanced_accuracy(p_stop, is_stop, 0.7) == pytest.approx((2 / 3 + 1) / 2)


def test_validation_split_keeps_dialogues_whole(small_samples):
    from learn2ask.data.samples import load_samples

    train, validation = split_validation(load_samples(small_samples), 0.2, seed=0)
    assert validation and train
    assert not {s.dialogue_id for s in train} & {s.dialogue_id for s in validation}


def test_platt_threshold_cuts_where_stopping_and_asking_are_worth_the_same():
    import math
    import random

    from learn2ask.training.threshold import platt_threshold

    rng = random.Random(0)
    # logit P(stop) ~ N(+1, 1) on STOP points and N(-1, 1) on CONTINUE points: the true
    # posterior is sigmoid(2 z), so the cut for q* = ask / (stop + ask) is z = logit(q*) / 2.
    is_stop = [i % 2 == 0 for i in range(4000)]
    p_stop = [1 / (1 + math.exp(-rng.gauss(1.0 if s else -1.0, 1.0))) for s in is_stop]
    fitted = platt_threshold(p_stop, is_stop, stop_reward=4.0, ask_reward=2.0)
    expected_z = math.log((2 / 6) / (4 / 6)) / 2
    assert fitted == pytest.approx(1 / (1 + math.exp(-expected_z)), abs=0.03)
    # Deciding where one point in five is STOP: Bayes' rule moves the posterior's log-odds by
    # logit(0.2) - logit(0.5), so the cut moves to z = (logit(q*) - logit(0.2)) / 2.
    natural = platt_threshold(p_stop, is_stop, stop_reward=4.0, ask_reward=2.0, prior=0.2)
    natural_z = (math.log((2 / 6) / (4 / 6)) - math.log(0.2 / 0.8)) / 2
    assert natural == pytest.approx(1 / (1 + math.exp(-natural_z)), abs=0.03)
    # No relation (P(stop) higher on CONTINUE points): no fitted threshold.
    assert platt_threshold([0.9, 0.8, 0.2, 0.1], [False, False, True, True], 4.0, 2.0) is None
    assert platt_threshold([0.3, 0.4], [True, True], 4.0, 2.0) is None


def test_a_rule_picks_its_cut_for_the_mix_and_an_explicit_threshold_replaces_both():
    from learn2ask.errors import ConfigError
    from learn2ask.models.decision import DecisionRule

    rule = DecisionRule(threshold=0.3, natural_threshold=0.7, sequential_threshold=0.8)
    assert rule.for_mix("balanced").threshold == 0.3
    assert rule.for_mix("natural").threshold == 0.7
    assert rule.for_mix("sequential").threshold == 0.8
    # A rule calibrated before a cut existed falls back: sequential to natural, then to one.
    assert DecisionRule(threshold=0.3, natural_threshold=0.7).for_mix("sequential").threshold == 0.7
    assert DecisionRule(threshold=0.3).for_mix("natural").threshold == 0.3
    assert DecisionRule(threshold=0.3).for_mix("sequential").threshold == 0.3
    with pytest.raises(ConfigError, match="decision mix must be one of balanced, natural"):
        rule.for_mix("natrual")
    with pytest.raises(ConfigError, match="threshold must be in"):
        DecisionRule(threshold=0.3, natural_threshold=1.5)
    with pytest.raises(ConfigError, match="threshold must be in"):
        DecisionRule(threshold=0.3, sequential_threshold=-0.1)


def test_cached_activations_with_the_shared_prefix_equal_a_full_pass(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    from learn2ask.training.decision_sft import cache_batches, run_layers

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    prefix = [11, 12, 13, 14, 15]  # every prompt opens with these
    examples = [
        ([*prefix, 21, 22], [31, 2], True),
        ([*prefix, 23, 24], [32, 2], False),  # same length as the first: one batch
        ([*prefix, 25], [33, 34, 35, 2], False),
        ([*prefix, 26, 27, 28, 29], [2], True),
    ]
    batches = cache_batches(model, examples, n_frozen=1, batch_size=4, pad_id=0)
    assert sum(b.hidden.shape[0] for b in batches) == len(examples)
    for batch in batches:
        rows = [e for e in examples if len(e[0]) + len(e[1]) == batch.mask.shape[1]]
        ids = torch.tensor([p + r for p, r, _ in rows])
        with torch.no_grad():
            full = run_layers(
                model, model.model.embed_tokens(ids), torch.ones_like(ids), model.model.layers[:1]
            )
        assert batch.hidden.shape == full.shape
        assert torch.allclose(batch.hidden, full, atol=1e-5)
    # Full batches in length order, right-padded: every real token's activations are those of
    # its example run alone (causal attention never reaches the pads after it).
    padded = cache_batches(model, examples, 1, batch_size=4, pad_id=0, grouping="sorted")
    assert len(padded) == 1 and not bool(padded[0].mask.all())
    order = sorted(examples, key=lambda e: len(e[0]) + len(e[1]))
    for row, (prompt, reply, _) in enumerate(order):
        ids = torch.tensor([prompt + reply])
        with torch.no_grad():
            alone = run_layers(
                model, model.model.embed_tokens(ids), torch.ones_like(ids), model.model.layers[:1]
            )
        assert torch.allclose(padded[0].hidden[row, : ids.shape[1]], alone[0], atol=1e-5)


def test_a_run_trained_on_a_domain_file_carries_that_domain(tiny_config, tmp_path):
    """A domain given as a YAML file (not a bundled name) is saved whole beside the model; the
    assistant serves the run with that file and refuses it under another domain."""
    import yaml

    from learn2ask.domain import domain_path, load_domain
    from learn2ask.errors import ConfigError
    from learn2ask.models.policy import load_model_domain
    from learn2ask.serving.server import load_policy

    spec = yaml.safe_load(domain_path("medical").read_text(encoding="utf-8"))
    spec.update(name="clinic", expert="nurse")
    domain_file = tmp_path / "clinic.yaml"
    domain_file.write_text(yaml.safe_dump(spec), encoding="utf-8")
    config, out = tiny_config(
        "decision_sft",
        max_steps=1,
        save_steps=0,
        lora={"enabled": False},
        prompt={"domain": str(domain_file)},
        decision={"top_layers": 1, "validation_points": 20, "ask_reward_samples": 4},
    )
    assert main(["train", "--config", str(config)]) == 0
    saved = load_model_domain(out / "model")
    assert saved == load_domain(domain_file) and saved.expert == "nurse"
    assert load_policy(str(out / "model"), None, saved).rule is not None
    with pytest.raises(ConfigError, match="pass its domain file as --domain FILE"):
        load_policy(str(out / "model"), None, load_domain("medical"))
