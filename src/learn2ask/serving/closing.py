"""Does the user's message say they are done? ("No, that's all.", "Nothing else, thanks.")

The policy learned when to stop from logs whose conversations end when the *expert* has no
more to ask; typed intakes also end when the *user* says so. The demo's policy raises P(stop)
on such a message (0.74 and 0.83 on "No, that's all. Nothing else." and "That's everything,
thank you." in a probe) but not always past its live cut, and asked again after "No, I'm
done." So the assistant hands over when a message says nothing but that it is done: every
clause of it is one of the domain's ``finish_phrases`` or a filler ("no", "thanks"), and one
at least is a finish phrase. A message that carries anything else ("No fever, that's all") is
left to the policy: the user is still answering.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_CLAUSE = re.compile(r"[.,;:!?\n]+")
_SPACE = re.compile(r"\s+")
# Clauses that say nothing by themselves around a finish phrase.
FILLERS = frozenset(
    {"no", "nope", "nah", "ok", "okay", "yes", "yeah", "yep", "sure", "so", "well", "um", "uh"}
    | {"thanks", "thank you", "thank you very much", "thanks a lot", "no thanks", "no thank you"}
)


def normal(text: str) -> str:
    """``text`` lowercased, typographic apostrophes made plain, runs of spaces one space."""
    return _SPACE.sub(" ", text.lower().replace("\u2019", "'")).strip()


def clauses(message: str) -> list[str]:
    """``message`` split at punctuation and line breaks into its non-empty clauses, each
    :func:`normal`."""
    return [normal(c) for c in _CLAUSE.split(message) if c.strip()]


def says_done(message: str, finish_phrases: Iterable[str]) -> bool:
    """True when ``message`` says nothing but that the user is done (module docstring)."""
    phrases = {normal(p) for p in finish_phrases}
    parts = clauses(message)
    return (
        bool(phrases)
        and any(p in phrases for p in parts)
        and all(p in phrases or p in FILLERS for p in parts)
    )
