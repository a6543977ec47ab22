"""A lexical companion to the transformer: hashed character and word n-grams with linear
(logistic) heads for the same 1 + 7 outputs.

Why: on 2 CPU cores the quick model can fine-tune the encoder for only a few hundred steps;
the n-gram model learns the long tail of product names, strains and misspellings from *all*
training rows in seconds, and is robust to leetspeak (the text is de-leeted first).  The
engine blends both (weights fitted on validation), so the transformer brings context (news,
harm reduction, buyers asking) and the n-grams bring vocabulary.  Stateless hashing means the
whole model is two arrays, stored as ``lexical.npz`` beside the transformer weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dragnet.documents import SUBSTANCES

LEXICAL_FILE = "lexical.npz"
N_FEATURES = 2**18
MAX_CHARS = 400  # head (title, offer) and tail (contact, terms): a long boilerplate body must not drown them


def lexical_text(text: str) -> str:
    """Case-folded, de-leeted text with emoji spelled out, head and tail of long texts."""
    from classifier.extractors import _deleet, _fold
    from classifier.model import prepare_text

    if len(text) > MAX_CHARS:
        text = text[: MAX_CHARS * 2 // 3] + " " + text[-MAX_CHARS // 3:]
    return _deleet(_fold(prepare_text(text)))


def _vectorizers() -> tuple[object, object]:
    from sklearn.feature_extraction.text import HashingVectorizer

    char = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 5), n_features=N_FEATURES, alternate_sign=False,
                             norm="l2", lowercase=False)
    word = HashingVectorizer(analyzer="word", ngram_range=(1, 2), n_features=N_FEATURES, alternate_sign=False,
                             norm="l2", lowercase=False, token_pattern=r"(?u)\b\w+\b")
    return char, word


def features(texts: list[str]):  # -> scipy.sparse.csr_matrix
    from scipy.sparse import hstack

    char, word = _vectorizers()
    prepared = [lexical_text(t) for t in texts]
    return hstack([char.transform(prepared), word.transform(prepared)], format="csr")  # type: ignore[attr-defined]


class LexicalModel:
    """Linear heads over hashed n-grams: ``logits(texts)`` -> (n, 8) like the transformer."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        self.coef = coef.astype(np.float32)
        self.intercept = intercept.astype(np.float32)

    @classmethod
    def fit(cls, texts: list[str], labels: np.ndarray, subs: np.ndarray, has: np.ndarray, seed: int) -> "LexicalModel":
        from sklearn.linear_model import SGDClassifier

        x = features(texts)
        coef = np.zeros((1 + len(SUBSTANCES), x.shape[1]), dtype=np.float32)
        intercept = np.zeros(1 + len(SUBSTANCES), dtype=np.float32)

        def head(xs, ys) -> tuple[np.ndarray, float]:
            clf = SGDClassifier(loss="log_loss", alpha=2e-6, max_iter=25, tol=1e-4, random_state=seed, average=True)
            clf.fit(xs, ys)
            return clf.coef_[0], float(clf.intercept_[0])

        coef[0], intercept[0] = head(x, labels.astype(int))
        rows = np.where(has > 0)[0]
        for j in range(len(SUBSTANCES)):
            y = subs[rows, j].astype(int)
            if y.min() == y.max():
                intercept[1 + j] = 5.0 if y.max() else -5.0
                continue
            coef[1 + j], intercept[1 + j] = head(x[rows], y)
        return cls(coef, intercept)

    def logits(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 1 + len(SUBSTANCES)), dtype=np.float32)
        x = features(texts)
        return np.asarray(x @ self.coef.T, dtype=np.float32) + self.intercept

    def save(self, model_dir: Path) -> None:
        np.savez_compressed(model_dir / LEXICAL_FILE, coef=self.coef.astype(np.float16), intercept=self.intercept)

    @classmethod
    def load(cls, model_dir: Path) -> "LexicalModel | None":
        path = model_dir / LEXICAL_FILE
        if not path.is_file():
            return None
        with np.load(path) as data:
            return cls(data["coef"].astype(np.float32), data["intercept"])
