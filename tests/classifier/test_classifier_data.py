"""The data behind the model: vendor split, generator determinism, calibration helpers."""

from __future__ import annotations

import numpy as np
import pytest

from classifier.data import load_listings, vendor_split
from classifier.lexical import LexicalModel, features, lexical_text, sklearn_features
from classifier.metrics import (
    binary_report,
    choose_threshold,
    expected_calibration_error,
    fit_temperature,
    precision_lower_bound,
    sigmoid,
    substance_predictions,
)
from classifier.synth import NEG_T, OFFER_T, SocialPostGenerator, split_templates
from dragnet.documents import SUBSTANCES
from dragnet.settings import get_settings
from extract.text import _fold_char
from extract.text import fold as _fold


def test_listings_are_split_by_vendor_never_by_row() -> None:
    data_dir = get_settings().training_data_dir
    if not (data_dir / "darknet_listings.csv").is_file():
        pytest.skip(f"training data not present at {data_dir}")
    splits = load_listings(data_dir)
    vendors = {name: {(ex.source, ex.group) for ex in items} for name, items in splits.items()}
    assert not vendors["train"] & vendors["test"]
    assert not vendors["train"] & vendors["validation"]
    assert not vendors["validation"] & vendors["test"]
    total = sum(len(v) for v in splits.values())
    assert 0.05 < len(splits["test"]) / total < 0.2
    for ex in splits["test"][:500]:
        assert ex.label in (0, 1) and all(s in SUBSTANCES for s in ex.substances)
    assert vendor_split("vendorX", "agora") == vendor_split("vendorX", "agora")


def test_generator_is_deterministic_and_labelled() -> None:
    a = [(p.text, p.label) for p in SocialPostGenerator(seed=7).generate(300)]
    b = [(p.text, p.label) for p in SocialPostGenerator(seed=7).generate(300)]
    assert a == b
    posts = SocialPostGenerator(seed=7).generate(2000)
    assert {p.lang for p in posts} == {"en", "es", "de", "fr", "pt", "ru"}
    positives = [p for p in posts if p.label]
    assert 0.3 < len(positives) / len(posts) < 0.6
    assert all(p.substances and set(p.substances) <= set(SUBSTANCES) for p in positives)
    assert all(not p.substances for p in posts if not p.label)
    kinds = {p.kind for p in posts if not p.label}
    assert {"news", "harm_reduction", "recovery", "buyer", "innocent", "vendor_other", "pharmacy"} <= kinds


def test_validation_and_test_templates_are_disjoint_from_training_templates() -> None:
    lists = list(OFFER_T.values()) + [t for kind in NEG_T.values() for t in kind.values()]
    for templates in lists:
        train = set(split_templates(templates, "train"))
        validation = set(split_templates(templates, "validation"))
        test = set(split_templates(templates, "test"))
        if len(templates) >= 4:
            assert not train & test and not validation & test
        else:  # too short to hold one out: every split uses the same shapes
            assert train == validation == test
        assert validation == train or not validation & train  # a short list validates on training shapes
    english = OFFER_T["en"]
    assert len(set(split_templates(english, "validation"))) >= 3 and len(set(split_templates(english, "test"))) >= 6
    seen = {p.text for p in SocialPostGenerator(seed=5, split="train").generate(3000)}
    # English posts of four words or more (emoji-only posts and the short non-English lists
    # cannot be held out, as the model card says) are never training posts
    held = [
        p.text
        for p in SocialPostGenerator(seed=5, split="test").generate(1000)
        if p.lang == "en" and sum(w.isalpha() for w in p.text.split()) >= 4
    ]
    assert len(held) > 300 and not [text for text in held if text in seen]


def test_temperature_scaling_recovers_a_known_temperature() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, 20000)
    labels = (rng.random(20000) < sigmoid(true_logits)).astype(float)
    overconfident = true_logits * 3.0
    t = fit_temperature(overconfident, labels)
    assert t == pytest.approx(3.0, rel=0.1)
    assert expected_calibration_error(labels, sigmoid(overconfident / t)) < expected_calibration_error(
        labels, sigmoid(overconfident)
    )


def test_threshold_meets_the_precision_target_with_confidence() -> None:
    rng = np.random.default_rng(1)
    labels = rng.random(5000) < 0.4
    probs = np.clip(labels * 0.35 + rng.random(5000) * 0.65, 0, 1)
    thr = choose_threshold(probs, labels.astype(float), 0.95)
    report = binary_report(labels.astype(int), probs, thr)
    tp = round(report["recall"] * report["positives"])
    predicted = round(tp / report["precision"])
    assert precision_lower_bound(np.array([tp]), np.array([predicted]), 0.95)[0] >= 0.95
    assert report["precision"] > 0.955  # the point estimate keeps a margin over the target
    # the lowest such threshold: one step lower the bound falls below the target
    lower = binary_report(labels.astype(int), probs, thr - 0.02)
    lower_tp = round(lower["recall"] * lower["positives"])
    assert precision_lower_bound(np.array([lower_tp]), np.array([round(lower_tp / lower["precision"])]), 0.95)[0] < 0.95
    # more validation data, smaller margin: the bound tends to the point estimate
    assert (
        precision_lower_bound(np.array([950]), np.array([1000]), 0.95)[0]
        < 0.95
        < precision_lower_bound(np.array([96_000]), np.array([100_000]), 0.95)[0]
    )


def test_every_sale_gets_at_least_one_substance() -> None:
    probs = np.array([[0.1] * 7, [0.9, 0.1, 0.8, 0.1, 0.1, 0.1, 0.1]])
    pred = substance_predictions(probs, {s: 0.5 for s in SUBSTANCES})
    assert pred[0].sum() == 1 and pred[1].tolist() == [True, False, True, False, False, False, False]


def test_ngram_heads_learn_fold_leetspeak_and_round_trip(tmp_path) -> None:
    assert lexical_text("C0CA1NE ❄️").startswith("cocaine")
    texts = [
        "cocaine 1g $80 wickr",
        "xanax bars for sale",
        "weed 28g dm",
        "snow tyres for sale",
        "news: police seize cocaine",
        "kush buds 7g",
        "coca cola 2l",
        "valium 10mg x100 escrow",
    ] * 5
    labels = np.array([1, 1, 1, 0, 0, 1, 0, 1] * 5, dtype=np.float32)
    subs = np.zeros((len(texts), 7), dtype=np.float32)
    for i, t in enumerate(texts):
        if "cocaine 1g" in t:
            subs[i, 1] = 1
        elif "xanax" in t or "valium" in t:
            subs[i, 5] = 1
        elif labels[i]:
            subs[i, 2] = 1
    model = LexicalModel.fit(texts, labels, subs, labels, seed=1)
    model.save(tmp_path)
    loaded = LexicalModel.load(tmp_path)
    assert loaded is not None
    logits = loaded.logits(["c0ca1ne 1g $80 wickr", "snow tyres for sale"])
    assert logits[0, 0] > logits[1, 0]
    assert int(np.argmax(logits[0, 1:])) == 1
    assert LexicalModel.load(tmp_path / "nothing") is None


def test_cached_ngram_features_equal_scikit_learns_hashing_vectorizer() -> None:
    """The engine's fast feature path must give the matrix the n-gram heads were trained on."""

    texts = [
        "",
        " ",
        "a",
        "ab",
        "abcd",
        "C0CA1NE ❄️❄️ dm @plug_uk",
        "İstanbul ﬁne 𝐜𝐨𝐤𝐞 ÉCRIS-MOI",
        "ктo продаёт мефедрон 1г",
        "word word word  word\tword\nword",
        "x" * 3000,
        "oxy 30mg " * 80,
        "señor 🍄 shrooms 3.5g €40 telegram: @shroomy",
    ]
    for _ in range(2):  # the second pass reads the per-word caches
        fast, slow = features(texts), sklearn_features(texts)
        assert fast.shape == slow.shape
        assert abs(fast - slow).max() < 1e-12 and (fast != slow).nnz == 0


def test_fold_table_matches_the_per_character_fold() -> None:
    sample = "".join(chr(c) for c in [*range(32, 0x250), *range(0x370, 0x500), 0x130, 0x1E9E, 0xFB01, 0x2160, 0x1D41C])
    assert _fold(sample) == "".join(_fold_char(c) for c in sample)
    assert len(_fold(sample)) == len(sample)
    assert _fold("ABC déf") == "abc def"
