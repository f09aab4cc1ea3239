"""Re-cutting a trained run's STOP threshold on logs of a new source (`learn2ask calibrate
--decision RUN SAMPLES`): where the cut lands, what the run's policy file keeps, and what is
refused."""

from __future__ import annotations

import json

import pytest

from learn2ask.cli import main
from learn2ask.data.samples import load_samples
from learn2ask.data.types import Sample, Turn
from learn2ask.models.decision import DecisionRule, load_deciding_policy, load_decision_rule
from learn2ask.training.threshold import cut_rule

pytestmark = pytest.mark.slow


def _point(index: int, stop: bool) -> Sample:
    return Sample(
        id=f"d{index}:1",
        dialogue_id=f"d{index}",
        index=1,
        context=[Turn(role="user", content=f"message {index}")],
        future=[],
        info_set=[] if stop else ["duration"],
        decision="stop" if stop else "continue",
    )


def test_the_cut_follows_a_source_whose_p_stop_sits_higher():
    """A source where the policy still ranks STOP first but every P(stop) is high (0.70-0.95):
    the old cut (0.41) stops everywhere; the re-cut one lands between the two groups."""
    points = [_point(i, stop=i % 2 == 0) for i in range(40)]
    p_stop = [
        0.86 + 0.002 * i if s.decision == "stop" else 0.70 + 0.004 * i for i, s in enumerate(points)
    ]
    old = DecisionRule(threshold=0.41, stop_token_id=1, stop_token="<")
    ask = {"ask_reward": 2.5, "r_a": 0.25, "p": 1.0, "n": 20}
    rule = cut_rule(points, p_stop, ask, 4.0, 0.2, old)
    stops = [p for p, s in zip(p_stop, points, strict=True) if s.decision == "stop"]
    asks = [p for p, s in zip(p_stop, points, strict=True) if s.decision == "continue"]
    assert min(stops) > 0.41 and min(asks) > 0.41  # the old cut: STOP at every point
    assert 0.70 < rule.threshold < 0.95
    assert rule.calibration["balanced_accuracy"] > 0.75
    # Fewer STOP points in the natural course: the natural cut stops later.
    assert rule.natural_threshold is not None and rule.natural_threshold > rule.threshold
    assert (rule.stop_token_id, rule.stop_token) == (1, "<")


def _shifted_points(n_dialogues: int, stop_centre: float, continue_centre: float):
    """Six points per dialogue (the last STOP) with P(stop) drawn around the two centres."""
    import random

    rng = random.Random(0)
    points, p_stop = [], []
    for d in range(n_dialogues):
        for i in range(6):
            stop = i == 5
            points.append(
                Sample(
                    id=f"d{d}:{i}",
                    dialogue_id=f"d{d}",
                    index=i,
                    context=[Turn(role="user", content="x")],
                    future=[],
                    info_set=[] if stop else ["duration"],
                    decision="stop" if stop else "continue",
                )
            )
            centre = stop_centre if stop else continue_centre
            p_stop.append(min(0.99, max(0.01, rng.gauss(centre, 0.08))))
    return points, p_stop


def test_the_cross_fitted_check_scores_each_halfs_cut_on_the_other():
    from learn2ask.calibration.decision import cross_fitted_gain, recut_verdict

    # P(stop) sits high (CONTINUE near 0.6): the saved cut 0.41 stops almost everywhere.
    points, p_stop = _shifted_points(40, 0.85, 0.6)
    gain = cross_fitted_gain(points, p_stop, 2.5, 4.0, 0.41)
    assert gain is not None and gain["dialogues"] == 40
    assert gain["expected_reward_gain"] > 0.2
    assert gain["balanced_accuracy"]["recut"] > gain["balanced_accuracy"]["saved"] + 0.2
    # Walked in order: a saved sequential cut of 0.5 ends most walks at their first point;
    # each half's own sequential cut, scored on the other half's walks, earns more per turn.
    from learn2ask.evaluation.stop_point import dialogue_paths

    paths = list(dialogue_paths(points).values())
    walked = cross_fitted_gain(points, p_stop, 2.5, 4.0, 0.41, saved_sequential=0.5, paths=paths)
    assert walked is not None
    assert walked["expected_reward_gain"] == gain["expected_reward_gain"]  # the same halves
    walk = walked["sequential"]
    assert walk["expected_walk_reward_gain"] > 0.5
    assert walk["expected_walk_reward"]["recut"] > walk["expected_walk_reward"]["saved"]
    # Where the saved cut already separates the source, the re-cut earns about nothing.
    points, p_stop = _shifted_points(40, 0.7, 0.2)
    fitted = cross_fitted_gain(points, p_stop, 2.5, 4.0, 0.45)
    assert fitted is not None and abs(fitted["expected_reward_gain"]) < 0.05
    # A half without STOP points has no cut to score.
    only_continue = [i for i, s in enumerate(points) if s.decision == "continue"]
    some = [points[i] for i in only_continue] + [points[5]]  # one STOP point, in one half only
    assert (
        cross_fitted_gain(some, [p_stop[i] for i in only_continue] + [0.9], 2.5, 4.0, 0.45) is None
    )
    # The verdict names the gain, and says when the logs are too few to trust it.
    from dataclasses import replace

    rule = DecisionRule(
        threshold=0.6,
        stop_token_id=1,
        stop_token="<",
        calibration={"previous": {"threshold": 0.41}, "cross_fitted": gain},
    )
    verdict = recut_verdict(rule)
    assert verdict.startswith("threshold 0.41 -> 0.6; cross-fitted on two halves of 40")
    assert verdict.endswith("(the re-cut earns more: save it)")
    no_gain = {**gain, "expected_reward_gain": 0.0}
    rule = replace(rule, calibration={"previous": {"threshold": 0.41}, "cross_fitted": no_gain})
    assert recut_verdict(rule).endswith("(the saved rule earns as much or more: keep it)")


def test_a_run_recut_on_new_logs_keeps_its_old_rule_and_refuses_what_it_cannot_cut(
    tiny_config, small_samples, tmp_path, capsys
):
    config, run = tiny_config(
        "decision_sft",
        max_steps=1,
        lora={"enabled": False},
        decision={
            "top_layers": 1,
            "validation_points": 20,
            "ask_reward_samples": 2,
            "memory_max_points": 20,
            "stop_head_points": 20,
        },
    )
    assert main(["train", "--config", str(config)]) == 0
    # Refused, one line naming the file and the reason, exit 2, the run left as it was.
    policy_file = run / "model" / "learn2ask_policy.json"
    saved = policy_file.read_text()
    only_continue = tmp_path / "continue.jsonl"
    lines = small_samples.read_text().splitlines()
    only_continue.write_text(
        "\n".join(line for line in lines if json.loads(line)["decision"] == "continue") + "\n"
    )
    broken = tmp_path / "broken.jsonl"
    broken.write_text(lines[0] + "\n{not json\n")
    for argv, says in (
        ([str(only_continue), "--decision", str(run)], "has 0 STOP and"),
        ([str(broken), "--decision", str(run)], "broken.jsonl"),
        ([str(small_samples), "--decision", str(tmp_path / "no-run")], "not a training run"),
        (["--decision", str(run)], "needs SAMPLES"),
    ):
        capsys.readouterr()
        assert main(["calibrate", *argv, "--write"]) == 2
        error = capsys.readouterr().err.strip()
        assert says in error and len(error.splitlines()) == 1
    assert policy_file.read_text() == saved
    # Re-cut on the new logs: the old rule is kept in the file, every consumer uses the new.
    before = load_decision_rule(run / "model")
    code = main(
        ["calibrate", str(small_samples), "--decision", str(run), "--points", "40", "--write"]
    )
    assert code == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    # One line for the person re-cutting, on stderr so stdout stays the rule's JSON.
    verdict = captured.err.strip().splitlines()[-1]  # after the model loader's progress bars
    assert verdict.startswith(f"threshold {before.threshold} -> ")
    assert verdict.endswith("save it)") or verdict.endswith("keep it)")
    rule = load_decision_rule(run / "model")
    assert rule is not None and printed["threshold"] == rule.threshold
    assert rule.calibration["points"] == 40 and str(small_samples) in rule.calibration["split"]
    assert rule.calibration["previous"]["threshold"] == before.threshold
    samples = load_samples(small_samples)
    share = sum(s.decision == "stop" for s in samples) / len(samples)
    assert rule.calibration["natural_stop_share"] == round(share, 4)
    assert load_deciding_policy(str(run), device="cpu").rule.threshold == rule.threshold
    # The sequential cut is re-cut on the walks of the new logs' dialogues too.
    dialogues = len({s.dialogue_id for s in samples})
    assert rule.sequential_threshold is not None
    assert rule.calibration["sequential"]["dialogues"] == dialogues
    assert rule.calibration["previous"]["sequential_threshold"] == before.sequential_threshold
