"""The lexical-first cascade: the n-gram heads settle the posts they are sure about, the
transformer reads only the rest.

Why: on 2 CPU cores the transformer is over 80% of a post's cost, and most crawled text is
plainly a sale (a vendor menu) or plainly not (a pharmacy page, a news story).  The cascade
keeps the full model's verdicts: its two cut-offs are chosen on validation (posts with
held-out sentence shapes) as the widest band edges where the n-gram verdict disagrees with the
full blended model on at most ``tolerance`` of the posts it settles.  Substances come from the
n-gram heads either way (their blend weight on the transformer is fitted, and is 0 in the
models trained so far).  A model without cascade parameters simply runs the transformer on
everything; so does ``ClassifierEngine(cascade=False)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from classifier.meta import INTENT, SUB
from classifier.metrics import sigmoid, softmax
from dragnet.documents import SUBSTANCES

DEFAULT_TOLERANCE = 0.002


def lexical_probability(lexical_logit: np.ndarray, cascade: dict[str, Any]) -> np.ndarray:
    """The n-gram binary head on its own, calibrated (Platt scaling fitted on validation)."""
    return sigmoid(cascade["a"] * lexical_logit + cascade["c"])


def fit_cascade(
    lexical_logit: np.ndarray, labels: np.ndarray, full_positive: np.ndarray, tolerance: float = DEFAULT_TOLERANCE
) -> dict[str, Any]:
    """Platt-scale the n-gram head on validation and choose the band [low, high] outside which
    its verdict stands in for the full model's."""
    # scikit-learn takes seconds to import: loaded only where the n-gram heads are fitted or run
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1.0).fit(lexical_logit[:, None], labels.astype(int))
    cascade: dict[str, Any] = {"a": float(lr.coef_[0][0]), "c": float(lr.intercept_[0])}
    p = lexical_probability(lexical_logit, cascade)
    full_positive = full_positive.astype(bool)
    low, high = 0.0, 1.0
    for q in np.quantile(p, np.linspace(0.01, 0.95, 95)):
        settled = p <= q
        if settled.any() and full_positive[settled].mean() <= tolerance:
            low = float(q)
    for q in np.quantile(p, np.linspace(0.99, 0.05, 95)):
        settled = p >= q
        if settled.any() and (~full_positive[settled]).mean() <= tolerance:
            high = float(q)
    if high <= low:  # no band left: settle nothing rather than guess
        low, high = 0.0, 1.0
    settled = (p <= low) | (p >= high)
    cascade_positive = np.where(settled, p >= high, full_positive)
    cascade.update(
        low=low,
        high=high,
        tolerance=tolerance,
        validation_settled_share=round(float(settled.mean()), 4),
        validation_agreement=round(float((cascade_positive == full_positive).mean()), 5),
    )
    return cascade


def settled_mask(lexical_logit: np.ndarray, cascade: dict[str, Any]) -> np.ndarray:
    """True where the n-gram head is sure enough to stand in for the full model."""
    p = lexical_probability(lexical_logit, cascade)
    return (p <= cascade["low"]) | (p >= cascade["high"])


def settle(
    score: np.ndarray,
    substances: np.ndarray,
    lexical: np.ndarray,
    cascade: dict[str, Any],
    intents: np.ndarray | None = None,
) -> np.ndarray:
    """Overwrite, in place, the settled texts' scores, substances (and intent probabilities)
    with the n-gram heads' own (calibrated) outputs; returns the settled mask."""
    settled = settled_mask(lexical[:, 0], cascade)
    score[settled] = lexical_probability(lexical[settled, 0], cascade)
    substances[settled] = sigmoid(lexical[settled, SUB])
    if intents is not None and lexical.shape[1] > 1 + len(SUBSTANCES):
        intents[settled] = softmax(lexical[settled, INTENT])
    return settled
