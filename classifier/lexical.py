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

import itertools
import re
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix, hstack

from classifier.tokens import collapse_repeats, prepare_text
from dragnet.documents import INTENTS, SUBSTANCES
from extract.text import deleet, fold

LEXICAL_FILE = "lexical.npz"
N_FEATURES = 2**18
MAX_CHARS = 400  # head (title, offer) and tail (contact, terms): a long boilerplate body must not drown them


def lexical_text(text: str) -> str:
    """Case-folded, de-leeted text with emoji spelled out, head and tail of long texts."""

    text = collapse_repeats(text)
    if len(text) > MAX_CHARS:
        text = text[: MAX_CHARS * 2 // 3] + " " + text[-MAX_CHARS // 3 :]
    return deleet(fold(prepare_text(text)))


def _vectorizers() -> tuple[Any, Any]:
    """The scikit-learn definition of the features (:func:`features` computes the same matrix
    faster; a test holds the two equal)."""
    # scikit-learn takes seconds to import: loaded only where the n-gram heads are fitted or run
    from sklearn.feature_extraction.text import HashingVectorizer

    char = HashingVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), n_features=N_FEATURES, alternate_sign=False, norm="l2", lowercase=False
    )
    word = HashingVectorizer(
        analyzer="word",
        ngram_range=(1, 2),
        n_features=N_FEATURES,
        alternate_sign=False,
        norm="l2",
        lowercase=False,
        token_pattern=WORD_PATTERN.pattern,
    )
    return char, word


WORD_PATTERN = re.compile(r"(?u)\b\w+\b")
_CACHE_LIMIT = 200_000  # entries per cache; hostile input cannot grow them without bound
_char_cache: dict[str, np.ndarray] = {}
_word_cache: dict[str, int] = {}


def _bucket(gram: str) -> int:
    """scikit-learn's feature index: signed murmurhash3 of the UTF-8 bytes, absolute value
    modulo the table size (with its special case for -2**31)."""
    # scikit-learn takes seconds to import: loaded only where the n-gram heads are fitted or run
    from sklearn.utils import murmurhash3_32

    h = murmurhash3_32(gram, seed=0)
    return (2147483647 - (N_FEATURES - 1)) % N_FEATURES if h == -2147483648 else abs(h) % N_FEATURES


def _char_buckets(word: str) -> np.ndarray:
    """Feature indices of one word's ``char_wb`` 2-5-grams (the word padded with spaces; a word
    shorter than n counts once), cached: in a stream of posts most words have been seen."""
    found = _char_cache.get(word)
    if found is None:
        padded = f" {word} "
        size = len(padded)
        grams: list[str] = []
        for n in range(2, 6):
            if size <= n:
                grams.append(padded)
                break
            grams.extend(padded[o : o + n] for o in range(size - n + 1))
        found = np.fromiter((_bucket(g) for g in grams), dtype=np.int32, count=len(grams))
        if len(_char_cache) >= _CACHE_LIMIT:
            _char_cache.clear()
        _char_cache[word] = found
    return found


def _word_bucket(gram: str) -> int:
    found = _word_cache.get(gram)
    if found is None:
        found = _bucket(gram)
        if len(_word_cache) >= _CACHE_LIMIT:
            _word_cache.clear()
        _word_cache[gram] = found
    return found


def _hashed_matrix(cols: np.ndarray, lengths: np.ndarray) -> csr_matrix:
    """Rows of bucket indices (``lengths[i]`` of them for row i) as l2-normalised counts."""
    # scikit-learn takes seconds to import: loaded only where the n-gram heads are fitted or run
    from sklearn.preprocessing import normalize

    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    x = csr_matrix((np.ones(len(cols)), cols, indptr), shape=(len(lengths), N_FEATURES))
    x.sum_duplicates()
    return normalize(x, norm="l2", copy=False)


def features(texts: list[str]) -> csr_matrix:
    """Hashed char 2-5-grams and word 1-2-grams, each block l2-normalised: the same matrix as
    scikit-learn's ``HashingVectorizer`` pair of :func:`_vectorizers`, several times faster
    because each distinct word is hashed once per process instead of once per occurrence, and
    a text's char n-grams are whole cached arrays joined in one call."""

    prepared = [lexical_text(t) for t in texts]
    words = [text.split() for text in prepared]
    per_word = [_char_buckets(w) for ws in words for w in ws]
    word_sizes = np.fromiter((len(a) for a in per_word), dtype=np.int64, count=len(per_word))
    ends = np.cumsum(np.fromiter((len(ws) for ws in words), dtype=np.int64, count=len(words)))
    totals = np.concatenate([[0], np.cumsum(word_sizes)])
    char_lengths = np.diff(np.concatenate([[0], totals[ends]]))
    char_cols = np.concatenate(per_word) if per_word else np.zeros(0, dtype=np.int32)
    word_rows = []
    for text in prepared:
        tokens = WORD_PATTERN.findall(text)
        row = [_word_bucket(t) for t in tokens]
        row.extend(_word_bucket(f"{a} {b}") for a, b in itertools.pairwise(tokens))
        word_rows.append(row)
    word_lengths = np.fromiter((len(r) for r in word_rows), dtype=np.int64, count=len(word_rows))
    word_cols = np.fromiter((c for r in word_rows for c in r), dtype=np.int32, count=int(word_lengths.sum()))
    return hstack([_hashed_matrix(char_cols, char_lengths), _hashed_matrix(word_cols, word_lengths)], format="csr")


def sklearn_features(texts: list[str]) -> csr_matrix:
    """:func:`features` computed by scikit-learn itself (the reference the tests compare with)."""

    char, word = _vectorizers()
    prepared = [lexical_text(t) for t in texts]
    return csr_matrix(hstack([char.transform(prepared), word.transform(prepared)], format="csr"))


class LexicalModel:
    """Linear heads over hashed n-grams: ``logits(texts)`` -> the same columns as the
    transformer (offer, 7 substances, and the intents when fitted with them)."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        self.coef = coef.astype(np.float32)
        self.intercept = intercept.astype(np.float32)
        self._weights = np.ascontiguousarray(self.coef.T)  # (features, 8): sparse @ dense wants C order

    @classmethod
    def fit(
        cls,
        texts: list[str],
        labels: np.ndarray,
        subs: np.ndarray,
        has: np.ndarray,
        seed: int,
        intents: np.ndarray | None = None,
    ) -> LexicalModel:
        """Fit the heads; ``intents`` (one index into ``INTENTS`` per text) adds one
        one-vs-rest head per intent."""
        # scikit-learn takes seconds to import: loaded only where the n-gram heads are fitted or run
        from sklearn.linear_model import SGDClassifier

        x = features(texts)
        width = 1 + len(SUBSTANCES) + (len(INTENTS) if intents is not None else 0)
        coef = np.zeros((width, x.shape[1]), dtype=np.float32)
        intercept = np.zeros(width, dtype=np.float32)

        def head(xs: csr_matrix, ys: np.ndarray) -> tuple[np.ndarray, float]:
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
        for k in range(len(INTENTS)) if intents is not None else ():
            column = 1 + len(SUBSTANCES) + k
            y = (np.asarray(intents) == k).astype(int)
            if y.min() == y.max():
                intercept[column] = 5.0 if y.max() else -5.0
                continue
            coef[column], intercept[column] = head(x, y)
        return cls(coef, intercept)

    def logits(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.coef.shape[0]), dtype=np.float32)
        x = features(texts)
        return np.asarray(x @ self._weights, dtype=np.float32) + self.intercept

    def save(self, model_dir: Path) -> None:
        np.savez_compressed(model_dir / LEXICAL_FILE, coef=self.coef.astype(np.float16), intercept=self.intercept)

    @classmethod
    def load(cls, model_dir: Path) -> LexicalModel | None:
        path = model_dir / LEXICAL_FILE
        if not path.is_file():
            return None
        with np.load(path) as data:
            return cls(data["coef"].astype(np.float32), data["intercept"])
