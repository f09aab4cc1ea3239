"""How well do interrogative openings stand in for ``?``? The qa extractor's rule 4 (unpunctuated
speech) measured on conversations that do have punctuation, with it stripped.

    python -m benchmarks.cue_questions data/train.jsonl [data-aci/train.jsonl ...] [--out FILE]

For every conversation of a prepared samples file whose expert turns use ``?``: each expert turn
lower-cased with ``. , ? ! ; :`` removed, as speech recognition writes it, is read by rule 4
(``QAExtractor.cue_question``) and compared with rules 1-3 on the original turn
(``questions_in``): precision and recall of "this turn asks something". Then each point's s*
(is I* empty?) from the stripped future under rule 4 against the original's. Prints one line
per file; ``--out`` writes the figures as JSON.

    python -m benchmarks.cue_questions FILE --write-spoken OUT.jsonl

writes FILE's points with every turn of their context and future as speech (the labels, I* and
s*, kept from the punctuated original), to evaluate a policy on speech-recognised logs whose
true labels are known: ``learn2ask evaluate --model RUN --samples OUT.jsonl ...``.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from learn2ask.data.samples import load_samples, save_samples
from learn2ask.data.sampling import samples_by_dialogue
from learn2ask.data.types import Sample, Turn
from learn2ask.targets.qa import QAExtractor, is_unpunctuated

_PUNCTUATION = re.compile(r"[.,?!;:]")


def as_speech(text: str) -> str:
    """``text`` as a speech recogniser writes it: lower case, no punctuation."""
    return " ".join(_PUNCTUATION.sub("", text.lower()).split())


def compare(samples: Sequence[Sample], extractor: QAExtractor) -> dict[str, Any]:
    """Turn- and point-level agreement of rule 4 on stripped text with rules 1-3 on the original,
    over the punctuated conversations of ``samples``."""
    turns: Counter[str] = Counter()
    points: Counter[str] = Counter()
    for points_of_dialogue in samples_by_dialogue(samples).values():
        first = points_of_dialogue[0]
        dialogue = [*first.context, *first.future]
        if is_unpunctuated(dialogue):
            continue
        for turn in dialogue:
            if turn.role == "expert":
                asked = extractor.questions_in(turn.content) is not None
                found = extractor.cue_question(as_speech(turn.content)) is not None
                turns[f"{asked}_{found}"] += 1
        for sample in points_of_dialogue:
            spoken = [Turn(t.role, as_speech(t.content)) for t in sample.future]
            continues = bool(extractor.items_in_future(sample.future))
            found = bool(extractor.items_in_future(spoken, unpunctuated=True))
            points[f"{continues}_{found}"] += 1
    hits = turns["True_True"]
    n_points = sum(points.values())
    return {
        "expert_turns": sum(turns.values()),
        "precision": round(hits / max(1, hits + turns["False_True"]), 3),
        "recall": round(hits / max(1, hits + turns["True_False"]), 3),
        "points": n_points,
        "s_star_agreement": round(
            (points["True_True"] + points["False_False"]) / max(1, n_points), 3
        ),
        "s_star_agreement_all_stop": round(
            (points["False_True"] + points["False_False"]) / max(1, n_points), 3
        ),
        "turn_counts": dict(turns),
        "point_counts": dict(points),
    }


def as_spoken_points(samples: Sequence[Sample]) -> list[Sample]:
    """``samples`` with every context and future turn as speech, their labels unchanged."""

    def spoken(turns: Sequence[Turn]) -> list[Turn]:
        return [Turn(t.role, as_speech(t.content)) for t in turns]

    return [replace(s, context=spoken(s.context), future=spoken(s.future)) for s in samples]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("samples", nargs="+", type=Path, help="prepared samples JSONL files")
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    parser.add_argument(
        "--write-spoken",
        type=Path,
        metavar="OUT",
        help="write the one samples file's points as speech, labels kept, and stop",
    )
    args = parser.parse_args(argv)
    if args.write_spoken:
        if len(args.samples) != 1:
            parser.error("--write-spoken takes one samples file")
        written = save_samples(args.write_spoken, as_spoken_points(load_samples(args.samples[0])))
        print(f"wrote {written} points as speech to {args.write_spoken}")
        return 0
    extractor = QAExtractor()
    results = {}
    for path in args.samples:
        figures = compare(load_samples(path), extractor)
        results[str(path)] = figures
        print(
            f"{path}: {figures['expert_turns']} expert turns, precision {figures['precision']}, "
            f"recall {figures['recall']}; s* agrees at {figures['s_star_agreement']} of "
            f"{figures['points']} points (every point STOP: {figures['s_star_agreement_all_stop']})"
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
