"""Red flags: data-driven urgent patterns checked on every user message before the policy.

Matching is deliberately simple and auditable: text is lower-cased, apostrophes dropped
("can't" -> "cant") and punctuation turned into clause breaks; a phrase matches on word
boundaries. A phrase is *negated* when a negation cue ("no", "denies", "without", ...) ends at
most ``negation_window`` words before it in the same clause, with no scope-ending word ("and",
"now", ...) in between: "no chest pain or shortness of breath" negates both, "no energy and
chest pain" negates neither. A rule fires when each of its groups has an un-negated match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from learn2ask.serving.config import RedFlagRule, RedFlagSet

_CLAUSE_BREAK = re.compile(r"[.!?;:,()\n]+|\bbut\b|\bhowever\b|\balthough\b")
_NON_WORD = re.compile(r"[^a-z0-9]+")
# A negation's scope ends at these words: "no energy and chest pain" keeps the chest pain.
_SCOPE_END = frozenset({"and", "yet", "now", "except", "which", "then", "so", "still"})


@dataclass(frozen=True)
class RedFlagHit:
    """A fired rule: its id, the reason shown to staff, and the phrases that matched."""

    rule_id: str
    reason: str
    phrases: tuple[str, ...]
    version: str


def normalise(text: str) -> str:
    """Lower-case, drop apostrophes, keep clause breaks as ``|``, single spaces."""
    text = text.lower().replace("\u2019", "'").replace("'", "")
    text = _CLAUSE_BREAK.sub(" | ", text)
    words = [_NON_WORD.sub(" ", part).split() for part in text.split("|")]
    return " | ".join(" ".join(w) for w in words if w)


def phrase_tokens(phrase: str) -> tuple[str, ...]:
    """The words of ``phrase`` as :func:`normalise` reads a message's."""
    return tuple(normalise(phrase).replace("|", " ").split())


class RedFlagMatcher:
    """Compiled form of a :class:`RedFlagSet`."""

    def __init__(self, rules: RedFlagSet) -> None:
        self.version = rules.version
        self.window = rules.negation_window
        self.negations = [phrase_tokens(n) for n in rules.negations if phrase_tokens(n)]
        self.rules: list[tuple[RedFlagRule, list[list[tuple[str, ...]]]]] = [
            (rule, [[phrase_tokens(p) for p in group if phrase_tokens(p)] for group in rule.all_of])
            for rule in rules.rules
        ]

    def check(self, text: str) -> RedFlagHit | None:
        """The first rule that fires on ``text``, or None."""
        clauses = [c.split() for c in normalise(text).split("|")]
        for rule, groups in self.rules:
            matched = [self._group_match(group, clauses) for group in groups]
            if all(m is not None for m in matched):
                phrases = tuple(" ".join(m) for m in matched if m is not None)
                return RedFlagHit(rule.id, rule.reason, phrases, self.version)
        return None

    def _group_match(
        self, group: list[tuple[str, ...]], clauses: list[list[str]]
    ) -> tuple[str, ...] | None:
        for phrase in group:
            for words in clauses:
                for start in _occurrences(words, phrase):
                    if not self._negated(words, start):
                        return phrase
        return None

    def _negated(self, words: list[str], start: int) -> bool:
        before = words[max(0, start - self.window - 3) : start]
        for cue in self.negations:
            for at in _occurrences(before, cue):
                # the cue must end within the window of words before the phrase
                between = before[at + len(cue) :]
                if len(between) <= self.window and not _SCOPE_END.intersection(between):
                    return True
        return False


def _occurrences(words: list[str], phrase: tuple[str, ...]) -> list[int]:
    n = len(phrase)
    return [i for i in range(len(words) - n + 1) if tuple(words[i : i + n]) == phrase]
