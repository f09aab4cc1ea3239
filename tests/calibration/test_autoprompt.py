"""Auto-Prompt calibration of the LLM grader: variants, kappa, grader file, resume, failures."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from learn2ask.calibration.autoprompt import prompt_from_grader_file, propose_variants
from learn2ask.calibration.labels import load_grade_labels, split_labels
from learn2ask.cli import main
from learn2ask.data.samples import load_samples

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture_labels(tmp_path: Path, dialogues: int, per_dialogue: int) -> Path:
    """The first ``per_dialogue`` labels of the first ``dialogues`` fixture samples."""
    rows = [json.loads(x) for x in (FIXTURES / "grader_labels.jsonl").read_text().splitlines()]
    ids = [s.id for s in load_samples(FIXTURES / "grader_samples.jsonl")][:dialogues]
    chosen = [r for i in ids for r in [r for r in rows if r["id"] == i][:per_dialogue]]
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in chosen))
    return path


class Recorder:
    """A loopback chat endpoint that keeps every request body and replies ``reply_for(body)``
    (``content`` unless replaced)."""

    def __init__(self, content: str) -> None:
        self.content = content
        self.bodies: list[dict] = []
        self.reply_for = lambda body: self.content
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                recorder.bodies.append(json.loads(body))
                content = recorder.reply_for(recorder.bodies[-1])
                message = {"role": "assistant", "content": content}
                data = json.dumps({"choices": [{"index": 0, "message": message}]}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def judge_says_one():
    recorder = Recorder('{"score": 1, "reason": "asks an item"}')
    yield recorder
    recorder.close()


def calibrate_llm(samples: Path, labels: Path, url: str, out: Path, *extra: str) -> int:
    return main(
        [
            "calibrate",
            str(samples),
            "--grader",
            "llm",
            "--labels",
            str(labels),
            "--base-url",
            url,
            "--model",
            "judge",
            "--out",
            str(out),
            "--bootstrap",
            "200",
            "--report",
            *extra,
        ]
    )


def test_autoprompt_writes_grader_file_and_resumes(tmp_path, judge_says_one, capsys):
    labels = fixture_labels(tmp_path, dialogues=6, per_dialogue=3)
    out = tmp_path / "grader-llm.json"
    samples = FIXTURES / "grader_samples.jsonl"
    assert calibrate_llm(samples, labels, judge_says_one.base_url, out, "--max-variants", "4") == 0
    printed = capsys.readouterr().out
    assert "llm grader, held-out labels:" in printed and "kappa" in printed
    data = json.loads(out.read_text())
    assert data["kind"] == "llm" and data["model"] == "judge" and data["temperature"] == 0.0
    assert data["agreement"]["labels"] == 18 and len(data["variants"]) == 4
    after = data["agreement"]["after"]
    assert after["n"] + after["failures"] == data["agreement"]["held_out_labels"]
    # a judge that always says 1 agrees with exactly the labels that are 1
    human = [x.label for x in load_grade_labels(labels, {s.id: s for s in load_samples(samples)})]
    assert 0 < after["accuracy"] < 1 and human.count(1.0) < len(human)
    # the grader and the extractor request structured output with their schema
    formats = [b["response_format"] for b in judge_says_one.bodies]
    assert all(f["type"] == "json_schema" for f in formats)
    assert formats[0]["json_schema"]["schema"]["properties"]["score"]["enum"] == [0, 0.5, 1]
    assert prompt_from_grader_file(out).name == data["prompt"]["name"]
    # the starting prompt is the domain's rubric, the one `grade --grader llm` uses
    from learn2ask.domain import load_domain
    from learn2ask.rewards.graders.llm import GraderPrompt

    rubric_prompt = GraderPrompt(rubric=load_domain("medical").grader.rubric)
    assert data["variants"][0]["prompt"] == rubric_prompt.digest()
    assert judge_says_one.bodies[0]["messages"][0]["content"] == rubric_prompt.system_text()
    # rerun: every step is in the log, nothing is asked again
    calls = len(judge_says_one.bodies)
    assert calibrate_llm(samples, labels, judge_says_one.base_url, out, "--max-variants", "4") == 0
    assert len(judge_says_one.bodies) == calls
    # without the step log the grade cache still answers
    (tmp_path / "grader-llm.steps" / "steps.jsonl").unlink()
    assert calibrate_llm(samples, labels, judge_says_one.base_url, out, "--max-variants", "4") == 0
    assert len(judge_says_one.bodies) == calls


def test_a_server_ignoring_the_schema_is_counted_not_graded(tmp_path, capsys):
    recorder = Recorder("Sure! The question is relevant.")
    try:
        labels = fixture_labels(tmp_path, dialogues=4, per_dialogue=2)
        out = tmp_path / "g.json"
        samples = FIXTURES / "grader_samples.jsonl"
        assert calibrate_llm(samples, labels, recorder.base_url, out, "--max-variants", "1") == 0
    finally:
        recorder.close()
    data = json.loads(out.read_text())
    before = data["agreement"]["before"]
    assert before["kappa"] is None and before["n"] == 0 and before["failures"] > 0
    assert "kappa n/a" in capsys.readouterr().out
    steps = [json.loads(x) for x in (tmp_path / "g.steps" / "steps.jsonl").read_text().splitlines()]
    scored = [s for s in steps if s["step"] == "score"]
    assert all(s["invalid_replies"] == s["figure"]["failures"] for s in scored)


def test_few_shot_examples_come_from_the_calibration_split_only():
    samples = {s.id: s for s in load_samples(FIXTURES / "grader_samples.jsonl")}
    labelled = load_grade_labels(FIXTURES / "grader_labels.jsonl", samples)
    calibration, held_out = split_labels(labelled, 0.5)
    variants = propose_variants(calibration, "Rubric.", max_variants=20, seed=0)
    assert variants[0].rubric == "Rubric." and not variants[0].examples
    shown = {e.question for v in variants for e in v.examples}
    assert shown and shown <= {x.question for x in calibration}
    held_only = {x.question for x in held_out} - {x.question for x in calibration}
    assert not shown & held_only
    assert {e.score for v in variants for e in v.examples} == {0.0, 0.5, 1.0}


def test_llm_calibration_needs_an_endpoint(tmp_path, capsys):
    labels = fixture_labels(tmp_path, dialogues=2, per_dialogue=1)
    code = main(["calibrate", "--grader", "llm", "--labels", str(labels)])
    assert code == 2 and "--base-url" in capsys.readouterr().err


def test_bundled_judge_loop_offline(tmp_path, local_llm_server, capsys):
    """The whole loop with the bundled judge behind serve-model (few requests, short replies)."""
    labels = fixture_labels(tmp_path, dialogues=4, per_dialogue=1)
    out = tmp_path / "bundled.json"
    code = calibrate_llm(
        FIXTURES / "grader_samples.jsonl",
        labels,
        local_llm_server,
        out,
        "--max-variants",
        "1",
        "--max-tokens",
        "24",
        "--model",
        "smollm2-135m-instruct",
        "--max-concurrency",
        "1",
    )
    assert code == 0 and "kappa" in capsys.readouterr().out
    block = json.loads(out.read_text())["agreement"]
    for side in ("before", "after"):  # every held-out label is graded or counted as a failure
        assert block[side]["n"] + block[side]["failures"] == block["held_out_labels"]
    steps = [json.loads(x) for x in (tmp_path / "bundled.steps" / "steps.jsonl").open()]
    for step in (s for s in steps if s["step"] == "score"):
        figure = step["figure"]
        assert step["model_calls"] == figure["n"] + figure["failures"]  # one request per label
        assert step["invalid_replies"] == figure["failures"]  # no failure goes uncounted


def test_llm_extractor_variants_scored_against_extraction_labels(tmp_path, capsys):
    """Prompt variants of the LLM extractor, item precision/recall, cache-backed rerun."""

    def first_question(body: dict) -> str:
        future = body["messages"][1]["content"].split("What happens next:")[1]
        asked = [x[len("Expert: ") :] for x in future.splitlines() if x.startswith("Expert: ")]
        question = next((q for q in asked if q.endswith("?")), "")
        item = {"attribute": "symptom", "value": "yes", "question": question}
        return json.dumps({"items": [item] if question else []})

    recorder = Recorder("")
    recorder.reply_for = first_question
    out = tmp_path / "extractor.json"
    args = [
        "calibrate",
        "--extractor",
        "llm",
        "--labels",
        str(FIXTURES / "extraction_points.jsonl"),
        "--base-url",
        recorder.base_url,
        "--model",
        "m",
        "--out",
        str(out),
    ]
    try:
        assert main(args) == 0
        calls = len(recorder.bodies)
        assert main(args) == 0 and len(recorder.bodies) == calls  # rerun: all from the cache
    finally:
        recorder.close()
    assert "llm extractor" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["kind"] == "llm-extractor" and len(data["variants"]) == 3
    assert data["calibration_points"] + data["held_out_points"] == data["points"]
    before = data["before"]
    # one extracted item per point: the expert's first question, right or not
    assert before["extracted_items"] == data["held_out_points"] - before["failures"]
    assert 0 < before["recall"] < 1 and 0 <= before["precision"] <= 1
    systems = {b["messages"][0]["content"] for b in recorder.bodies}
    assert any("Never list closers" in s for s in systems)
    assert all(b["response_format"]["type"] == "json_schema" for b in recorder.bodies)
