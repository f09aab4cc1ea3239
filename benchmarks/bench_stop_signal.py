"""How predictable is s* (STOP vs CONTINUE) from the context alone? A data-side yardstick.

A logistic regression on five surface features of the context (turns so far, length of the
user's last message, whether it or the expert's last turn ends with "?", how many questions the
expert has asked), trained on the demo train split and scored on the demo test split, both
balanced. Its AUC says how much "when to stop" signal the prompt carries before any language
understanding; compare it with the policy's ``stop_auc`` (``stop_scores.json``) to tell "no
signal in the data" from "the model did not learn it".
"""

from __future__ import annotations

from benchmarks.common import demo_samples, row
from learn2ask.data.samples import load_samples
from learn2ask.data.sampling import balanced_subset
from learn2ask.evaluation.metrics import roc_auc
from learn2ask.models.stop_head import SURFACE_FEATURES, surface_features

FEATURES = SURFACE_FEATURES


def run() -> list[dict]:
    """Fit on the balanced train split, report test AUCs (the model and each feature alone)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    data = demo_samples()
    train = balanced_subset(load_samples(data / "train.jsonl"), 0.5, 1000, 0)
    test = balanced_subset(load_samples(data / "test.jsonl"), 0.5, 100, 0)
    train_features = [surface_features(s.context) for s in train]
    test_features = [surface_features(s.context) for s in test]
    is_stop = [s.decision == "stop" for s in test]
    scaler = StandardScaler().fit(train_features)
    model = LogisticRegression(max_iter=2000).fit(
        scaler.transform(train_features), [s.decision == "stop" for s in train]
    )
    scores = model.predict_proba(scaler.transform(test_features))[:, 1]
    rows = [
        row(
            "stop signal",
            "logistic regression, 5 surface features",
            round(separation(list(scores), is_stop), 3),
            "AUC",
            f"{len(train)} balanced train / {len(test)} balanced test samples; 0.5 = no signal",
        )
    ]
    for index, name in enumerate(FEATURES):
        auc = separation([features[index] for features in test_features], is_stop)
        rows.append(
            row(
                "stop signal",
                f"feature alone: {name}",
                round(auc, 3),
                "AUC",
                "below 0.5: the feature is lower on STOP samples",
            )
        )
    return rows


def separation(values: list[float], is_stop: list[bool]) -> float:
    """AUC of ``values`` as a detector of STOP samples."""
    return roc_auc(
        [v for v, stop in zip(values, is_stop, strict=True) if stop],
        [v for v, stop in zip(values, is_stop, strict=True) if not stop],
    )
