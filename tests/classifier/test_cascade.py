"""The n-gram-first cascade: band selection on validation, and the engine with it on and off."""

from __future__ import annotations

import numpy as np

from classifier.cascade import fit_cascade, settle, settled_mask


def test_band_keeps_the_full_models_verdicts_within_tolerance() -> None:
    rng = np.random.default_rng(3)
    labels = rng.random(6000) < 0.45
    lexical = np.where(labels, 2.5, -2.5) + rng.normal(0, 1.8, labels.size)  # a noisy n-gram logit
    full_positive = (np.where(labels, 3.0, -3.0) + rng.normal(0, 1.0, labels.size)) > 0  # a sharper full model
    cascade = fit_cascade(lexical, labels, full_positive, tolerance=0.005)
    assert 0.0 < cascade["low"] < cascade["high"] < 1.0
    settled = settled_mask(lexical, cascade)
    assert 0.3 < settled.mean() < 0.95  # it settles a good share, not everything
    sure_yes = settled & (lexical > 0)
    sure_no = settled & (lexical <= 0)
    assert (~full_positive[sure_yes]).mean() <= 0.005 and full_positive[sure_no].mean() <= 0.005
    assert cascade["validation_agreement"] >= 1 - 0.005


def test_settle_overwrites_only_the_settled_texts() -> None:
    cascade = {"a": 1.0, "c": 0.0, "low": 0.05, "high": 0.95}
    lexical = np.array([[-6.0] + [0.0] * 7, [0.0] * 8, [6.0] + [4.0] * 7], dtype=np.float32)
    score = np.array([0.9, 0.5, 0.1])
    substances = np.full((3, 7), 0.5)
    settled = settle(score, substances, lexical, cascade)
    assert settled.tolist() == [True, False, True]
    assert score[0] < 0.01 and score[1] == 0.5 and score[2] > 0.99
    assert substances[1].tolist() == [0.5] * 7 and (substances[2] > 0.98).all()


def test_no_band_when_the_ngram_head_is_never_sure() -> None:
    rng = np.random.default_rng(4)
    labels = rng.random(2000) < 0.5
    cascade = fit_cascade(rng.normal(0, 1, 2000), labels, labels, tolerance=0.001)  # lexical is pure noise
    assert not settled_mask(rng.normal(0, 1, 2000), cascade).mean() > 0.05
