"""``dragnet evaluate``: the held-out figures of a model, written into its card and a report.

Precision / recall / F1, the PR curve, the confusion matrix, calibration error (ECE), per source
(real listings per market, generated social posts per kind, pharmacy, shop text) and per
language, substance macro-F1 on the positives, the int8-vs-fp32 change, and robustness cases.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifier.card import write_card
from classifier.cascade import settle
from classifier.corpus import CorpusPost, evaluation_posts
from classifier.data import DataPlan, Example, build_datasets
from classifier.engine import ClassifierEngine, named_substances
from classifier.evidence import find_evidence
from classifier.meta import ModelMeta
from classifier.metrics import binary_report, pr_curve, substance_predictions, substance_report
from dragnet.documents import SUBSTANCES

# Robustness cases: (name, text, expected is_drug_sale).  Hand-written, not from the generator.
ROBUSTNESS: list[tuple[str, str, bool]] = [
    ("leetspeak", "c0c41n3 f0r s4l3, 3.5g $90, w1ckr: fr0sty", True),
    ("leetspeak", "x4n4x b4rs 2mg, 100 f0r $150, DM", True),
    ("emoji_only", "❄️❄️❄️ 🔌 📲", True),
    ("emoji_only", "🍁🍁🔥 💨 📦✈️ 💰", True),
    ("mixed_language", "Vendo coke 🇪🇸 top quality, envío a toda Europa, tele @madrid_blanca", True),
    ("mixed_language", "Продаю weed и гашиш, Berlin Lieferung, schreib mir auf telegram", True),
    (
        "long_listing",
        "MDMA crystals 84% lab tested, 10g - free shipping. "
        + "We ship every day from NL in vacuum sealed stealth packaging with tracking. " * 120
        + "Contact: wickr mollymaster. Escrow accepted.",
        True,
    ),
    ("innocent", "Molly and I are going ice skating, then coke floats at the diner", False),
    ("innocent", "Selling 4 snow tyres, barely used, $200, DM me", False),
    ("news", "Police seized 2 tonnes of cocaine hidden in banana boxes at Antwerp port", False),
    ("harm_reduction", "Test your MDMA before the festival, free drug checking at the info tent", False),
    ("buyer", "anyone know where to get xanax in leeds? need some for my nerves", False),
    ("vendor_other", "Fresh fullz USA with SSN + DOB, $15 each, escrow, wickr: cardking", False),
    ("empty", "", False),
]


def _group(ex: Example) -> str:
    if ex.source.startswith("listing"):
        return "listings"
    if ex.source.startswith("generated"):
        return "generated"
    if ex.source.startswith("written"):
        return "written"
    return ex.source


def _subst_eval(examples: list[Example], sub_probs: np.ndarray, thresholds: dict[str, float]) -> dict[str, Any]:
    idx = [i for i, ex in enumerate(examples) if ex.label and ex.substances]
    if not idx:
        return {"macro_f1": None, "n": 0}
    truth = np.zeros((len(idx), len(SUBSTANCES)), dtype=bool)
    for r, i in enumerate(idx):
        for s in examples[i].substances:
            truth[r, SUBSTANCES.index(s)] = True
    pred = substance_predictions(sub_probs[idx], thresholds)
    return substance_report(truth, pred)


def evaluate_model(
    model_dir: Path, examples: list[Example], *, show_progress: bool = False, compare_backends: bool = True
) -> dict[str, Any]:
    """All held-out figures of the model in ``model_dir`` on ``examples`` (the test split)."""

    engine = ClassifierEngine(model_dir, device="cpu", backend="onnx-int8", cascade=False)
    texts = [ex.text for ex in examples]
    labels = np.array([ex.label for ex in examples])
    started = time.perf_counter()
    full = engine.scores(texts)
    seconds = time.perf_counter() - started
    thr = engine.threshold
    # the figures are the deployed engine's: with the cascade when the model has one
    scores = type(full)(score=full.score.copy(), substances=full.substances.copy())
    cascade_report: dict[str, Any] | None = None
    if engine.meta.cascade and engine.lexical is not None:
        settled = settle(scores.score, scores.substances, engine.lexical.logits(texts), engine.meta.cascade)
        r_full = binary_report(labels, full.score, thr)
        r_cascade = binary_report(labels, scores.score, thr)
        cascade_report = {
            "settled_share": round(float(settled.mean()), 4),
            "low": round(engine.meta.cascade["low"], 4),
            "high": round(engine.meta.cascade["high"], 4),
            "decision_agreement": round(float(np.mean((full.score >= thr) == (scores.score >= thr))), 5),
            "full": {k: r_full[k] for k in ("precision", "recall", "f1")},
            "cascade": {k: r_cascade[k] for k in ("precision", "recall", "f1")},
        }
    report: dict[str, Any] = {
        "backend": "onnx-int8" + (" + cascade" if cascade_report else ""),
        "threshold": round(thr, 4),
        "temperature": round(engine.meta.temperature, 4),
        "n": len(examples),
        "seconds": round(seconds, 1),
        "cascade": cascade_report,
    }
    report["overall"] = binary_report(labels, scores.score, thr)
    report["pr_curve"] = pr_curve(labels, scores.score)
    groups: dict[str, list[int]] = {}
    sources: dict[str, list[int]] = {}
    langs: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        groups.setdefault(_group(ex), []).append(i)
        sources.setdefault(ex.source, []).append(i)
        langs.setdefault(ex.lang, []).append(i)
    report["by_group"] = {}
    for name, idx in sorted(groups.items()):
        sub = [examples[i] for i in idx]
        entry = binary_report(labels[idx], scores.score[idx], thr)
        entry["substances"] = _subst_eval(sub, scores.substances[idx], engine.meta.substance_thresholds)
        if name in ("listings", "generated"):
            entry["pr_curve"] = pr_curve(labels[idx], scores.score[idx], points=11)
        report["by_group"][name] = entry
    report["by_source"] = {
        name: binary_report(labels[idx], scores.score[idx], thr) for name, idx in sorted(sources.items())
    }
    report["by_language"] = {
        name: binary_report(labels[idx], scores.score[idx], thr) for name, idx in sorted(langs.items())
    }
    report["substances_overall"] = _subst_eval(examples, scores.substances, engine.meta.substance_thresholds)

    if compare_backends:
        fp32 = ClassifierEngine(model_dir, device="cpu", backend="onnx-fp32", cascade=False)
        s32 = fp32.scores(texts)
        r32 = binary_report(labels, s32.score, thr)
        r8 = binary_report(labels, full.score, thr)
        g = groups.get("listings", [])
        report["quantization"] = {
            "fp32": {
                "f1": r32["f1"],
                "precision": r32["precision"],
                "recall": r32["recall"],
                "listings_f1": binary_report(labels[g], s32.score[g], thr)["f1"] if g else None,
                "substance_macro_f1": _subst_eval(examples, s32.substances, fp32.meta.substance_thresholds)["macro_f1"],
            },
            "int8": {
                "f1": r8["f1"],
                "precision": r8["precision"],
                "recall": r8["recall"],
                "listings_f1": binary_report(labels[g], full.score[g], thr)["f1"] if g else None,
                "substance_macro_f1": _subst_eval(examples, full.substances, engine.meta.substance_thresholds)[
                    "macro_f1"
                ],
            },
            "decision_agreement": round(float(np.mean((s32.score >= thr) == (full.score >= thr))), 5),
            "max_abs_score_change": round(float(np.max(np.abs(s32.score - full.score))), 4),
            "mean_abs_score_change": round(float(np.mean(np.abs(s32.score - full.score))), 5),
        }
    deployed = ClassifierEngine(model_dir, device="cpu", backend="onnx-int8")
    verdicts = deployed.classify([t for _, t, _ in ROBUSTNESS])
    report["robustness"] = [
        {
            "case": name,
            "text": text[:80] + ("…" if len(text) > 80 else ""),
            "expected": expected,
            "is_drug_sale": v.is_drug_sale,
            "score": round(v.score, 4),
            "ok": v.is_drug_sale == expected,
            "substances": sorted(v.substances),
        }
        for (name, text, expected), v in zip(ROBUSTNESS, verdicts, strict=True)
    ]
    return report


def run_evaluation(
    model_dir: Path, data_dir: Path, *, show_progress: bool = True, news: Path | None = None
) -> dict[str, Any]:
    """Rebuild the model's test split (same plan and seed as its training) and evaluate it, and
    evaluate it on the frozen out-of-distribution set (reported apart); ``news``: a JSONL file of
    sentences from real news reports (``text`` per line), whose flagged share is reported too.
    Updates ``dragnet.json``, the model card and ``evaluation.md``."""
    meta = ModelMeta.load(model_dir)
    known = {k: v for k, v in meta.data.get("plan", {}).items() if k in DataPlan.__dataclass_fields__}
    plan = DataPlan(**known)
    datasets = build_datasets(data_dir, plan, meta.seed)
    metrics = evaluate_model(model_dir, datasets["test"], show_progress=show_progress)
    engine = ClassifierEngine(model_dir, device="cpu")
    metrics["ood"] = evaluate_ood(engine, evaluation_posts())
    if news is not None:
        metrics["ood"]["news_sentences"] = news_report(engine, news)
    meta.metrics = metrics
    meta.save(model_dir)
    write_card(model_dir, meta)
    return meta.metrics


def news_report(engine: ClassifierEngine, path: Path) -> dict[str, Any]:
    """How many sentences of real news reports the engine calls a sale (they never should be)."""
    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    flagged = sum(verdict.is_drug_sale for verdict in engine.classify(texts))
    return {"n": len(texts), "flagged": flagged, "share": round(flagged / max(1, len(texts)), 4), "file": path.name}


def _substance_sets(engine: ClassifierEngine, texts: list[str], sub_probs: np.ndarray) -> list[set[str]]:
    """The substances the engine would report for each text were it a sale: the thresholded
    substance heads plus any substance named outright (what a positive verdict carries)."""
    chosen = substance_predictions(sub_probs, engine.meta.substance_thresholds)
    out = []
    for k, text in enumerate(texts):
        names = {name for j, name in enumerate(SUBSTANCES) if chosen[k, j]}
        out.append(names | named_substances(find_evidence(text)))
    return out


def _substance_f1(truth: list[tuple[str, ...]], predicted: list[set[str]]) -> dict[str, Any]:
    t = np.array([[name in row for name in SUBSTANCES] for row in truth], dtype=bool).reshape(-1, len(SUBSTANCES))
    p = np.array([[name in row for name in SUBSTANCES] for row in predicted], dtype=bool).reshape(-1, len(SUBSTANCES))
    return substance_report(t, p)


def evaluate_ood(engine: ClassifierEngine, posts: list[CorpusPost]) -> dict[str, Any]:
    """Figures on the frozen out-of-distribution set (:mod:`classifier.corpus`), with the engine
    as deployed (its backend and cascade).  Binary figures overall and per language, author
    brief, platform and hard/easy case; substance macro-F1 on the sale posts that name a class
    (the substances the engine would report for them); intent macro-F1 when the model predicts
    intent; and the confidently wrong: sales scored under 0.1, non-sales over 0.9."""
    texts = [post.text for post in posts]
    labels = np.array([post.sale for post in posts])
    scores = engine.scores(texts)
    thr = engine.threshold
    report: dict[str, Any] = {"n": len(posts), "threshold": round(thr, 4), "model": engine.version}
    report["overall"] = binary_report(labels, scores.score, thr)

    def sliced(key: Callable[[CorpusPost], str]) -> dict[str, Any]:
        groups: dict[str, list[int]] = {}
        for i, post in enumerate(posts):
            groups.setdefault(key(post), []).append(i)
        return {name: binary_report(labels[idx], scores.score[idx], thr) for name, idx in sorted(groups.items())}

    report["by_language"] = sliced(lambda p: p.lang)
    report["by_author"] = sliced(lambda p: p.author)
    report["by_platform"] = sliced(lambda p: p.platform)
    report["by_case"] = sliced(lambda p: ("hard " if p.hard else "plain ") + ("sale" if p.sale else "not sale"))
    by_intent: dict[str, list[int]] = {}
    for i, post in enumerate(posts):
        by_intent.setdefault(post.intent, []).append(i)
    report["by_intent"] = {  # how many of each intent the engine calls a sale
        name: {"n": len(idx), "flagged": int(np.sum(scores.score[idx] >= thr))}
        for name, idx in sorted(by_intent.items())
    }
    named = [i for i, post in enumerate(posts) if post.sale and post.substances]
    predicted = _substance_sets(engine, [texts[i] for i in named], scores.substances[named])
    report["substances"] = _substance_f1([posts[i].substances for i in named], predicted)
    report["sure_and_wrong"] = {
        "missed_sales_under_0.1": int(np.sum((labels == 1) & (scores.score < 0.1))),
        "false_alarms_over_0.9": int(np.sum((labels == 0) & (scores.score > 0.9))),
    }
    report["intent"] = None
    if engine.meta.intents:  # the verdicts' intents (sell exactly for the sales)
        verdict_intents = [verdict.intent or "other" for verdict in engine.classify(texts)]
        report["intent"] = intent_report([post.intent for post in posts], verdict_intents)
    return report


def intent_report(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Per-intent F1 and their macro mean (over the intents present in ``truth``)."""
    per: dict[str, dict[str, Any]] = {}
    for name in sorted(set(truth)):
        tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t == name and p == name)
        fp = sum(1 for t, p in zip(truth, predicted, strict=True) if t != name and p == name)
        fn = sum(1 for t, p in zip(truth, predicted, strict=True) if t == name and p != name)
        per[name] = {"f1": round(2 * tp / (2 * tp + fp + fn), 4) if tp + fp + fn else 0.0, "support": tp + fn}
    macro = float(np.mean([v["f1"] for v in per.values()])) if per else 0.0
    return {"macro_f1": round(macro, 4), "per_intent": per}
