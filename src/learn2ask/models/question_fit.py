"""Does a logged question fit this conversation? What a question asks about, what the user has
already said, and what a question takes for granted.

The question memory (:mod:`learn2ask.models.question_memory`) asks questions logged in *other*
conversations. Two ways one can be wrong here though it earned R_a there:

- it asks what the user has already said ("Do you have any shortness of breath?" after "No, no
  shortness of breath."): :func:`already_said`; or part of it ("Any nausea or vomiting?" after
  "No nausea."), asked as what is left: :func:`without_said`;
- it refers back to something its own conversation had named and this one has not ("Any chest
  pain with your shortness of breath?" to a user who only mentioned a sore throat, "Do you need
  a refill of the lisinopril?" to one who named no medicine): :func:`back_references` of the
  question in its logged conversation, :func:`unnamed` in this one;
- it points at what was just said without naming it ("Do you need a refill of that?", "Do you
  have any pain there?"): :func:`points_back`, asked only where it fits (the memory's
  ``pointing``).

Both read words, crudely stemmed (:func:`content_stems`), not meaning: the grader's embeddings
cannot tell "Where is the chest pain?" (a follow-up) from "Do you have chest pain?" (asked
again). A domain's ``synonyms`` let different words name one thing ("my knee hurts" names "the
pain", "I'm not on any medicines" answers "Are you taking any medications?"):
:func:`synonym_stems`, :func:`canonical`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from learn2ask.data.questions import is_yes_no_question
from learn2ask.data.types import Sample, Turn

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
# Words that make up a question rather than name what it asks about.
_SCAFFOLD_WORDS = """
    a an the and or of to in on at for with by from about as into than then any anything other
    another some ever still currently recently lately now today also else do does did done
    doing are is was were be been being am have has had having get got getting can could would
    will should may might you your yours yourself there anyone anybody someone somebody it its
    this that these those i me my we us our he she his her they them their no not nor none
    never yes okay ok so um uh well just like really very much many kind sort experience
    experienced experiencing notice noticed noticing feel feeling felt problem problems issue
    issues trouble history past
"""
_SCAFFOLD = frozenset(_SCAFFOLD_WORDS.split())
# A question counts as already answered when the user named at least this share of what it asks
# about: "No fever, chills, no shortness of breath?" after "No fever." and "No shortness of
# breath." (3 of 4), not "Any fevers or chills?" after "No fever." (1 of 2). On
# `tune_memory`'s three splits 0.75 changes 1-4 of 600 choices against requiring every word, at
# no cost to R_a; 0.5 changes 52-62 and cost -0.010 on one split (docs/results.md).
SAID_SHARE = 0.75
# "Any other surgeries?" after "I had knee surgery" asks beyond what was said.
_ASKS_FOR_MORE = re.compile(r"\b(?:other|else|another|more)\b", re.I)


@lru_cache(maxsize=65536)  # a dialogue's turns recur in every later point's context
def content_stems(text: str) -> frozenset[str]:
    """The words of ``text`` that name something, crudely stemmed ("fevers", "smoked" and
    "allergies" read as "fever", "smok", "allergy"), so that a question and an answer meet."""
    return frozenset(_stem(w) for w in _WORD.findall(text.lower()) if w not in _SCAFFOLD)


def _stem(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    for suffix in ("ing", "es", "s", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


_NO_SYNONYMS: Mapping[str, str] = {}


def synonym_stems(groups: Iterable[Iterable[str]]) -> dict[str, str]:
    """A domain's ``synonyms`` (groups of words that name the same thing) as stems: each word's
    stem maps to its group's first word's stem."""
    table: dict[str, str] = {}
    for group in groups:
        stems = [_stem(word.lower()) for word in group]
        table.update((stem, stems[0]) for stem in stems)
    return table


def canonical(stems: frozenset[str], synonyms: Mapping[str, str]) -> frozenset[str]:
    """``stems`` with each one a synonym group holds replaced by the group's first
    (:func:`synonym_stems`); the others as they are."""
    return frozenset(synonyms.get(s, s) for s in stems) if synonyms else stems


def said_by_user(
    context: Sequence[Turn], synonyms: Mapping[str, str] = _NO_SYNONYMS
) -> frozenset[str]:
    """The content stems of everything the user has said in ``context``."""
    said = frozenset().union(*(content_stems(t.content) for t in context if t.role == "user"))
    return canonical(said, synonyms)


def yes_no_topics(question: str, synonyms: Mapping[str, str] = _NO_SYNONYMS) -> frozenset[str]:
    """What a yes/no question asks about (its content stems); empty for any other question and
    for one that asks for more ("any other ...", "anything else ...")."""
    if not is_yes_no_question(question) or _ASKS_FOR_MORE.search(question):
        return frozenset()
    return canonical(content_stems(question), synonyms)


def covered(topics: frozenset[str], said: frozenset[str]) -> bool:
    """True when the user has named at least ``SAID_SHARE`` of ``topics`` (none: False)."""
    return bool(topics) and len(topics & said) >= SAID_SHARE * len(topics)


def already_said(
    question: str, said: frozenset[str], synonyms: Mapping[str, str] = _NO_SYNONYMS
) -> bool:
    """True when ``question`` is a yes/no question about what the user has named already
    (:func:`yes_no_topics` :func:`covered` by ``said``, read with the same ``synonyms``)."""
    return bool(said) and covered(yes_no_topics(question, synonyms), said)


# The closing list of a yes/no question: "Any fever, chills, or night sweats?", "Any nausea
# or vomiting?", "... such as headaches, nausea, or vomiting, anything like that?". Only lists
# of alternatives ("or"): "and" as often joins clauses or one thing ("numbness and tingling").
_LIST_SEPARATOR = re.compile(r"(\s*,\s*(?:or\s+)?|\s+or\s+)", re.I)
# Words an alternative may hold besides the ones that name it ("shortness of breath",
# "sensitivity to light", "any chest pain", "cold like symptoms").
_ITEM_LINKS = frozenset({"of", "to", "in", "on", "the", "a", "any", "like"})
_MAX_ITEM_WORDS = 4
# The words after which the list's first alternative can go without the question's grammar
# going with it: "Any [nausea] or vomiting?", "... such as [fever], chills ...", "Do you have
# [shortness of breath] or chest pain?"; not "Do you take any other [drug] or consume alcohol?"
# nor "... pain in your [legs] or numbing?" (read off the changes on tune_memory's splits).
_LIST_OPENERS = frozenset({"any", "as", "like", "of", "with", "about", "have", "having", "had"})
# A first alternative that names the kind of what follows: "Any other symptoms, chest pain,
# nausea or vomiting?" lists chest pain, nausea and vomiting.
_KINDS = frozenset({"symptom", "sign", "thing"})


def without_said(
    question: str, said: frozenset[str], synonyms: Mapping[str, str] = _NO_SYNONYMS
) -> str:
    """``question`` without the alternatives of its closing list that the user has named
    already: "Any nausea or vomiting?" after "No nausea." asks "Any vomiting?". An alternative
    goes only when the user named every word of it (read with ``synonyms``); the question is
    returned as it is when it is not a yes/no question ending in a list of two or more
    alternatives joined by "or", or when every alternative or none was named
    (:func:`already_said` decides whether such a question is asked at all)."""
    text = question.strip()
    listed = _closing_list(text) if said and is_yes_no_question(text) else None
    if listed is None:
        return question
    before, head, items, trailer, first_may_go = listed
    stems = (canonical(content_stems(item), synonyms) for item in items)
    gone = [bool(s) and s <= said for s in stems]
    gone[0] = gone[0] and first_may_go
    if not any(gone) or all(gone):
        return question
    kept = [item for item, named in zip(items, gone, strict=True) if not named]
    if gone[0]:  # "Okay, any nausea or vomiting?" -> "Okay, any vomiting?"
        kept[0] = _with_opener_of(items[0], _without_repeated_opener(head, kept[0]))
    joined = kept[0] if len(kept) == 1 else f"{', '.join(kept[:-1])} or {kept[-1]}"
    narrowed = f"{before}{head}{joined}{trailer}?"
    return narrowed[0].upper() + narrowed[1:]


def _closing_list(text: str) -> tuple[str, str, list[str], str, bool] | None:
    """``text`` (a question) read as (the segments before its list's, what opens the list,
    the alternatives, what closes it such as ", anything like that", whether the first
    alternative can go without the grammar of what opens it); None without such a list."""
    if not text.endswith("?"):
        return None
    parts = _LIST_SEPARATOR.split(text[:-1])
    segments, separators = parts[0::2], parts[1::2]
    if not any("or" in sep.lower() for sep in separators):
        return None
    trailer = ""
    if len(segments) > 2 and not content_stems(segments[-1]):  # "..., anything like that"
        trailer = separators[-1] + segments[-1]
        segments, separators = segments[:-1], separators[:-1]
    start = len(segments)
    while start > 1 and _is_alternative(segments[start - 1]):
        start -= 1
    before = "".join(s + sep for s, sep in zip(segments[: start - 1], separators, strict=False))
    head, first = _split_head(segments[start - 1])
    items = [first, *segments[start:]]
    first_may_go = _LIST_OPENERS.issuperset(head.lower().split()[-1:])
    if not first or content_stems(first) <= _KINDS:  # the list starts after the kind
        if start == len(segments):  # "Any fever, or other symptoms?": nothing follows it
            return None
        head, items, first_may_go = segments[start - 1] + separators[start - 1], items[1:], True
    if len(items) < 2 or any(_is_place(i) for i in items):
        return None
    return before, head, items, trailer, first_may_go


def _is_alternative(segment: str) -> bool:
    """True when ``segment`` reads as one alternative of a list ("night sweats", "shortness of
    breath"): a few words, each one naming something or linking those that do."""
    words = _WORD.findall(segment.lower())
    return (
        0 < len(words) <= _MAX_ITEM_WORDS
        and bool(content_stems(segment))
        and all(w in _ITEM_LINKS or w not in _SCAFFOLD for w in words)
    )


def _is_place(item: str) -> bool:
    """True for an alternative such as "left" or "the right side", which names where or when
    rather than what: "Any pain in your left or right arm?" is not a list of two things."""
    return all(w in _INTRODUCED or w in _ITEM_LINKS for w in _WORD.findall(item.lower()))


def _split_head(segment: str) -> tuple[str, str]:
    """``segment`` as (what opens the question, the list's first alternative): "Are you
    having any chest pain" -> ("Are you having any ", "chest pain"), "Any kind of surgery" ->
    ("Any kind of ", "surgery"). The alternative is the run of words at the end that name
    something, with "of" and "to" inside it."""
    words = [(m.start(), m.group().lower().strip(".,;:")) for m in re.finditer(r"\S+", segment)]
    start = len(words)
    while start > 0 and (words[start - 1][1] not in _SCAFFOLD or _links_inside(words, start)):
        start -= 1
    while start < len(words) and words[start][1] in _SCAFFOLD:  # "of surgery": "of" opens
        start += 1
    if start == len(words):
        return segment, ""
    return segment[: words[start][0]], segment[words[start][0] :]


def _links_inside(words: list[tuple[int, str]], position: int) -> bool:
    """True when the word before ``position`` is "of" or "to" inside an alternative."""
    return words[position - 1][1] in ("of", "to") and position < len(words)


def _with_opener_of(removed: str, item: str) -> str:
    """``item`` opened as the ``removed`` alternative it now stands first in place of was
    ("any" of "any nausea"), unless it opens so already."""
    words = removed.split()
    opener = []
    for word in words[:-1]:
        if word.lower() not in _ITEM_LINKS:
            break
        opener.append(word)
    if not opener or item.lower().startswith(" ".join(opener).lower() + " "):
        return item
    return f"{' '.join(opener)} {item}"


def _without_repeated_opener(head: str, item: str) -> str:
    """``item`` without a first word that ``head`` ends with: "Do you have any " + "any
    shortness of breath" reads "Do you have any shortness of breath"."""
    opener, _, rest = item.partition(" ")
    ends = head.split()[-1:]
    return rest if rest and ends and opener.lower() == ends[0].lower() else item


# A definite phrase takes its noun as known: "the biopsy", "your asthma", "this pain", "these
# symptoms". ("that" is left out: it is as often a conjunction, "Is it that bad?".)
_DEFINITE = frozenset({"the", "your", "this", "these", "those"})
# Nouns a definite phrase brings in without needing them named: time, place, order and manner
# ("in the past week", "on the left side", "the same way").
_INTRODUCED_WORDS = """
    past last next first second same other whole rest end way thing things one ones time times
    day days week weeks month months year years morning night evening afternoon moment weekend
    number scale side sides area areas name right left top bottom front middle kind type sort
    lot bit part
"""
_INTRODUCED = frozenset(_INTRODUCED_WORDS.split())
# Words that end a definite phrase: what follows its noun ("Are these headaches worse?", "Does
# the pain start when ...?"). Read off the definite phrases of the demo run's memory.
_PHRASE_END_WORDS = """
    how when where why what who which whether but since before after until while because if
    out up down over off here now correct please sir ma'am all every pretty regularly daily
    worse better bad good same started start starts begin began come comes go goes hurt hurts
    happen happened change changed help helps located gon
"""
_PHRASE_ENDS = frozenset(_PHRASE_END_WORDS.split())
_PHRASE_WORDS = 3  # "your lower back pain"
_PREFIX_CHARS = 4  # "numb" meets "numbness", "pain" meets "painful"


def definite_mentions(question: str, shared: frozenset[str] = frozenset()) -> frozenset[str]:
    """The content stems of ``question``'s definite phrases ("the biopsy", "your asthma"),
    except what a definite phrase introduces by itself ("the past week") and the ``shared``
    stems, what any user may be asked about unnamed ("your knee", "the emergency room"; the
    domain's ``shared_referents``), unless the phrase is set against ("Other than your knees,
    any joint pain?" takes the knees as the complaint)."""
    words = _WORD.findall(question.lower())
    mentions: set[str] = set()
    for position, word in enumerate(words):
        if word not in _DEFINITE:
            continue
        contrasted = _set_against(words[max(0, position - 2) : position])
        for following in words[position + 1 : position + 1 + _PHRASE_WORDS]:
            if following in _SCAFFOLD or following in _DEFINITE or following in _PHRASE_ENDS:
                break
            if "'" in following or len(following) < 2:  # "i'm", "you've"; "t" of "t cells"
                break
            stem = _stem(following)
            if following not in _INTRODUCED and (contrasted or stem not in shared):
                mentions.add(stem)
    return frozenset(mentions)


def _set_against(before: list[str]) -> bool:
    """True when the (up to two) words ``before`` a definite phrase set it against what is
    asked: "other than", "besides", "except", "aside from", "apart from"."""
    last = before[-1] if before else ""
    return last in ("than", "besides", "except") or before[-2:] in (
        ["aside", "from"],
        ["apart", "from"],
    )


def shared_stems(words: Iterable[str]) -> frozenset[str]:
    """A domain's ``shared_referents`` as stems (:func:`definite_mentions`' ``shared``)."""
    return frozenset(_stem(w.lower()) for w in words)


def back_references(
    question: str,
    before: frozenset[str],
    shared: frozenset[str],
    synonyms: Mapping[str, str] = _NO_SYNONYMS,
) -> frozenset[str]:
    """What ``question`` refers back to in its logged conversation: its
    :func:`definite_mentions` that the conversation had named ``before`` it (content stems,
    both read with the same ``synonyms``)."""
    mentions = canonical(definite_mentions(question, shared), synonyms)
    return frozenset(s for s in mentions if meets(s, before))


def logged_back_references(
    point: Sample, shared: frozenset[str], synonyms: Mapping[str, str] = _NO_SYNONYMS
) -> dict[str, frozenset[str]]:
    """For each I* item of ``point`` found in its future, the :func:`back_references` of its
    question in the conversation up to where the expert asked it."""
    named = mentioned(point.context, synonyms)
    pending = {item.text: item.question for item in point.items if item.question}
    references: dict[str, frozenset[str]] = {}
    for turn in point.future:
        for text, question in list(pending.items()):
            if question in turn.content:
                leading = content_stems(turn.content[: turn.content.index(question)])
                before = named | canonical(leading, synonyms)
                references[text] = back_references(text, before, shared, synonyms)
                del pending[text]
        if not pending:
            break
        named |= canonical(content_stems(turn.content), synonyms)
    return references


def mentioned(
    context: Sequence[Turn], synonyms: Mapping[str, str] = _NO_SYNONYMS
) -> frozenset[str]:
    """The content stems of every turn of ``context``, either side's."""
    return canonical(frozenset().union(*(content_stems(t.content) for t in context)), synonyms)


def unnamed(references: Iterable[str], named: frozenset[str]) -> list[str]:
    """A question's ``references`` that are not among the stems ``named`` here, sorted."""
    return sorted(stem for stem in references if not meets(stem, named))


def meets(stem: str, named: frozenset[str]) -> bool:
    """True when ``stem`` is in ``named``, or one of them starts the other and both have at
    least four letters (the crude stemmer leaves "numbness" and "numb" apart)."""
    if stem in named:
        return True
    return len(stem) >= _PREFIX_CHARS and any(
        len(other) >= _PREFIX_CHARS and (other.startswith(stem) or stem.startswith(other))
        for other in named
    )


# A question that points at what was said just before it without naming it: "Do you need a
# refill of that?", "Do you have any pain there?", "Did anything help with those?". Not "Is
# there any pain?" nor "anything like that" ("that" after "like" names nothing in particular).
# Read off the askable questions of the demo run's memory (docs/results.md, "Synonyms and
# questions that point back").
_POINTS_BACK = re.compile(
    r"(?<!\bis )(?<!\bare )(?<!\bwas )(?<!\bwere )\bthere\b"
    r"(?!\s+(?:is|are|was|were|been|be|any|anything|anyone|a|an)\b)"
    r"|\b(?:of|for|about|with|from|on|in|to|take|taking|took|try|tried|do|did|use|using)\s+"
    r"(?:that|those|these|them)\b"
    r"|\b(?:those|these|them)\s*\?",
    re.I,
)


def points_back(question: str) -> bool:
    """True when ``question`` points at what was said just before it without naming it
    ("... a refill of that?", "... any pain there?", "... any of those?")."""
    return bool(_POINTS_BACK.search(question))


def next_questions(point: Sample) -> frozenset[str]:
    """The I* items of ``point`` that the expert asked in the very next turn (their ``text``):
    what the expert asked right after this context."""
    first = next((turn.content for turn in point.future if turn.role == "expert"), "")
    return frozenset(i.text for i in point.items if i.question and i.question in first)
