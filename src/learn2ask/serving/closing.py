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

from collections.abc import Iterable
from functools import lru_cache

from learn2ask.serving.redflags import normalise, phrase_tokens

# Clauses that say nothing by themselves around a finish phrase (as :func:`normalise` reads
# them: lower case, no apostrophes).
FILLERS = frozenset(
    {"no", "nope", "nah", "ok", "okay", "yes", "yeah", "yep", "sure", "so", "well", "um", "uh"}
    | {"thanks", "thank you", "thank you very much", "thanks a lot", "no thanks", "no thank you"}
)


def says_done(message: str, finish_phrases: Iterable[str]) -> bool:
    """True when ``message`` says nothing but that the user is done (module docstring). The
    message is read as red flags read it (:func:`~.redflags.normalise`: its clauses split at
    punctuation, line breaks and "but")."""
    phrases = _phrase_set(tuple(finish_phrases))
    parts = [c.strip() for c in normalise(message).split("|") if c.strip()]
    return (
        bool(phrases)
        and any(p in phrases for p in parts)
        and all(p in phrases or p in FILLERS for p in parts)
    )


@lru_cache(maxsize=8)  # one domain's phrases, read for every message
def _phrase_set(phrases: tuple[str, ...]) -> frozenset[str]:
    return frozenset(" ".join(phrase_tokens(p)) for p in phrases)
