"""The stop head's lexical term: TF-IDF of the whole context -> logistic regression on s*.

Sentence embeddings of the context lose what its words say about where a conversation is going:
all-MiniLM-L6-v2 reads 256 word pieces and averages them, a bag of words reads every word. On
the 660-680 training dialogues a demo run's LM never trained on (``benchmarks/tune_head_crossfit
.py --lexical``, cross-fitted by dialogue, three seeds) this classifier alone separates
MTS-Dialog's STOP from CONTINUE points better than the embedding classifier or the LM, and the
three log-odds fused equally beat the run's two (docs/results.md, "A lexical term in the stop
head"). Its vocabulary is the words that occur in at least two of the head's training contexts.

Fitted with scikit-learn; scored here in plain Python from the saved vocabulary, so a saved head
needs no pickle and a served policy decides the same way (a test checks both agree).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from learn2ask.data.types import Sample, Turn
from learn2ask.errors import ConfigError

# scikit-learn's default token pattern: words of two or more characters, lower-cased.
TOKEN = re.compile(r"(?u)\b\w\w+\b")
MIN_CONTEXTS = 2  # a word in one training context only is an identifier, not a cue
# Inverse L2 strength, chosen on the cross-fitted training dialogues of three demo runs
# (C 1, 3, 10; word unigrams and 1-2-grams): docs/results.md, "A lexical term in the stop head".
LEXICAL_C = 3.0
# Word 1-2-grams: as good as single words in source and better on a source never fitted on
# (fitted on MTS-Dialog alone, ACI-Bench AUC of the fusion +0.03 with pairs, +0.00 without).
NGRAMS = 2


def context_text(context: Sequence[Turn]) -> str:
    """The whole context as one text (what the classifier reads)."""
    return " ".join(t.content for t in context)


def terms(text: str, ngrams: int) -> list[str]:
    """The text's word n-grams of length 1..``ngrams``, as scikit-learn's TfidfVectorizer
    forms them."""
    words = TOKEN.findall(text.lower())
    grams = list(words)
    for n in range(2, ngrams + 1):
        grams += [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    return grams


class LexicalStopClassifier:
    """TF-IDF (sublinear term counts, L2-normalised) of the whole context and a logistic
    regression of s* on it. After :meth:`fit` (or :meth:`from_dict`) the model is a dict from
    term to ``(idf, coefficient)`` and an intercept."""

    def __init__(self, ngrams: int = NGRAMS, C: float = LEXICAL_C) -> None:
        self.ngrams = ngrams
        self.C = C
        self.vocabulary: dict[str, tuple[float, float]] = {}
        self.intercept = 0.0

    def fit(self, samples: Sequence[Sample]) -> LexicalStopClassifier:
        """Fit on (balanced) training samples."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        vectorizer = TfidfVectorizer(
            ngram_range=(1, self.ngrams), min_df=MIN_CONTEXTS, sublinear_tf=True
        )
        x = vectorizer.fit_transform([context_text(s.context) for s in samples])
        model = LogisticRegression(C=self.C, max_iter=3000).fit(
            x, [s.decision == "stop" for s in samples]
        )
        coef = model.coef_[0]
        self.vocabulary = {
            term: (float(vectorizer.idf_[i]), float(coef[i]))
            for term, i in vectorizer.vocabulary_.items()
        }
        self.intercept = float(model.intercept_[0])
        return self

    def logit(self, context: Sequence[Turn]) -> float:
        """The log-odds of STOP for one context."""
        weights: dict[str, float] = {}
        for term, count in Counter(terms(context_text(context), self.ngrams)).items():
            if term in self.vocabulary:
                weights[term] = (1.0 + math.log(count)) * self.vocabulary[term][0]
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        return self.intercept + sum(w * self.vocabulary[t][1] for t, w in weights.items()) / norm

    def logits(self, contexts: Sequence[Sequence[Turn]]) -> list[float]:
        """The log-odds of STOP per context."""
        if not self.vocabulary:
            raise ConfigError("the lexical stop classifier is not fitted")
        return [self.logit(c) for c in contexts]

    def to_dict(self) -> dict[str, Any]:
        """The fitted model as JSON-able values (terms sorted, so the file is reproducible)."""
        return {
            "ngrams": self.ngrams,
            "C": self.C,
            "intercept": self.intercept,
            "terms": {
                t: [round(i, 8), round(c, 8)] for t, (i, c) in sorted(self.vocabulary.items())
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LexicalStopClassifier:
        """A classifier from :meth:`to_dict`'s output."""
        classifier = cls(int(data["ngrams"]), float(data["C"]))
        classifier.vocabulary = {t: (float(i), float(c)) for t, (i, c) in data["terms"].items()}
        classifier.intercept = float(data["intercept"])
        return classifier
