"""``dragnet bench classify``: posts per second of the classifier engine against a plain
``transformers`` pipeline on the same model, measured in the same run.

CPU: texts of exactly 64 and 128 tokens; the engine (ONNX Runtime int8, length-bucketed
dynamic batches, the n-gram-first cascade of ``classifier.cascade``), the same engine with the
cascade off (the transformer reads every post) and the baseline
(``pipeline("text-classification")`` with its defaults: one post per forward call, fp32
PyTorch).  GPU, when CUDA is present: the engine's bf16 path on a large batch, tokenisation
included.  Contenders run in turns (median of 3 rounds) so that load from other processes on a
shared machine falls on all of them.  Figures only; nothing passes or fails on a time.
"""

from __future__ import annotations

import json
import os
import time
from functools import partial
from typing import Any

from classifier.engine import ClassifierEngine
from classifier.model_store import ensure_default_model
from classifier.synth import SocialPostGenerator


def _texts_of_length(tokenizer: Any, n: int, tokens: int, seed: int = 5) -> list[str]:
    """``n`` distinct generated posts, each cut to exactly ``tokens`` tokens with [CLS]/[SEP]."""

    gen = SocialPostGenerator(seed=seed)
    out: list[str] = []
    pool = [p.text for p in gen.generate(n * 3)]
    i = 0
    while len(out) < n:
        ids: list[int] = []
        while len(ids) < tokens - 2:
            ids += tokenizer(pool[i % len(pool)], add_special_tokens=False)["input_ids"]
            i += 1
        text = tokenizer.decode(ids[: tokens - 2])
        if len(tokenizer(text)["input_ids"]) == tokens:
            out.append(text)
    return out


def _rate(fn: Any, texts: list[str], min_seconds: float = 1.5) -> float:
    done = 0
    started = time.perf_counter()
    while True:
        fn(texts)
        done += len(texts)
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return done / elapsed


def _interleaved(contenders: dict[str, tuple[Any, list[str]]], rounds: int = 3) -> dict[str, float]:
    """Median posts/s of each contender over ``rounds`` rounds run in turn, so that a busy
    shared machine slows every contender alike instead of whichever ran during a spike."""
    for fn, texts in contenders.values():
        fn(texts[:8])  # warm-up
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, (fn, texts) in contenders.items():
            rates[name].append(_rate(fn, texts))
    return {name: sorted(r)[len(r) // 2] for name, r in rates.items()}


def run(engine_posts: int = 512, baseline_posts: int = 96) -> dict[str, Any]:
    # torch/transformers take seconds to import: loaded only where the network runs
    import torch
    from transformers import pipeline

    from classifier.model import DragnetForDrugSale

    model_dir = ensure_default_model()
    engine = ClassifierEngine(model_dir, device="cpu", backend="onnx-int8")
    encoder_only = ClassifierEngine(model_dir, device="cpu", backend="onnx-int8", cascade=False)
    fp32_engine = ClassifierEngine(model_dir, device="cpu", backend="onnx-fp32", cascade=False)
    model = DragnetForDrugSale.from_pretrained(str(model_dir), local_files_only=True).eval()
    baseline = pipeline(
        "text-classification",
        model=model,
        tokenizer=engine.tokenizer,
        device=-1,
        top_k=None,
        function_to_apply="sigmoid",
    )
    result: dict[str, Any] = {
        "model": engine.version,
        "model_dir": str(model_dir),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "engine": "onnxruntime int8 dynamic quantisation, length-bucketed dynamic batches"
        + (", n-gram-first cascade" if engine.cascade else " (this model has no cascade)"),
        "baseline": "transformers pipeline('text-classification'), fp32 PyTorch, default batch size 1",
        "cpu": {},
    }
    for tokens in (64, 128):
        texts = _texts_of_length(engine.tokenizer, engine_posts, tokens)
        rates = _interleaved(
            {
                "engine": (engine.classify, texts),
                "encoder_only": (encoder_only.classify, texts),
                "fp32": (fp32_engine.classify, texts),
                "pipeline": (partial(baseline, truncation=True, max_length=tokens), texts[:baseline_posts]),
            }
        )
        engine_rate, fp32_rate, base_rate = rates["engine"], rates["fp32"], rates["pipeline"]
        result["cpu"][str(tokens)] = {
            "engine_posts_per_s": round(engine_rate, 1),
            "engine_encoder_share": round(engine.scores(texts).encoder_share, 3),
            "engine_no_cascade_posts_per_s": round(rates["encoder_only"], 1),
            "engine_fp32_no_cascade_posts_per_s": round(fp32_rate, 1),
            "pipeline_posts_per_s": round(base_rate, 1),
            "ratio": round(engine_rate / base_rate, 2),
            "ratio_no_cascade": round(rates["encoder_only"] / base_rate, 2),
        }
    if torch.cuda.is_available():
        gpu = ClassifierEngine(model_dir, device="cuda")
        texts = _texts_of_length(gpu.tokenizer, 2048, 128)
        big = texts * 50  # 102,400 posts, tokenised on every call
        gpu.classify(big[:4096])
        torch.cuda.synchronize()
        started = time.perf_counter()
        gpu.scores(big)
        torch.cuda.synchronize()
        elapsed = time.perf_counter() - started
        result["gpu"] = {
            "device": torch.cuda.get_device_name(0),
            "tokens": 128,
            "posts": len(big),
            "posts_per_s": round(len(big) / elapsed, 1),
            "includes_tokenisation": True,
        }
    else:
        result["gpu"] = None
    return result


def main(json_output: bool = False) -> None:
    result = run()
    if json_output:
        print(json.dumps(result))
        return
    print(f"classifier benchmark: model {result['model']} ({result['cpu_cores']} CPU cores)")
    print(f"  engine:   {result['engine']}")
    print(f"  baseline: {result['baseline']}")
    for tokens, r in result["cpu"].items():
        print(
            f"  CPU {tokens:>3} tokens: engine {r['engine_posts_per_s']:>7.1f} posts/s "
            f"(transformer read {100 * r['engine_encoder_share']:.0f}%) | without cascade "
            f"{r['engine_no_cascade_posts_per_s']:>7.1f} | "
            f"fp32 without cascade {r['engine_fp32_no_cascade_posts_per_s']:>7.1f} | pipeline "
            f"{r['pipeline_posts_per_s']:>6.1f} posts/s | "
            f"ratio {r['ratio']:.2f}x ({r['ratio_no_cascade']:.2f}x without cascade)"
        )
    if result["gpu"]:
        g = result["gpu"]
        print(f"  GPU {g['device']}: {g['posts_per_s']:.0f} posts/s at {g['tokens']} tokens (incl. tokenisation)")
    else:
        print("  GPU: no CUDA device on this machine")
