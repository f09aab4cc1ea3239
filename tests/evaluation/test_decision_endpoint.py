"""The decision rule gives the same decisions locally and through `serve-model` (P(stop) from
`top_logprobs`, the ask with the stop token banned through `logit_bias`), and the question
memory's likelihood re-rank the same questions (the likelihoods from `prompt_logprobs`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from learn2ask.cli import main
from learn2ask.models.decision import DecisionRule, load_deciding_policy, save_decision_rule
from tests.conftest import _free_port

pytestmark = pytest.mark.slow


@pytest.fixture()
def ruled_model(tiny_model_dir, small_test_samples, tmp_path):
    """A copy of the tiny model with a question memory and a stop head, whose saved rule
    thresholds P(stop) at its median on the test points (so some points stop and some ask),
    trained (as it says) on a domain of its own file, which no bundled name finds."""
    import yaml

    from learn2ask.data.samples import load_samples
    from learn2ask.domain import domain_path, load_domain
    from learn2ask.models.policy import PolicyPromptConfig, save_prompt_config
    from learn2ask.models.question_memory import QuestionMemory
    from learn2ask.models.stop_head import StopHead
    from learn2ask.training.threshold import balanced_points

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    spec = yaml.safe_load(domain_path("medical").read_text(encoding="utf-8"))
    (tmp_path / "clinic.yaml").write_text(yaml.safe_dump({**spec, "name": "clinic"}))
    clinic = load_domain(tmp_path / "clinic.yaml")
    save_prompt_config(model, PolicyPromptConfig.from_domain(clinic), clinic)
    save_decision_rule(model, DecisionRule(threshold=0.5, stop_token_id=44, stop_token="<"))
    train = load_samples(small_test_samples.parent / "train.jsonl")
    memory = QuestionMemory.build(train)
    memory.save(model)
    points = balanced_points(train, 200, 0)
    lm = load_deciding_policy(str(model), assessment="lm")
    p_lm = lm.stop_probabilities([s.context for s in points[:40]])
    StopHead.fit(memory.grader, points, points[:40], p_lm).save(model)
    return model


def serve(model, port):
    process = subprocess.Popen(
        [sys.executable, "-m", "learn2ask", "serve-model", str(model), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            raise RuntimeError(process.stderr.read().decode()[-2000:])
        try:
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.5)


def test_local_and_endpoint_decide_the_same(ruled_model, small_test_samples, tmp_path):
    from learn2ask.data.samples import load_samples

    samples = load_samples(small_test_samples)[:8]
    local = load_deciding_policy(str(ruled_model))
    p_stop = local.stop_probabilities([s.context for s in samples])
    median = sorted(p_stop)[len(p_stop) // 2]
    save_decision_rule(
        ruled_model, DecisionRule(threshold=median, stop_token_id=44, stop_token="<")
    )
    # Both as a user would: the training run directory (its model/), served and local.
    run = ruled_model.parent
    process, url = serve(run, _free_port())
    try:
        common = ["--samples", str(small_test_samples), "--max-samples", "8", "--stop-probs"]
        common += ["--max-new-tokens", "6", "--no-references"]
        assert main(["evaluate", "--model", str(run), "--out", str(tmp_path / "a"), *common]) == 0
        args = ["evaluate", "--model", str(run), "--base-url", url]
        assert main([*args, "--out", str(tmp_path / "b"), *common]) == 0
        rerank = ["--likelihood-weight", "5", *common]
        local = ["evaluate", "--model", str(run), "--out", str(tmp_path / "c")]
        assert main([*local, *rerank]) == 0
        assert main([*args, "--out", str(tmp_path / "d"), *rerank]) == 0
    finally:
        process.terminate()
        process.wait(timeout=20)
    rows = {}
    for name in ("a", "b", "c", "d"):
        lines = (tmp_path / name / "rollouts.jsonl").read_text().splitlines()
        rows[name] = {r["sample_id"]: r for r in map(json.loads, lines)}
    assert rows["a"].keys() == rows["b"].keys()
    decisions = {r["assessment"] for r in rows["a"].values()}
    assert decisions == {"stop", "continue"}  # the threshold splits the points
    for sample_id, row in rows["a"].items():
        other = rows["b"][sample_id]
        assert other["assessment"] == row["assessment"]
        assert other["response"] == row["response"]  # the same question from the memory
        # Also when the stop token is not among the 20 top_logprobs (read by forcing it).
        assert other["p_stop"] == pytest.approx(row["p_stop"], rel=1e-3, abs=1e-7)
    # The re-rank chose other questions than the vote alone, the same ones either way.
    asked = [k for k, r in rows["c"].items() if r["assessment"] == "continue"]
    assert any(rows["c"][k]["response"] != rows["a"][k]["response"] for k in asked)
    assert all(rows["d"][k]["response"] == rows["c"][k]["response"] for k in asked)
