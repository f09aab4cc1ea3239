"""The stop head's lexical term: its plain-Python scoring is scikit-learn's TF-IDF + logistic
regression exactly, it survives the JSON round trip, it separates STOP from CONTINUE on held-out
points of the bundled data, and a head saved without it (before it existed) still loads."""

from __future__ import annotations

import json
import shutil

import pytest

from learn2ask.data.samples import load_samples
from learn2ask.errors import ConfigError
from learn2ask.evaluation.metrics import roc_auc
from learn2ask.models.lexical_head import LexicalStopClassifier, context_text, terms
from learn2ask.models.stop_head import HEAD_FILE, StopHead, head_digest
from learn2ask.training.threshold import balanced_points


@pytest.fixture(scope="module")
def splits(small_test_samples):
    train = balanced_points(load_samples(small_test_samples.parent / "train.jsonl"), 300, 0)
    test = balanced_points(load_samples(small_test_samples), 60, 0)
    return train, test


def sklearn_logits(train, held, ngrams: int, c: float) -> list[float]:
    """The same model fitted and applied by scikit-learn alone."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(ngram_range=(1, ngrams), min_df=2, sublinear_tf=True)
    x = vectorizer.fit_transform([context_text(s.context) for s in train])
    model = LogisticRegression(C=c, max_iter=3000).fit(x, [s.decision == "stop" for s in train])
    return list(
        model.decision_function(vectorizer.transform([context_text(s.context) for s in held]))
    )


@pytest.mark.parametrize("ngrams", [1, 2])
def test_plain_python_scoring_is_sklearns(splits, ngrams):
    train, test = splits
    classifier = LexicalStopClassifier(ngrams=ngrams).fit(train)
    ours = classifier.logits([s.context for s in test])
    assert ours == pytest.approx(sklearn_logits(train, test, ngrams, classifier.C), abs=1e-9)
    again = LexicalStopClassifier.from_dict(json.loads(json.dumps(classifier.to_dict())))
    assert again.logits([s.context for s in test]) == pytest.approx(ours, abs=1e-6)


def test_terms_are_sklearns_word_ngrams():
    assert terms("Any chest PAIN? No, a bit.", 2) == [
        "any", "chest", "pain", "no", "bit", "any chest", "chest pain", "pain no", "no bit",
    ]  # fmt: skip


def test_it_separates_held_out_points(splits):
    train, test = splits
    scores = LexicalStopClassifier().fit(train).logits([s.context for s in test])
    stops = [z for z, s in zip(scores, test, strict=True) if s.decision == "stop"]
    asks = [z for z, s in zip(scores, test, strict=True) if s.decision != "stop"]
    assert roc_auc(stops, asks) > 0.6


def test_an_unfitted_classifier_is_refused(splits):
    with pytest.raises(ConfigError, match="not fitted"):
        LexicalStopClassifier().logits([splits[1][0].context])


def test_a_head_without_the_lexical_term_still_loads(splits, tiny_model_dir, tmp_path):
    from learn2ask.rewards.graders.embedding import EmbeddingGrader

    grader = EmbeddingGrader()
    train, test = splits
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    head = StopHead.fit(grader, train, test, [0.3] * len(test), lexical=False)
    assert head.lexical is None and len(head.weights) == 3
    head.save(model)
    section = json.loads((model / "learn2ask_policy.json").read_text())["assessment"]
    assert section["head"] == "embedding" and set(section["weights"]) == {"lm", "head", "bias"}
    contexts = [s.context for s in test]
    p_lm = [0.2 + 0.6 * (i % 2) for i in range(len(test))]
    assert StopHead.load(model, grader).fuse(p_lm, contexts) == pytest.approx(
        head.fuse(p_lm, contexts)
    )
    # A weight too many for the classifiers in the file: refused, not misread.
    data = json.loads((model / HEAD_FILE).read_text())
    data["weights"].insert(2, 0.5)
    (model / HEAD_FILE).write_text(json.dumps(data))
    policy = json.loads((model / "learn2ask_policy.json").read_text())
    policy["assessment"]["digest"] = head_digest(model)
    (model / "learn2ask_policy.json").write_text(json.dumps(policy))
    with pytest.raises(ConfigError, match="4 fusion weights"):
        StopHead.load(model, grader)
