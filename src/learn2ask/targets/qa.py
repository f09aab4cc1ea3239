"""The offline ``qa`` extractor: I* = the expert's information-seeking questions still to come.

Rules (deterministic, documented in docs/data.md):

1. An item is a question sentence (ends with ``?``) in an expert turn of the future that the
   user answers: the next turn after the expert's message(s) is a user turn. Its ``answer`` is
   that user reply (consecutive user messages joined).
2. Not items: pleasantries and social questions ("how are you?", "any questions?"), closers
   ("anything else?", "anything else you'd like to add?"), repairs ("could you repeat that?"),
   checks and acknowledgements ("is that right?", "okay?", "does that sound good?", advice or an
   announcement ending in ", okay?"), appointment and scheduling talk, very short tag questions
   (two words or fewer), dictation to a scribe (the sentences up to the last one that addresses
   "dax" or similar; questions to the patient after it still count), and expert actions matching
   ``action_pattern`` (``<med_search>``). These rules are measured against human labels with
   ``learn2ask calibrate --extractor qa --labels ...`` (precision/recall of kept items).
3. Several question sentences in one expert turn form ONE item (the expert asked them together;
   the user answered them together).
4. Unpunctuated speech: in a conversation whose expert turns hold no ``?`` at all (speech
   recognition output such as half of ACI-Bench's visits: "okay which knee was it"), a question
   is found by its interrogative opening instead (``cue_question``): an auxiliary before a
   subject ("did you", "is there"), a question word before a verb or quantity ("when did",
   "how long"), or "any" opening the turn. The item runs from that opening to the end of the
   turn, capitalised with a ``?`` appended, and rule 2 applies to it. Without this every point
   of such a conversation had an empty I* (labelled STOP while the expert went on asking).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from learn2ask.data.questions import DEFAULT_CUE_PATTERN, cue_opening
from learn2ask.data.sampling import samples_by_dialogue
from learn2ask.data.types import InfoItem, Sample, Turn
from learn2ask.targets.base import ExtractionFailure

DEFAULT_ACTION_PATTERN = r"^\s*<[A-Za-z_][\w-]*\s*/?>\s*$"
V1_NON_QUESTION_PATTERNS: tuple[str, ...] = (
    r"\bhow (are|r) (you|ya)( doing| feeling)?( today| this morning| now)?\s*\?",
    r"\bhow('s| is| has) (it|everything|your day) (going|been)\b",
    r"\bhow (have|are) you been\s*\?",
    r"\b(any|do you have any|have you got any) (other )?(questions|concerns)\b",
    r"\banything else (i can|you would|you'd|that i)\b",
    r"\b(does|did) (that|this) (sound|make sense|work)\b",
    r"\b(sound|sounds) (good|okay|ok|alright|like a plan)\s*\?",
    r"\b(is|would) (that|this) (okay|ok|alright|all right|fine)( with you)?\s*\?",
    r"\b(can|could) you hear me\b",
    r"\bnice to meet you\b",
    r"\bare you ready\b",
    r"\bshall we (start|begin|get started)\b",
    r"\b(what|how) about you\s*\?",
)
CLOSER_REPAIR_PATTERNS: tuple[str, ...] = (
    # closers: the expert winds down instead of asking for anything
    r"^\s*(is there )?anything else( going on| to add| at all)?\s*\?",
    r"\banything else (that )?you (need|needed|want|wanted|would like|'d like) to "
    r"(add|tell|ask|share|mention)\b",
    r"^\s*any other (issues|problems|concerns|questions)\s*\?",
    r"\b(any|do you have any|have you got any) (more |further )?(questions|concerns)\b",
    r"\b(any|is there anything) (else )?i can (do|help)\b",
    # repairs: the expert did not hear or understand
    r"\b(could|can|would) you (please )?(repeat|say) (that|it)( again)?\b",
    r"^\s*(sorry|pardon|excuse me|come again|what was that)\s*\?",
    r"\bwhat did you (just )?say\b",
    # checks: confirmations of what was said, advice or announcements ending in "okay?"
    r"^\s*(so,? )?(is that|is this|that's|that is) (right|correct)\s*\?",
    r"(^|[,.;])\s*(okay|ok|alright|all right)\s*\?\s*$",
    r"\bready to (get )?start",
    r"\bhow('re| are) you( doing)?(\s*,\s*[\w. ]+)?\s*\?",
    r"\bhow('s| is) (she|he|everything|it) (doing|going)( today)?\s*\?",
    # appointment and scheduling talk
    r"\b(appointments?|schedul\w*|reschedul\w*)\b",
    r"\bdo you have time\b",
    r"\bwhen can you come (back|in)\b",
)
DEFAULT_NON_QUESTION_PATTERNS: tuple[str, ...] = V1_NON_QUESTION_PATTERNS + CLOSER_REPAIR_PATTERNS
DEFAULT_DICTATION_PATTERN = r"\b(dax|scribe|dragon)\b"
# Questions under ``min_question_words`` words that still ask for information: "any" and a
# word, a question word and a word ("What happened?", "How much?"), or a bare "why", "how",
# "when", "where" ("But why?"). Not "What?" (a repair) nor "What else?" (a closer).
DEFAULT_SHORT_QUESTION_PATTERN = (
    r"^\s*(?:(?:and|but|so|or|then)\s*,?\s+)?(?:any\s+\w|since when\b"
    r"|(?:what|which|how)\s+(?!else\b)\w|(?:why|how|when|where)\s*[?]*\s*$)"
)
_SENTENCE_RE = re.compile(r"[^.!?]*[?]+|[^.!?]+[.!]*")


@dataclass(frozen=True)
class QAExtractorConfig:
    """Patterns the ``qa`` extractor uses; all are case-insensitive regular expressions."""

    action_pattern: str = DEFAULT_ACTION_PATTERN
    non_question_patterns: tuple[str, ...] = DEFAULT_NON_QUESTION_PATTERNS
    dictation_pattern: str = DEFAULT_DICTATION_PATTERN
    cue_pattern: str = DEFAULT_CUE_PATTERN  # rule 4: unpunctuated conversations only
    min_question_words: int = 3
    # a shorter question is kept when it matches this (rule 2); "" drops every shorter one
    short_question_pattern: str = DEFAULT_SHORT_QUESTION_PATTERN
    # "sentence": drop the sentences up to the last one addressing the scribe; "turn" (v1): the
    # whole expert turn.
    dictation_scope: Literal["sentence", "turn"] = "sentence"


V1_CONFIG = QAExtractorConfig(
    non_question_patterns=V1_NON_QUESTION_PATTERNS,
    dictation_scope="turn",
    cue_pattern="",
    short_question_pattern="",
)


@dataclass
class QAExtractor:
    """Offline, deterministic I* from the expert's later answered questions."""

    config: QAExtractorConfig = field(default_factory=QAExtractorConfig)
    name: str = "qa"

    def __post_init__(self) -> None:
        self._action = re.compile(self.config.action_pattern, re.IGNORECASE)
        self._social = re.compile("|".join(self.config.non_question_patterns), re.IGNORECASE)
        self._dictation = re.compile(self.config.dictation_pattern, re.IGNORECASE)
        self._short = re.compile(self.config.short_question_pattern or r"(?!)", re.IGNORECASE)
        self.questions_in = lru_cache(maxsize=65536)(self._questions_in)
        self.cue_question = lru_cache(maxsize=65536)(self._cue_question)

    def extract(
        self, points: list[tuple[list[Turn], list[Turn]]]
    ) -> list[list[InfoItem] | ExtractionFailure]:
        """I* for each ``(context, future)`` pair; never fails."""
        return [
            self.items_in_future(future, unpunctuated=is_unpunctuated([*context, *future]))
            for context, future in points
        ]

    def items_in_future(self, future: list[Turn], unpunctuated: bool = False) -> list[InfoItem]:
        """The answered information-seeking questions of ``future``, in order (found by their
        interrogative openings when the conversation is ``unpunctuated``: rule 4)."""
        find = self.cue_question if unpunctuated and self.config.cue_pattern else self.questions_in
        items = []
        i = 0
        while i < len(future):
            if future[i].role != "expert":
                i += 1
                continue
            start = i
            while i < len(future) and future[i].role == "expert":
                i += 1
            answer_end = i
            while answer_end < len(future) and future[answer_end].role == "user":
                answer_end += 1
            if answer_end == i:
                continue  # nobody answered: nothing was elicited
            answer = "\n".join(t.content for t in future[i:answer_end])
            for turn in future[start:i]:
                question = find(turn.content)
                if question:
                    items.append(InfoItem(text=question, question=question, answer=answer))
        return items

    def changes_from_v1(self, samples: list[Sample]) -> dict[str, int]:
        """How these rules change I* and s* against the v1 rules (pleasantries only), for
        ``stats.json``: s* flips each way, and I* items under each rule set."""
        v1 = QAExtractor(V1_CONFIG)
        flips = {"continue_to_stop": 0, "stop_to_continue": 0}
        items_v1 = items_now = 0
        for sample in samples:
            before, after = len(v1.items_in_future(sample.future)), len(sample.items)
            items_v1, items_now = items_v1 + before, items_now + after
            if before and not after:
                flips["continue_to_stop"] += 1
            elif after and not before:
                flips["stop_to_continue"] += 1
        return {**flips, "items_v1_rules": items_v1, "items_now": items_now}

    def unpunctuated_dialogues(self, samples: list[Sample]) -> int:
        """How many dialogues of ``samples`` rule 4 read as unpunctuated speech (0 when it is
        off), for ``stats.json``."""
        if not self.config.cue_pattern:
            return 0
        dialogues = samples_by_dialogue(samples).values()
        return sum(is_unpunctuated([*points[0].context, *points[0].future]) for points in dialogues)

    def is_action(self, text: str) -> bool:
        """True when an expert turn is an action such as ``<med_search>``, not speech."""
        return bool(self._action.match(text))

    def _questions_in(self, text: str) -> str | None:
        """The information-seeking question sentences of one expert turn, joined, or None."""
        if self.is_action(text):
            return None
        sentences = [s.strip() for s in _SENTENCE_RE.findall(text)]
        dictated = [i for i, s in enumerate(sentences) if self._dictation.search(s)]
        if dictated:
            if self.config.dictation_scope == "turn":
                return None
            sentences = sentences[dictated[-1] + 1 :]
        kept = []
        for sentence in sentences:
            if not sentence.endswith("?"):
                continue
            if self._too_short(sentence):
                continue
            if self._social.search(sentence):
                continue
            kept.append(sentence)
        return " ".join(kept) or None

    def _too_short(self, question: str) -> bool:
        """Rule 2's tag questions: under ``min_question_words`` words and not a short question
        that asks for something (``short_question_pattern``)."""
        short = len(question.split()) < self.config.min_question_words
        return short and self._short.match(question) is None

    def _cue_question(self, text: str) -> str | None:
        """Rule 4: the question of one unpunctuated expert turn, from its first interrogative
        opening to its end, capitalised with a ``?``; None when it has none or rule 2 drops it."""
        if not self.config.cue_pattern or self.is_action(text) or self._dictation.search(text):
            return None
        text = text.strip()
        start = cue_opening(text, self.config.cue_pattern)
        if start is None:
            return None
        clause = text[start:].strip()
        if self._too_short(clause):
            return None
        question = clause[0].upper() + clause[1:] + "?"
        return None if self._social.search(question) else question


def is_unpunctuated(turns: list[Turn]) -> bool:
    """True when no expert turn of a conversation holds a ``?`` (rule 4: speech recognition
    output), so its questions must be found by their openings."""
    return not any("?" in t.content for t in turns if t.role == "expert")
