"""Question memory: ask what experts went on to elicit in the most similar logged conversations.

The decision rule says *when* to ask; this says *what*. For a context it finds the ``neighbours``
training decision points whose last four turns are most similar (all-MiniLM-L6-v2, cosine), takes
every question those experts still went on to ask (their I*) as a candidate, and scores each
candidate by the hindsight reward it would have earned there: the sum over neighbours of R_a
(the embedding grader's {0, 0.5, 1}) against that neighbour's I*. The best-scoring candidate is
asked. It is the Learn-to-Ask reward, estimated from the observed futures of similar contexts
instead of the one future the policy cannot see.

A candidate the conversation has already asked is skipped: one whose grade against an expert
turn of the context is 1 (the grader's "the same item"). In a live conversation the context
holds the assistant's own questions, and a new answer moves the nearest contexts little, so
without this the memory asked the same question again: a third of the questions in replays of
60 validation dialogues repeated an earlier one, none with the skip. On validation points,
whose contexts hold the logged experts' questions, it changes 8-10% of the choices and mean
R_a by -0.003 to -0.005 (docs/results.md, "Not asking the same question twice").
Where every candidate was asked already, the policy generates.

Nor does it ask a yes/no question about what the user has already said: "Do you have any
shortness of breath?" after "No, no shortness of breath." (:func:`~.question_fit.already_said`:
at least three quarters of the question's content words, crudely stemmed, are in the user's
turns). Only
yes/no questions: "Where is the chest pain?" after "I have chest pain." is the follow-up a
complaint calls for, and the embedding grader could not tell the two apart (docs/results.md,
"Not asking what the user already said"). On four validation sets it changes 5-12% of the
choices and mean R_a by -0.012 to +0.002, mostly by not asking a generic "Do you have any
pain?" after the user has described the pain, which the offline grade still credits. A
question that lists alternatives, only some of which the user named, is asked without them:
"Any vomiting?" after "No nausea." where "Any nausea or vomiting?" won the vote
(:func:`~.question_fit.without_said`; on three validation splits and the demo run's carve it
changes 13-29 choices and mean R_a by -0.003 to +0.001, docs/results.md, "Asking what is
left of a list").

Nor does it take for granted what this conversation has not named: "Do you need a refill of the
lisinopril?" to a user who named no medicine, "Any chest pain with your shortness of breath?" to
one with a sore throat. At build time each question's back-references are kept: the nouns of
its definite phrases ("the lisinopril", "your asthma", "this pain") that its own logged
conversation had named before the expert asked it
(:func:`~.question_fit.logged_back_references`; "your knee" and "your father" are not, by the
domain's ``shared_referents``); a candidate is skipped here when one of them is not among this
conversation's words. On ``tune_memory``'s three validation splits it changes 14-22 of 600
choices and mean R_a by 0.000 to +0.002 (docs/results.md, "Questions that refer back").
These checks read the domain's ``synonyms`` as one word: after "my knee hurts" "the pain" is
named, after "cramps in my lower belly" "Any belly pain?" is answered.

Nor does it ask a question that points at what was said just before it without naming it ("Do
you need a refill of that?", "Do you have any pain there?"; :func:`~.question_fit.points_back`)
unless one of the neighbours' experts asked it right after their own context: there its "that"
pointed at turns like this conversation's last ones; asked later in a neighbour's conversation
it pointed at something said since, which this conversation may never have said. Together with
the synonyms, on three validation splits and the demo run's carve it changes 40-77 choices and
mean R_a by -0.011 to +0.003 (docs/results.md, "Synonyms and questions that point back"): the
offline grade credits "Do you need a refill of that?" after "okay." wherever the logged future
held a refill.

Nor does it ask what the domain file calls ``unaskable`` (saved in the settings, so every
consumer of the run skips the same): the medical domain's patterns are a physical
examination's prompts, "Does it hurt when I press here?", "Can you bend your knee for me?". The
logs hold such prompts among the questions; an assistant that talks to people in writing cannot
press anywhere. On ``tune_memory``'s three validation splits the memory chose one at 4-5 of 600
points, and dropping them moved mean R_a by 0.000, 0.000 and -0.001 (docs/results.md,
"Examination prompts"). A helpdesk's "Can you press the power button for me?" is askable: the
support domain has no such patterns.

Questions are shown as a person should read them (:func:`tidy_question`: no transcript fillers,
cut-off or repeated words), and among wordings of the same question that tie on the vote the
one the trained model finds most fluent is asked (scored once at training time,
:meth:`QuestionMemory.score_fluency`; the constants below say how and where it was chosen).

With ``source: memory+generated`` the policy's own generated question is one more candidate
(a larger policy's context-specific question wins whenever its estimated R_a is at least the
best logged one). ``memory`` skips generation. Where no neighbour has a one-question candidate
the policy generates as before.

The memory holds verbatim expert questions from the training logs: build it only from logs
whose questions may be shown to users (``decision.question_memory: false`` turns it off).
Saved beside the model as ``question_memory.safetensors`` (vectors) and
``question_memory.json`` (texts); ``learn2ask_policy.json`` names it under ``questions`` with
the files' digest, so evaluation fingerprints change when the memory does.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from learn2ask.data.questions import count_questions, question_key, unaskable_regex
from learn2ask.data.types import Sample, Turn
from learn2ask.errors import ConfigError
from learn2ask.models.policy import read_policy_section, write_policy_section
from learn2ask.models.question_fit import (
    already_said,
    covered,
    logged_back_references,
    mentioned,
    next_questions,
    points_back,
    said_by_user,
    shared_stems,
    synonym_stems,
    unnamed,
    without_said,
    yes_no_topics,
)

VECTORS_FILE = "question_memory.safetensors"
TEXTS_FILE = "question_memory.json"
SOURCES: tuple[str, ...] = ("memory", "memory+generated")
# Chosen on 20% of the demo training dialogues held out (benchmarks/tune_memory.py,
# docs/results.md): the last four turns as the similarity key and 50 neighbours asked the
# most questions with R_a = 1 (0.178 of 600 CONTINUE points; the last two turns 0.162, the
# last one 0.133).
DEFAULT_NEIGHBOURS = 50
DEFAULT_CONTEXT_TURNS = 4
KEY_CHARS = 1000
# Logged experts word one question many ways, some of them broken by speech ("Do you
# experiencing any pain?"), and the vote often ties them. Among the candidates within 5% of the
# best vote that say the same (cosine >= 0.8 to it), the one the policy's language model finds
# most fluent is asked. Chosen on the demo run's validation carve (docs/results.md, "Asking the
# best-worded of equal questions"): mean R_a 0.325 -> 0.329 on 842 CONTINUE points.
NEAR_TIE_SHARE = 0.05
PARAPHRASE_COSINE = 0.8
_SIMILARITY_ROWS = 2048
LIKELIHOOD_MEMO_LIMIT = 256
Scorer = Callable[[Sequence[Turn], list[str]], list[float]]


@dataclass(frozen=True)
class QuestionMemorySettings:
    """How the memory chooses (saved under ``questions`` in ``learn2ask_policy.json``)."""

    source: str = "memory"
    neighbours: int = DEFAULT_NEIGHBOURS
    context_turns: int = DEFAULT_CONTEXT_TURNS
    max_question_chars: int = 160
    digest: str = ""
    built_from: dict[str, Any] = field(default_factory=dict)
    unaskable: tuple[str, ...] = ()  # the domain's patterns (learn2ask.domain.Domain)
    shared_referents: tuple[str, ...] = ()  # the domain's (question_fit.definite_mentions)
    synonyms: tuple[tuple[str, ...], ...] = ()  # the domain's (question_fit.synonym_stems)
    # How much the user's first message weighs in the similarity key (0: the last turns
    # alone). Typed intakes: 0.5 keeps more questions on the complaint (docs/results.md,
    # "Staying on the complaint"); the logs' section snippets lose R_a by it, so 0 by default.
    anchor_weight: float = 0.0
    # How much the policy's own likelihood of a question, given the conversation, weighs
    # against the vote among the ``likelihood_top`` best-voted candidates (0: the vote alone;
    # needs the policy's scorer: QuestionMemory.likelihood). Typed intakes: 0.5 among 5 keeps more
    # questions on the point (docs/results.md, "The policy's likelihood among the best-voted").
    likelihood_weight: float = 0.0
    likelihood_top: int = 5

    def __post_init__(self) -> None:
        for name in ("unaskable", "shared_referents"):  # JSON lists when loaded
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "synonyms", tuple(tuple(g) for g in self.synonyms))
        if self.source not in SOURCES:
            raise ConfigError(f"questions.source must be one of {', '.join(SOURCES)}")
        if self.neighbours < 1 or self.context_turns < 1:
            raise ConfigError("questions.neighbours and questions.context_turns must be >= 1")
        if self.anchor_weight < 0:
            raise ConfigError("questions.anchor_weight must be >= 0")
        if self.likelihood_weight < 0 or self.likelihood_top < 1:
            raise ConfigError(
                "questions.likelihood_weight must be >= 0 and questions.likelihood_top >= 1"
            )


def domain_checks(domain: Any) -> dict[str, tuple[str, ...]]:
    """The settings a domain file gives the memory (``learn2ask.domain.Domain``): what it never
    asks (``unaskable``), what a question may take for granted (``shared_referents``) and
    which words name the same thing (``synonyms``)."""
    return {
        "unaskable": tuple(domain.unaskable),
        "shared_referents": tuple(domain.shared_referents),
        "synonyms": tuple(tuple(group) for group in domain.synonyms),
    }


def context_key(context: Sequence[Turn], turns: int) -> str:
    """The text a context is matched by: its last ``turns`` turns, at most 1,000 characters."""
    return " ".join(t.content for t in context[-turns:])[-KEY_CHARS:]


def anchor_text(context: Sequence[Turn], turns: int) -> str:
    """What a context is anchored on: the user's first message in it (what they came with),
    or its :func:`context_key` before they wrote."""
    first = next((t.content for t in context if t.role == "user" and t.content.strip()), None)
    return first if first is not None else context_key(context, turns)


def asked_turns(context: Sequence[Turn]) -> list[str]:
    """The context's expert turns: what has been asked so far."""
    return [t.content for t in context if t.role == "expert" and t.content.strip()]


def is_askable(text: str, max_chars: int, unaskable: re.Pattern[str] | None = None) -> bool:
    """A logged expert turn can be asked elsewhere when it is exactly one short question that
    ``unaskable`` (the domain's patterns, :func:`~learn2ask.data.questions.unaskable_regex`)
    does not find."""
    one_short_question = count_questions(text) == 1 and len(text) <= max_chars
    return one_short_question and text.rstrip().endswith("?") and not found_by(unaskable, text)


def found_by(pattern: re.Pattern[str] | None, text: str) -> bool:
    """True when ``pattern`` (None: no pattern) finds ``text``."""
    return pattern is not None and pattern.search(text) is not None


_SPACE_BEFORE_PUNCT = re.compile(r"\s+([?,.!;:'])")
# Fillers, and acknowledgements of an answer the person has not given ("Good, are you having
# any chest pain?"); an acknowledgement only before a comma ("I see you have asthma" stays).
_LEADING_FILLERS = re.compile(
    r"^(?:(?:um+|uh+|uhm+|okay|ok|alright|and|so|now|well)\b[\s,]*"
    r"|(?:i see|good|great|perfect|thank you|thanks|excellent|right|all right|got it|wonderful"
    r"|sure|that's (?:good|great|wonderful))\s*,\s*)+",
    re.I,
)
# Speech transcripts (ACI-Bench) write what a person hears: tokenised contractions ("do n't",
# "gon na"), fillers inside the sentence, words cut off and said again ("wh- what", "the- the"),
# repeated words ("are you are you"), a lower-case "i".
_SPLIT_CONTRACTION = re.compile(r"(\w) (n't|'s|'re|'ve|'ll|'d|'m)\b", re.I)
_SPLIT_GONNA = re.compile(r"\b(gon|wan|got) (na|ta)\b", re.I)
_MID_FILLERS = re.compile(r"(?:,\s*)?\b(?:um+|uh+|uhm+)\b(?:\s*,)?", re.I)
_CUT_OFF = re.compile(r"\b(\w+)-\s+(?=(\w+))")
_REPEATED = re.compile(r"\b((?:\w+ ){0,2}\w+)(?: \1\b)+(?!')", re.I)  # said twice or more
_DOUBLED_IN_GRAMMAR = frozenset({"that", "had"})  # "like that that helps", "had had"
_LOWER_I = re.compile(r"\bi\b(?=[\s'])")


def _drop_cut_off(match: re.Match) -> str:
    """A word broken off with a hyphen is dropped when the next word restarts it or it is a
    fragment of one or two letters; otherwise (a hyphenated word split by a space) kept."""
    fragment, following = match.group(1), match.group(2)
    restarted = following.lower().startswith(fragment.lower())
    return "" if restarted or len(fragment) <= 2 else match.group(0)


def _drop_repeat(match: re.Match) -> str:
    """A word or phrase said twice in a row is kept once; a single capital letter (``A A
    meetings``) and words grammar doubles are not repetitions."""
    unit = match.group(1)
    kept = (len(unit) == 1 and unit.isupper()) or unit.lower() in _DOUBLED_IN_GRAMMAR
    return match.group(0) if kept else unit


def tidy_question(text: str) -> str:
    """A logged question as it should be shown: transcript spacing (``pain ?``), leading and
    inner fillers (``um , and``), tokenised contractions (``do n't``), cut-off and repeated
    words (``wh- what``, ``are you are you``) removed, ``i`` and the first letter capitalised."""
    tidy = _SPACE_BEFORE_PUNCT.sub(r"\1", text.strip())
    tidy = _SPLIT_GONNA.sub(r"\1\2", _SPLIT_CONTRACTION.sub(r"\1\2", tidy))
    tidy = _CUT_OFF.sub(_drop_cut_off, _MID_FILLERS.sub(" ", tidy))
    tidy = _LOWER_I.sub("I", _REPEATED.sub(_drop_repeat, tidy))
    tidy = _LEADING_FILLERS.sub("", " ".join(tidy.split()))
    tidy = _SPACE_BEFORE_PUNCT.sub(r"\1", tidy).strip()
    tidy = tidy if any(c.isalpha() for c in tidy) else text.strip()
    return tidy[0].upper() + tidy[1:]


class QuestionMemory:
    """Context keys of training CONTINUE points, their I* items, and the choice among them."""

    def __init__(
        self,
        settings: QuestionMemorySettings,
        keys: Any,
        item_vectors: Any,
        items: list[str],
        point_items: list[list[int]],
        grader: Any,
        fluency: list[float | None] | None = None,
        references: dict[int, frozenset[str]] | None = None,
        pointing: dict[int, frozenset[int]] | None = None,
        anchors: Any = None,
    ) -> None:
        self.settings = settings
        self.keys = keys
        # per training point, the embedding of its anchor_text (None: a memory saved before
        # they were kept, or built without keys)
        self.anchors = anchors
        self._search_keys: tuple[float, Any] | None = None
        self.item_vectors = item_vectors
        self.items = items
        self.point_items = point_items
        self.grader = grader
        self.unaskable = unaskable_regex(settings.unaskable)
        self.synonyms = synonym_stems(settings.synonyms)
        self.askable = [is_askable(t, settings.max_question_chars, self.unaskable) for t in items]
        self.fluency = fluency  # per item, where it has a paraphrase (score_fluency)
        # per item that refers back to its logged conversation (question_fit.back_references);
        # None for a memory saved before they were kept
        self.references = references
        # per item that points back without naming (question_fit.points_back), the
        # training points whose very next question it was; None for a memory saved before
        self.pointing = pointing
        self._shown: dict[int, str] = {}
        self._topics: dict[int, frozenset[str]] = {}
        # question_key of each question an operator blocked (the assistant sets it: block())
        self.blocked: frozenset[str] = frozenset()
        self._likelihood: Scorer | None = None
        self._likelihoods: dict[tuple[Any, ...], list[float]] = {}  # explain() after choose()

    @property
    def likelihood(self) -> Scorer | None:
        """(context, questions) -> log P(each question as the policy's whole reply): set by a
        deciding policy, local or at an endpoint (models/decision.py); None: the
        likelihood_weight is not applied."""
        return self._likelihood

    @likelihood.setter
    def likelihood(self, scorer: Scorer | None) -> None:
        self._likelihood = scorer
        self._likelihoods = {}  # what another scorer said no longer holds

    def block(self, questions: Sequence[str]) -> None:
        """Never ask these (an operator's block list, as they saw the questions asked): a
        candidate is skipped when it is shown, or asked without what the user named, in one of
        these wordings (:func:`~learn2ask.data.questions.question_key`)."""
        self.blocked = frozenset(question_key(q) for q in questions)

    @classmethod
    def build(
        cls,
        samples: Sequence[Sample],
        settings: QuestionMemorySettings | None = None,
        grader: Any = None,
        with_keys: bool = True,
    ) -> QuestionMemory:
        """A memory of every CONTINUE point of ``samples`` that has I* items; without context
        keys (``with_keys=False``, cheaper) it answers only :meth:`best_overall`."""
        settings = settings or QuestionMemorySettings()
        grader = grader or default_grader()
        points = [s for s in samples if s.decision == "continue" and s.info_set]
        if not points:
            raise ConfigError("a question memory needs CONTINUE points with I* items")
        items = sorted({text for s in points for text in s.info_set})
        index = {text: i for i, text in enumerate(items)}
        keys, references, pointing, anchors = None, None, None, None
        if with_keys:  # these serve choices in context; best_overall has none
            keys = grader.embed([context_key(s.context, settings.context_turns) for s in points])
            anchors = grader.embed([anchor_text(s.context, settings.context_turns) for s in points])
            shared = shared_stems(settings.shared_referents)
            references = item_references(points, index, shared, synonym_stems(settings.synonyms))
            pointing = item_pointing(points, items)
        built = {
            "points": len(points),
            "dialogues": len({s.dialogue_id for s in points}),
            "items": len(items),
            "grader": grader.version,
        }
        return cls(
            replace(settings, built_from=built),
            None if keys is None else keys.float().cpu(),
            grader.embed(items).float().cpu(),
            items,
            [[index[t] for t in s.info_set] for s in points],
            grader,
            references=references,
            pointing=pointing,
            anchors=None if anchors is None else anchors.float().cpu(),
        )

    def paraphrased(self) -> list[int]:
        """The askable items that another askable item says the same as (cosine >=
        ``PARAPHRASE_COSINE``): the only ones a fluency score can decide between."""
        askable = [i for i, ok in enumerate(self.askable) if ok]
        vectors = self.item_vectors[askable]
        rivals: list[bool] = []
        for start in range(0, len(askable), _SIMILARITY_ROWS):  # bounded memory for big logs
            block = vectors[start : start + _SIMILARITY_ROWS] @ vectors.T
            rivals += ((block >= PARAPHRASE_COSINE).sum(dim=1) > 1).tolist()
        return [i for i, has in zip(askable, rivals, strict=True) if has]

    def score_fluency(self, scorer: Any) -> int:
        """Score every :meth:`paraphrased` item as it would be shown (``scorer``: texts ->
        mean token log-probabilities, e.g. ``LocalGenerator.mean_token_logprobs``); returns
        how many were scored."""
        indices = self.paraphrased()
        scores = scorer([tidy_question(self.items[i]) for i in indices]) if indices else []
        self.fluency = [None] * len(self.items)
        for index, score in zip(indices, scores, strict=True):
            self.fluency[index] = round(float(score), 4)
        return len(indices)

    def choose(
        self, contexts: Sequence[Sequence[Turn]], generated: Sequence[str | None] | None = None
    ) -> list[str | None]:
        """The question to ask in each context (None where no candidate is askable)."""
        import torch

        if not contexts:
            return []
        nearest = self.nearest(contexts)
        extra = list(generated) if generated is not None else [None] * len(contexts)
        extra_vectors = self.grader.embed([g for g in extra if g]) if any(extra) else None
        asked = [asked_turns(c) for c in contexts]
        self.grader.embed([t for turns in asked for t in turns])  # one batch; then cached
        chosen: list[str | None] = []
        position = 0
        for context, turns, neighbours, own in zip(contexts, asked, nearest, extra, strict=True):
            own_vector = None
            if own:
                own_vector = extra_vectors[position].float()
                position += 1
            asked_vectors, said, named = self._read(context, turns)
            if own and (
                already_said(own, said, self.synonyms)
                or found_by(self.unaskable, own)
                or question_key(own) in self.blocked
            ):
                own, own_vector = None, None
            best = self._best(
                neighbours, own, own_vector, torch, asked_vectors, said, named, context
            )
            chosen.append(without_said(best, said, self.synonyms) if best else best)
        return chosen

    def _read(
        self, context: Sequence[Turn], turns: list[str]
    ) -> tuple[Any, frozenset[str], frozenset[str]]:
        """What the checks read off a context: the vectors of its expert ``turns`` (None when
        it has none), what the user said and what either side named (content stems)."""
        asked_vectors = self.grader.embed(turns).float() if turns else None
        said = said_by_user(context, self.synonyms)
        return asked_vectors, said, mentioned(context, self.synonyms)

    def explain(self, context: Sequence[Turn], top: int = 10) -> list[dict[str, Any]]:
        """The ``top`` candidates for ``context`` by vote, each with the check that drops it
        (``skipped``; "" for the kept) and what became of it (``asked``: True for the question
        asked, "narrowed" for one asked without the alternatives the user already named
        (:func:`~.question_fit.without_said`), "reworded" for the winning vote asked in a more
        fluent wording): what a domain's ``synonyms`` and ``shared_referents`` change, seen
        one context at a time."""
        import torch

        neighbours = self.nearest([context])[0]
        candidates = self.candidates(neighbours)
        if not candidates:
            return []
        asked, said, named = self._read(context, asked_turns(context))
        dropped = self.skipped(candidates, neighbours, asked, said, named)
        votes = self.grades_against(self.item_vectors[candidates], neighbours).sum(dim=1)
        chosen = self._best(neighbours, None, None, torch, asked, said, named, context)
        kept = [k for k, c in enumerate(candidates) if c not in dropped]
        winner = None
        if kept:  # the choice _best made, before rewording: scored once (remembered)
            ids = [candidates[k] for k in kept]
            winner = ids[self._reranked(ids, votes[kept], None, said, context)]
        ranked = sorted(zip(candidates, votes.tolist(), strict=True), key=lambda cv: -cv[1])
        asked_as = (
            "narrowed" if chosen and without_said(chosen, said, self.synonyms) != chosen else True
        )
        return [
            {
                "question": self.shown(c),
                "vote": round(vote, 2),
                "skipped": dropped.get(c, ""),
                "asked": asked_as if self.shown(c) == chosen else c == winner and "reworded",
            }
            for c, vote in ranked[:top]
        ]

    def skipped(
        self,
        candidates: Sequence[int],
        neighbours: Sequence[int],
        asked: Any = None,
        said: frozenset[str] = frozenset(),
        named: frozenset[str] | None = None,
    ) -> dict[int, str]:
        """Why each of ``candidates`` that a check drops is dropped, by the first check it
        fails: an operator blocked it (:meth:`block`), the user already ``said`` it
        (:func:`already_said`), it refers back to what
        this conversation has not ``named`` (:func:`~.question_fit.unnamed`), it points
        back where no neighbour asked it next (:meth:`points_here`), or the conversation has
        ``asked`` it already (:meth:`not_asked`)."""
        reasons: dict[int, str] = {}
        for c in candidates:
            if self.blocked and self._is_blocked(c, said):
                reasons[c] = "blocked by an operator"
            elif said and covered(self.topics(c), said):
                reasons[c] = "the user already said it"
            elif named is not None and self.references and c in self.references:
                missing = unnamed(self.references[c], named)
                if missing:
                    reasons[c] = f"refers back to {', '.join(missing)}, not named here"
            if c not in reasons and named is not None and not self.points_here(c, neighbours):
                reasons[c] = "points back, and no neighbour asked it next"
        rest = [c for c in candidates if c not in reasons]
        if rest and asked is not None:
            fresh = self.not_asked(self.item_vectors[rest], asked)
            again = [c for c, new in zip(rest, fresh, strict=True) if not new]
            reasons.update((c, "asked already") for c in again)
        return reasons

    def _is_blocked(self, item: int, said: frozenset[str]) -> bool:
        """Whether ``item`` would be asked in a wording an operator blocked: as it is shown,
        or without the alternatives the user ``said`` (:func:`~.question_fit.without_said`)."""
        shown = self.shown(item)
        if question_key(shown) in self.blocked:
            return True
        return bool(said) and question_key(without_said(shown, said, self.synonyms)) in self.blocked

    def not_asked(self, vectors: Any, asked: Any) -> list[bool]:
        """Whether each question vector asks something not yet asked: its grade against every
        vector of ``asked`` (the context's expert turns; None: nothing asked) is below 1, the
        grader's "the same item" (module docstring)."""
        if asked is None:
            return [True] * len(vectors)
        return (self.grader.scores(vectors @ asked.T).max(dim=1).values < 1.0).tolist()

    def nearest(self, contexts: Sequence[Sequence[Turn]]) -> list[list[int]]:
        """For each context, the ``neighbours`` training points whose keys are most similar."""
        if self.keys is None:
            raise ConfigError("this question memory was built without context keys")
        turns = self.settings.context_turns
        queries = self.grader.embed([context_key(c, turns) for c in contexts]).float()
        weight = self.settings.anchor_weight
        if weight:
            anchors = self.grader.embed([anchor_text(c, turns) for c in contexts]).float()
            queries = _unit(queries + weight * anchors)
        k = min(self.settings.neighbours, len(self.point_items))
        return (queries @ self.search_keys().T).topk(k, dim=1).indices.tolist()

    def search_keys(self) -> Any:
        """The training points' keys as :meth:`nearest` compares them: each anchored on its
        user's first message by ``anchor_weight`` (computed once per weight)."""
        weight = self.settings.anchor_weight
        if not weight:
            return self.keys
        if self.anchors is None:
            raise ConfigError(
                "questions.anchor_weight needs a question memory built with anchors "
                "(this one was saved before they were kept): train the run again"
            )
        if self._search_keys is None or self._search_keys[0] != weight:
            self._search_keys = (weight, _unit(self.keys + weight * self.anchors))
        return self._search_keys[1]

    def candidates(self, neighbours: Sequence[int]) -> list[int]:
        """The askable I* items of these training points (indices into ``items``), sorted."""
        return sorted({i for n in neighbours for i in self.point_items[n] if self.askable[i]})

    def grades_against(self, vectors: Any, points: Sequence[int]) -> Any:
        """R_a of each question vector against each training point's I* (the best of its
        items), a ``len(vectors) x len(points)`` tensor."""
        import torch

        segments = torch.tensor([j for j, n in enumerate(points) for _ in self.point_items[n]])
        targets = self.item_vectors[[i for n in points for i in self.point_items[n]]]
        grades = self.grader.scores(vectors @ targets.T)  # questions x the points' items
        per_point = torch.zeros(vectors.shape[0], len(points), dtype=grades.dtype)
        index = segments.unsqueeze(0).expand_as(grades)
        return per_point.scatter_reduce(1, index, grades, reduce="amax")

    def best_overall(self) -> str | None:
        """The one question with the highest summed R_a against every point's I*."""
        import torch

        return self._best(list(range(len(self.point_items))), None, None, torch)

    def _best(
        self,
        neighbours: list[int],
        own: str | None,
        own_vector: Any,
        torch: Any,
        asked: Any = None,
        said: frozenset[str] = frozenset(),
        named: frozenset[str] | None = None,
        context: Sequence[Turn] | None = None,
    ) -> Any:
        """The candidate with the highest summed R_a against the neighbours' I*, among those
        no check drops (:meth:`skipped`: ``asked`` holds the expert turns' vectors, ``said``
        and ``named`` the content stems of what the user said and what either side named),
        re-ranked with the policy's likelihood in ``context`` (:meth:`_reranked`)."""
        ids, vectors, votes, own = self._kept(
            neighbours, own, own_vector, torch, asked, said, named
        )
        if not ids:
            return None
        best = self._reranked(ids, votes, own, said, context)
        chosen = ids[best]
        if chosen is None:
            return own
        return self.shown(self._best_worded(chosen, votes, vectors, ids))

    def _kept(
        self,
        neighbours: list[int],
        own: str | None,
        own_vector: Any,
        torch: Any,
        asked: Any,
        said: frozenset[str],
        named: frozenset[str] | None,
    ) -> tuple[list[int | None], Any, Any, str | None]:
        """The candidates no check drops (None for ``own``, the generated question, first: it
        wins ties with logged ones), their vectors and votes (summed R_a against the
        neighbours' I*; None when none is kept), and ``own`` (None when it was asked)."""
        candidates = self.candidates(neighbours)
        dropped = self.skipped(candidates, neighbours, asked, said, named)
        candidates = [c for c in candidates if c not in dropped]
        if own_vector is not None and not self.not_asked(own_vector.unsqueeze(0), asked)[0]:
            own, own_vector = None, None
        ids: list[int | None] = list(candidates)
        vectors = self.item_vectors[candidates] if candidates else None
        if own is not None and own_vector is not None:
            ids = [None, *ids]
            own_row = own_vector.unsqueeze(0)
            vectors = own_row if vectors is None else torch.cat([own_row, vectors])
        votes = self.grades_against(vectors, neighbours).sum(dim=1) if ids else None
        return ids, vectors, votes, own

    def rerank_texts(self, contexts: Sequence[Sequence[Turn]]) -> list[list[str]]:
        """For each context, the questions the likelihood re-rank will score when the memory
        chooses from itself alone (``[]`` where it will not: no weight, fewer than two kept):
        a policy that scores them in the same pass as its P(stop) hands the scores back with
        :meth:`remember_likelihoods`, and choosing then costs no pass of its own."""
        import torch

        if not self.settings.likelihood_weight or self.settings.source != "memory":
            return [[] for _ in contexts]
        texts = []
        for context, neighbours in zip(contexts, self.nearest(contexts), strict=True):
            asked, said, named = self._read(context, asked_turns(context))
            ids, _, votes, _ = self._kept(neighbours, None, None, torch, asked, said, named)
            texts.append(self._rerank_texts(ids, votes, None, said)[1] if len(ids) > 1 else [])
        return texts

    def remember_likelihoods(
        self, context: Sequence[Turn], texts: list[str], scores: list[float]
    ) -> None:
        """Keep ``scores`` (:attr:`likelihood` of ``texts`` in ``context``, computed by the
        policy elsewhere) for the next choice or explanation in ``context``."""
        if len(self._likelihoods) >= LIKELIHOOD_MEMO_LIMIT:
            self._likelihoods = {}  # replaced, not cleared: a reader keeps the old one
        self._likelihoods[_likelihood_key(context, texts)] = list(scores)

    def _reranked(
        self,
        ids: list[int | None],
        votes: Any,
        own: str | None,
        said: frozenset[str],
        context: Sequence[Turn] | None,
    ) -> int:
        """Which of ``ids`` to ask (an index): the best vote, or, with a ``likelihood_weight``
        and a policy to score them, the best of the ``likelihood_top`` best-voted by vote +
        weight x the policy's log-likelihood of each as it would be asked, both standardised
        among them. The vote counts what similar experts went on to elicit; the likelihood
        reads this conversation, where a neighbour's review of systems may be off the point."""
        weight = self.settings.likelihood_weight
        if not weight or self.likelihood is None or context is None or len(ids) < 2:
            return int(votes.argmax())
        top, texts = self._rerank_texts(ids, votes, own, said)
        vote_z = standardised([float(votes[k]) for k in top])
        likelihood_z = standardised(self._likelihood_of(context, texts))
        combined = [v + weight * p for v, p in zip(vote_z, likelihood_z, strict=True)]
        return top[combined.index(max(combined))]

    def _rerank_texts(
        self, ids: list[int | None], votes: Any, own: str | None, said: frozenset[str]
    ) -> tuple[list[int], list[str]]:
        """The ``likelihood_top`` best-voted of ``ids`` (indices) and their wordings as they
        would be asked (without what the user already named)."""
        top = votes.argsort(descending=True, stable=True)[: self.settings.likelihood_top].tolist()
        texts = [
            own if ids[k] is None else without_said(self.shown(ids[k]), said, self.synonyms)
            for k in top
        ]
        return top, texts

    def _likelihood_of(self, context: Sequence[Turn], texts: list[str]) -> list[float]:
        """:attr:`likelihood` of ``texts`` in ``context``, remembered for the last contexts: the
        assistant explains each question right after choosing it (:meth:`explain`)."""
        key = _likelihood_key(context, texts)
        if key not in self._likelihoods and self._likelihood is not None:
            self.remember_likelihoods(context, texts, self._likelihood(context, texts))
        return self._likelihoods[key]

    def points_here(self, item: int, neighbours: Sequence[int]) -> bool:
        """Whether ``item`` may be asked among these ``neighbours``: it names what it asks
        about, or it points back ("a refill of that?") and one of them asked it right after
        its own context, which is what the neighbour's "that" pointed at (``pointing``)."""
        asked_next = self.pointing.get(item) if self.pointing is not None else None
        return asked_next is None or not asked_next.isdisjoint(neighbours)

    def shown(self, item: int) -> str:
        """Item ``item`` as it is asked (:func:`tidy_question`), computed once."""
        if item not in self._shown:
            self._shown[item] = tidy_question(self.items[item])
        return self._shown[item]

    def topics(self, item: int) -> frozenset[str]:
        """What item ``item`` asks about if it is a yes/no question (:func:`yes_no_topics` of
        its shown wording), computed once: the skip of what the user said checks it for every
        candidate of every context."""
        if item not in self._topics:
            self._topics[item] = yes_no_topics(self.shown(item), self.synonyms)
        return self._topics[item]

    def _best_worded(self, chosen: int, votes: Any, vectors: Any, ids: list[int | None]) -> int:
        """The item to ask instead of ``chosen``: among the candidates within
        ``NEAR_TIE_SHARE`` of its vote that say the same (cosine >= ``PARAPHRASE_COSINE``),
        the most fluent one (``chosen`` itself without fluency scores)."""
        if self.fluency is None or self.fluency[chosen] is None:
            return chosen
        best = ids.index(chosen)
        near = (votes >= votes[best] * (1 - NEAR_TIE_SHARE)) & (
            vectors @ vectors[best] >= PARAPHRASE_COSINE
        )
        rivals = [ids[k] for k in near.nonzero().flatten().tolist()]
        scored = [i for i in rivals if i is not None and self.fluency[i] is not None]
        return max(scored, key=lambda i: self.fluency[i]) if scored else chosen

    def save(self, model_dir: str | Path) -> QuestionMemorySettings:
        """Write the memory beside a model and name it in ``learn2ask_policy.json``."""
        if self.keys is None:
            raise ConfigError("a question memory without context keys cannot be saved")
        from safetensors.torch import save

        from learn2ask.io import atomic_open, write_json_atomic

        directory = Path(model_dir)
        offsets = [0]
        for point in self.point_items:
            offsets.append(offsets[-1] + len(point))
        import torch

        tensors = {
            "keys": self.keys.half().contiguous(),
            "items": self.item_vectors.half().contiguous(),
            "point_items": torch.tensor(
                [i for p in self.point_items for i in p], dtype=torch.int32
            ),
            "offsets": torch.tensor(offsets, dtype=torch.int64),
        }
        if self.anchors is not None:
            tensors["anchors"] = self.anchors.half().contiguous()
        with atomic_open(directory / VECTORS_FILE, "wb", encoding=None) as handle:
            handle.write(save(tensors))
        texts: dict[str, Any] = {"items": self.items}
        if self.fluency is not None:
            texts["fluency"] = self.fluency
        if self.references is not None:
            texts["references"] = {str(i): sorted(r) for i, r in self.references.items()}
        if self.pointing is not None:
            texts["pointing"] = {str(i): sorted(p) for i, p in self.pointing.items()}
        write_json_atomic(directory / TEXTS_FILE, texts)
        settings = replace(self.settings, digest=memory_digest(directory))
        write_policy_section(directory, "questions", asdict(settings))
        self.settings = settings
        return settings

    @classmethod
    def load(cls, model_dir: str | Path | None, grader: Any = None) -> QuestionMemory | None:
        """The memory saved beside a model, or None when it has none."""
        section = read_policy_section(model_dir, "questions")
        if section is None:
            return None
        directory = Path(str(model_dir))
        from safetensors.torch import load_file

        settings = QuestionMemorySettings(**section)
        if settings.digest and settings.digest != memory_digest(directory):
            raise ConfigError(f"{directory / VECTORS_FILE}: does not match learn2ask_policy.json")
        tensors = load_file(str(directory / VECTORS_FILE))
        texts = json.loads((directory / TEXTS_FILE).read_text(encoding="utf-8"))
        offsets = tensors["offsets"].tolist()
        flat = tensors["point_items"].tolist()
        point_items = [flat[a:b] for a, b in zip(offsets, offsets[1:], strict=False)]
        references, pointing = texts.get("references"), texts.get("pointing")
        return cls(
            settings,
            tensors["keys"].float(),
            tensors["items"].float(),
            texts["items"],
            point_items,
            grader or default_grader(),
            texts.get("fluency"),
            None if references is None else {int(i): frozenset(r) for i, r in references.items()},
            None if pointing is None else {int(i): frozenset(p) for i, p in pointing.items()},
            tensors["anchors"].float() if "anchors" in tensors else None,
        )


def _likelihood_key(context: Sequence[Turn], texts: list[str]) -> tuple[Any, ...]:
    return (tuple((t.role, t.content) for t in context), tuple(texts))


def standardised(values: Sequence[float]) -> list[float]:
    """Zero mean and unit spread (all zeros when the values are equal)."""
    mean = sum(values) / len(values)
    spread = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    return [(v - mean) / spread if spread > 0 else 0.0 for v in values]


def _unit(vectors: Any) -> Any:
    """Rows scaled to unit length (keys and queries compare by cosine)."""
    return vectors / vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)


def item_references(
    points: Sequence[Sample],
    index: dict[str, int],
    shared: frozenset[str],
    synonyms: Mapping[str, str],
) -> dict[int, frozenset[str]]:
    """Per item (index into the memory's items) that refers back to its logged conversation,
    what it refers to (:func:`~.question_fit.logged_back_references`). An item asked in several
    conversations keeps only what it referred to in all of them: one that it fits unnamed is
    proof enough."""
    references: dict[int, frozenset[str]] = {}
    for point in points:
        for text, refers in logged_back_references(point, shared, synonyms).items():
            item = index[text]
            references[item] = references[item] & refers if item in references else refers
    return {item: refers for item, refers in references.items() if refers}


def item_pointing(points: Sequence[Sample], items: list[str]) -> dict[int, frozenset[int]]:
    """Per item that points back without naming (:func:`~.question_fit.points_back`), the
    points (indices into ``points``) whose expert asked it right after the context: only
    there does its "that" or "there" point at turns like these."""
    pointing = {i: set() for i, text in enumerate(items) if points_back(tidy_question(text))}
    index = {items[i]: i for i in pointing}
    for number, point in enumerate(points):
        for text in next_questions(point):
            if text in index:
                pointing[index[text]].add(number)
    return {item: frozenset(numbers) for item, numbers in pointing.items()}


def memory_digest(model_dir: Path) -> str:
    """SHA-256 over the memory's two files (part of every evaluation fingerprint)."""
    digest = hashlib.sha256()
    for name in (VECTORS_FILE, TEXTS_FILE):
        digest.update((model_dir / name).read_bytes())
    return digest.hexdigest()


def default_grader() -> Any:
    """The bundled embedding grader (all-MiniLM-L6-v2), which memory and stop head embed with."""
    from learn2ask.rewards.graders.embedding import EmbeddingGrader

    return EmbeddingGrader()


def default_grader_version() -> str:
    """The version :func:`default_grader` reports, without loading its model."""
    from learn2ask.rewards.graders.embedding import EmbeddingGraderConfig

    return f"embedding:{EmbeddingGraderConfig.load().version}"
