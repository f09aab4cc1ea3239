"""``learn2ask prepare`` end to end through the CLI: outputs, split, errors, speed of presets."""

from __future__ import annotations

import json

import pytest

from learn2ask.cli import main
from learn2ask.data.samples import load_samples
from tests.conftest import REPO_ROOT

SAMPLE = REPO_ROOT / "src" / "learn2ask" / "resources" / "data" / "realmedconv" / "sample.jsonl"


def test_prepare_realmedconv_sample(tmp_path):
    assert main(["prepare", str(SAMPLE), "--out", str(tmp_path), "--test-fraction", "0"]) == 0
    samples = load_samples(tmp_path / "train.jsonl")
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["dialogues"] == 1 and stats["samples"] == len(samples) == 7
    # The last point is before the terminal <med_search> action: nothing left to elicit.
    assert samples[-1].decision == "stop" and samples[-1].future[0].content == "<med_search>"
    assert samples[0].decision == "continue"
    assert samples[0].info_set[0] == "How long have the symptoms been present?"
    # Full history: each context extends the previous one.
    for earlier, later in zip(samples, samples[1:], strict=False):
        assert later.context[: len(earlier.context)] == earlier.context


def test_loaded_samples_share_equal_turns_and_save_back_the_same(tmp_path):
    from learn2ask.data.samples import save_samples

    main(["prepare", str(SAMPLE), "--out", str(tmp_path), "--test-fraction", "0"])
    samples = load_samples(tmp_path / "train.jsonl")
    # Each point repeats its dialogue's turns: one object per distinct turn, not one per copy.
    assert samples[-1].context[0] is samples[0].context[0]
    copies = {id(t) for s in samples for t in s.context + s.future}
    distinct = {(t.role, t.content) for s in samples for t in s.context + s.future}
    assert len(copies) == len(distinct)
    save_samples(tmp_path / "again.jsonl", samples)
    assert (tmp_path / "again.jsonl").read_bytes() == (tmp_path / "train.jsonl").read_bytes()


def test_a_raw_log_where_samples_belong_says_to_prepare_it(tmp_path, capsys):
    out = tmp_path / "eval"
    argv = ["evaluate", "--model", "smollm2-135m-instruct", "--samples", str(SAMPLE)]
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{SAMPLE}:1: a conversation log" in err and "learn2ask prepare" in err
    assert len(err.splitlines()) == 1 and not out.exists()


def test_demo_preset_split_by_dialogue_and_loadable_with_datasets(tmp_path):
    from datasets import load_dataset

    assert main(["prepare", "--preset", "demo", "--out", str(tmp_path)]) == 0
    train = load_samples(tmp_path / "train.jsonl")
    test = load_samples(tmp_path / "test.jsonl")
    assert not {s.dialogue_id for s in train} & {s.dialogue_id for s in test}
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["samples"] == len(train) + len(test)
    assert stats["continue_samples"] + stats["stop_samples"] == stats["samples"]
    assert stats["stop_samples"] > 0
    dataset = load_dataset("json", data_files=str(tmp_path / "test.jsonl"), split="train")
    assert len(dataset) == len(test)
    assert set(dataset.column_names) >= {
        "id",
        "dialogue_id",
        "context",
        "future",
        "info_set",
        "decision",
        "meta",
    }


def test_same_seed_same_split(tmp_path):
    for name in ("a", "b"):
        main(["prepare", "--preset", "mts-dialog", "--out", str(tmp_path / name), "--seed", "3"])
    first, second = (tmp_path / n / "test.jsonl" for n in ("a", "b"))
    assert first.read_bytes() == second.read_bytes()


def test_bad_input_exit_2_one_message_no_output(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"session_id": 1, "messages": [{"role": "user", "content": "a"}]}\nnope\n')
    out = tmp_path / "out"
    assert main(["prepare", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{bad}:2: not valid JSON" in err[0]
    assert not (out / "train.jsonl").exists()


def test_skip_invalid_counted_in_stats(tmp_path):
    bad = tmp_path / "bad.jsonl"
    good = {
        "session_id": 1,
        "messages": [
            {"role": "user", "content": "pain"},
            {"role": "assistant", "content": "Where?"},
            {"role": "user", "content": "knee"},
        ],
    }
    bad.write_text(json.dumps(good) + '\nnope\n{"session_id": 2, "messages": []}\n')
    assert (
        main(
            ["prepare", str(bad), "--out", str(tmp_path), "--skip-invalid", "--test-fraction", "0"]
        )
        == 0
    )
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["skipped_records"] == 2 and stats["dialogues"] == 1


def test_unknown_preset_is_a_config_error(tmp_path, capsys):
    assert main(["prepare", "--preset", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown preset" in capsys.readouterr().err


@pytest.mark.parametrize("preset", ["aci-bench", "all"])
def test_other_presets(tmp_path, preset):
    assert main(["prepare", "--preset", preset, "--out", str(tmp_path)]) == 0
    assert load_samples(tmp_path / "train.jsonl")
