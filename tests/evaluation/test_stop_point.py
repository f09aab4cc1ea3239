"""Stop-point metrics: where the policy first stops along whole logged dialogues."""

from __future__ import annotations

import itertools
import json

import pytest

from learn2ask.data.sampling import whole_dialogue_subset
from learn2ask.data.types import InfoItem, Sample, Turn
from learn2ask.evaluation.stop_point import (
    dialogue_paths,
    expected_at_rate,
    expected_walk_reward,
    outcome_at,
    summarize_stop_point,
    training_stop_count,
    walk_reward,
)
from learn2ask.training.threshold import sequential_cut


def path_samples(dialogue: str, remaining: list[int]) -> list[Sample]:
    """One dialogue's points, the i-th with ``remaining[i]`` I* items still to come."""
    samples = []
    for index, left in enumerate(remaining):
        items = [InfoItem(text=f"q{j}", question=f"q{j}?", answer="a") for j in range(left)]
        samples.append(
            Sample(
                id=f"{dialogue}_{index:02d}",
                dialogue_id=dialogue,
                index=2 * index + 1,
                context=[Turn("user", f"turn {index}")],
                future=[],
                info_set=[i.text for i in items],
                decision="continue" if left else "stop",
                items=items,
            )
        )
    return samples


def test_outcomes_along_one_path():
    (path,) = dialogue_paths(path_samples("d", [4, 3, 1, 0, 0])).values()
    assert path.expert_stop == 3 and path.points == 5
    on_time = outcome_at(path, 3)
    assert on_time["on_time"] == 1.0 and on_time["coverage"] == 1.0
    early = outcome_at(path, 1)
    assert early["early"] == 1.0 and early["coverage"] == pytest.approx(0.25)
    never = outcome_at(path, 5)
    assert never["late"] == 1.0 and never["extra_questions"] == 2.0 and never["coverage"] == 1.0


def test_random_stopping_expectation_matches_enumeration():
    (path,) = dialogue_paths(path_samples("d", [3, 2, 0])).values()
    rate = 0.3
    enumerated = dict.fromkeys(("on_time", "early", "coverage", "offset"), 0.0)
    for draws in itertools.product((True, False), repeat=path.points):
        chance = 1.0
        for stop in draws:
            chance *= rate if stop else 1 - rate
        first = next((i for i, stop in enumerate(draws) if stop), path.points)
        for key, value in outcome_at(path, first).items():
            if key in enumerated:
                enumerated[key] += chance * value
    expected = expected_at_rate(path, rate)
    for key, value in enumerated.items():
        assert expected[key] == pytest.approx(value)


def test_walk_reward_charges_early_and_late_stops():
    (path,) = dialogue_paths(path_samples("d", [2, 1, 0, 0])).values()
    assert walk_reward(path, 2, ask=2.5, stop_reward=4.0) == pytest.approx((2 * 2.5 + 4) / 3)
    assert walk_reward(path, 1, ask=2.5, stop_reward=4.0) == pytest.approx(2.5 / 2)  # early
    assert walk_reward(path, 3, ask=2.5, stop_reward=4.0) == pytest.approx((2 * 2.5 + 4) / 4)
    assert walk_reward(path, 4, ask=2.5, stop_reward=4.0) == pytest.approx(2 * 2.5 / 4)  # never


def test_expected_walk_reward_matches_enumeration_with_two_rates():
    paths = list(
        dialogue_paths([*path_samples("a", [2, 1, 0]), *path_samples("b", [1, 0])]).values()
    )
    rate_continue, rate_stop = 0.2, 0.7
    enumerated = 0.0
    for path in paths:
        for draws in itertools.product((True, False), repeat=path.points):
            chance = 1.0
            for point, stop in enumerate(draws):
                rate = rate_continue if point < path.expert_stop else rate_stop
                chance *= rate if stop else 1 - rate
            first = next((i for i, stop in enumerate(draws) if stop), path.points)
            enumerated += chance * walk_reward(path, first, 2.5, 4.0) / len(paths)
    expected = expected_walk_reward(paths, rate_continue, rate_stop, 2.5, 4.0)
    assert expected == pytest.approx(enumerated)


def walks(prefix: str, remaining: list[int], count: int = 5) -> list[Sample]:
    """``count`` dialogues of the same shape."""
    return [s for i in range(count) for s in path_samples(f"{prefix}{i}", remaining)]


def test_the_sequential_cut_rises_with_the_questions_a_false_stop_forfeits():
    """The same calibration points: walks of long conversations (many questions before the
    expert stops) call for a higher cut than short snippets, where stopping soon is right."""
    points = [*path_samples("s", [0] * 20), *path_samples("c", [1] * 20)]
    p_stop = [0.5 + 0.02 * i for i in range(20)] + [0.1 + 0.04 * i for i in range(20)]
    short = list(dialogue_paths(walks("x", [1, 0])).values())
    long = list(dialogue_paths(walks("y", [*range(30, 0, -1), 0])).values())
    cut_short, _ = sequential_cut(points, p_stop, short, 2.5, 4.0)
    cut_long, _ = sequential_cut(points, p_stop, long, 2.5, 4.0)
    assert cut_long > cut_short
    assert sequential_cut(points, p_stop, [], 2.5, 4.0) is None


def test_summary_tells_a_stop_point_from_a_stop_rate():
    samples = [
        *path_samples("a", [3, 2, 1, 0]),
        *path_samples("b", [2, 1, 0, 0]),
        *path_samples("c", [1, 0]),
    ]
    at_the_point = {s.id: s.decision == "stop" for s in samples}
    summary = summarize_stop_point(samples, at_the_point, n_boot=200)
    assert summary["dialogues"] == 3 and summary["points"] == 10
    assert summary["policy"]["on_time"]["mean"] == 1.0
    assert summary["random_same_rate"]["on_time"]["mean"] < 0.5
    assert summary["policy_minus_random_same_rate"]["on_time"]["ci_low"] > 0
    assert summary["per_dialogue"][0] == {
        "dialogue_id": "a",
        "points": 4,
        "expert_stop": 3,
        "policy_stop": 3,
    }
    first_point = {s.id: s.index == 1 for s in samples}
    early = summarize_stop_point(samples, first_point, n_boot=200)
    assert early["policy"]["early"]["mean"] == 1.0
    assert early["policy"]["coverage"]["mean"] == 0.0


def test_fixed_count_reference_from_training_dialogues():
    train = [
        *path_samples("t1", [2, 1, 0]),
        *path_samples("t2", [1, 1, 0]),
        *path_samples("t3", [3, 0]),
    ]
    assert training_stop_count(train) == 2
    samples = path_samples("x", [2, 1, 0, 0])
    summary = summarize_stop_point(samples, {s.id: False for s in samples}, train, n_boot=50)
    assert summary["fixed_count"]["k"] == 2
    assert summary["fixed_count"]["on_time"]["mean"] == 1.0
    assert summary["policy"]["late"]["mean"] == 1.0  # it never stops


def test_whole_dialogue_subset_keeps_dialogues_whole():
    samples = [*path_samples("a", [1, 0]), *path_samples("b", [2, 1, 0]), *path_samples("c", [0])]
    chosen = whole_dialogue_subset(samples, limit=4, seed=0)
    by_dialogue = {d: [s for s in samples if s.dialogue_id == d] for d in "abc"}
    kept = {s.dialogue_id for s in chosen}
    assert len(chosen) <= 4 and kept
    assert sorted(s.id for s in chosen) == sorted(s.id for d in kept for s in by_dialogue[d])
    assert len(whole_dialogue_subset(samples, limit=1, seed=0)) >= 1  # one dialogue at least
    assert len(whole_dialogue_subset(samples, limit=None, seed=3)) == len(samples)


@pytest.mark.slow
def test_evaluate_whole_dialogues_writes_the_stop_point(tiny_model_dir, tmp_path):
    from learn2ask.cli import main
    from learn2ask.data.prepare import PrepareConfig, prepare_dataset
    from learn2ask.targets.qa import QAExtractor
    from tests.conftest import MTS_VALIDATION

    data = tmp_path / "data"
    prepare_dataset(
        PrepareConfig(inputs=(MTS_VALIDATION,), out=data, test_fraction=0.3), QAExtractor()
    )
    out = tmp_path / "eval"
    base = ["evaluate", "--model", str(tiny_model_dir), "--samples", str(data / "test.jsonl")]
    args = [*base, "--out", str(out), "--max-samples", "12", "--whole-dialogues"]
    args += ["--max-new-tokens", "4", "--reference-train", str(data / "train.jsonl")]
    assert main(args) == 0
    rows = [json.loads(line) for line in (out / "rollouts.jsonl").read_text().splitlines()]
    point = json.loads((out / "stop_point.json").read_text())
    assert point["points"] == len(rows) <= 12
    assert point["dialogues"] == len({r["dialogue_id"] for r in rows})
    assert {"k", "on_time"} <= set(point["fixed_count"])
    for dialogue in point["per_dialogue"]:
        own = sorted(
            (r for r in rows if r["dialogue_id"] == dialogue["dialogue_id"]),
            key=lambda r: r["sample_id"],
        )
        assert dialogue["points"] == len(own)
    report = tmp_path / "report"
    assert main(["report", str(out), "--out", str(report)]) == 0
    assert "| stop_point_on_time |" in (report / "report.md").read_text()
    with pytest.raises(SystemExit) as refused:
        main([*base, "--out", str(tmp_path / "x"), "--balanced", "--whole-dialogues"])
    assert refused.value.code == 2
