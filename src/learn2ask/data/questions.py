"""Finding the questions in a turn: by their ``?``, or, in unpunctuated speech, by their opening.

Speech-recognition transcripts (half of ACI-Bench's visits: "okay which knee was it") carry no
punctuation, so a question there is recognised by its interrogative opening instead. The
``qa`` extractor uses the opening for its labels (``targets/qa.py`` rule 4); the policy's
progress line and the stop head's surface features use it to count the questions asked so far,
so that they do not read "0 questions" all through such a conversation.
"""

from __future__ import annotations

import re
from functools import lru_cache

QUESTION_MARKS_RE = re.compile(r"[?？]+")
# A turn with none of these is read as unpunctuated speech.
_SENTENCE_PUNCTUATION_RE = re.compile(r"[.?!。？！]")

# Interrogative openings for unpunctuated speech. A yes/no question puts the auxiliary before
# its subject; after "that", "it", "there", "this", "here" or "what" the same words are a
# statement ("that is it") or part of a wh-question the second pattern finds.
_AUX = r"(?:do|does|did|are|is|was|were|have|has|had|can|could|would|will|should)"
_YES_NO = (
    r"(?<!\bthat )(?<!\bit )(?<!\bthere )(?<!\bthis )(?<!\bhere )(?<!\bwhat )"
    rf"\b{_AUX}(?:n't)? (?:you|your|it|he|she|they|there|anyone|anybody|anything|any)\b"
)
# "which" and "who" also open relative clauses ("a fever which is good"): "which" counts only
# before a noun and a verb ("which knee was it"), "who" not at all.
_WH = (
    r"\bwhich \w+ (?:is|was|are|were|do|does|did)\b|\b(?:what|when|where|why|how)"
    rf" (?:{_AUX}(?:n't)?|long|much|many|often|far|bad|old|severe|kind|type|sort|else|brings"
    r"|brought|happened|medications?|time|part|side|about)\b"
)
_ANY_OPENING = (
    r"(?:^|\b(?:okay|ok|alright|and|so|um|uh|now|also)\b)"
    r"(?: (?:okay|ok|alright|and|so|um|uh|now|also|great|good|right|well))* ?any\b"
)
DEFAULT_CUE_PATTERN = "|".join((_YES_NO, _WH, _ANY_OPENING))
# A question that opens as a yes/no question ("Do you have...", "Any fever?", "No chest pain?")
# after at most a few discourse words.
_YES_NO_START_RE = re.compile(
    rf"^\W*(?:(?:and|so|now|also|okay|ok|alright|well)\W+)*(?:{_YES_NO}|any\b|no\b)",
    re.IGNORECASE,
)


def count_questions(text: str) -> int:
    """Number of questions in ``text`` by their marks: runs of question marks count once."""
    return len(QUESTION_MARKS_RE.findall(text))


def is_unpunctuated_turn(text: str) -> bool:
    """True when a turn holds no sentence punctuation at all (speech-recognition output)."""
    return _SENTENCE_PUNCTUATION_RE.search(text) is None


@lru_cache(maxsize=8)
def cue_regex(pattern: str = DEFAULT_CUE_PATTERN) -> re.Pattern[str]:
    """The compiled, case-insensitive interrogative-opening pattern."""
    return re.compile(pattern, re.IGNORECASE)


def cue_opening(text: str, pattern: str = DEFAULT_CUE_PATTERN) -> int | None:
    """Where the first interrogative opening of ``text`` starts, or None."""
    found = cue_regex(pattern).search(text)
    return None if found is None else found.start()


def count_turn_questions(text: str) -> int:
    """Questions in one turn: its ``?`` runs, or in an unpunctuated turn 1 when it opens a
    question somewhere (the ``qa`` extractor's rule 4 finds one question per such turn)."""
    if is_unpunctuated_turn(text):
        return int(cue_opening(text) is not None)
    return count_questions(text)


def is_yes_no_question(text: str) -> bool:
    """True when ``text`` opens as a yes/no question: an auxiliary before its subject ("did
    you", "is there", "have any"), or "any" / "no" ("Any fever?", "No chest pain?")."""
    return _YES_NO_START_RE.match(text) is not None


def is_question_turn(text: str) -> bool:
    """True when a turn ends with a question: a final ``?``, or an unpunctuated turn with an
    interrogative opening."""
    text = text.strip()
    if is_unpunctuated_turn(text):
        return bool(text) and cue_opening(text) is not None
    return text.endswith(("?", "？"))


@lru_cache(maxsize=8)
def unaskable_regex(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One case-insensitive pattern that finds any of a domain's ``unaskable`` patterns (the
    medical domain's: a physical examination's prompts); None when there are none."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


def question_key(text: str) -> str:
    """The form two wordings must share to be the same question for an operator's block list:
    case, surrounding space and runs of space do not matter, every word and mark does."""
    return " ".join(text.split()).casefold()
