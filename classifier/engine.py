"""The batched inference engine: one API over three backends.

- CPU: ONNX Runtime with int8 dynamic quantisation (``onnx/model.int8.onnx``, exported from the
  PyTorch weights once and kept in the model directory); ``onnx-fp32`` and ``torch`` backends
  exist for comparison (the quantisation's accuracy change is in the model card).
- CUDA: the PyTorch model in bf16 with large batches.

Whatever the backend, texts are tokenised in one call (fast tokenizer), a long text keeps head
and tail within the token budget, texts are sorted by length and cut into batches by a token
budget (length bucketing + dynamic batch size: many short posts per batch, few long listings),
then results go back to input order.  Scores are calibrated (temperature) and compared with
the threshold chosen on validation; every positive gets its rule evidence and a one-sentence
explanation for a takedown notice.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from classifier.cascade import settle, settled_mask
from classifier.evidence import explain, find_evidence
from classifier.export import ONNX_DIR, ONNX_FORMAT, ONNX_FP32, ONNX_INT8, export_onnx, onnx_export_format
from classifier.lexical import LexicalModel
from classifier.meta import INTENT, SUB, ModelMeta
from classifier.metrics import sigmoid, softmax, substance_predictions
from classifier.tokens import encode_head_tail
from dragnet.documents import SUBSTANCES, Classification, Evidence, Intent
from dragnet.settings import get_settings

log = logging.getLogger(__name__)

Backend = Literal["onnx-int8", "onnx-fp32", "torch", "cuda-bf16"]


def _default_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import torch  # heavy (seconds): asked only when the device is left to the engine

        return "cuda" if torch.cuda.is_available() else "cpu"
    except Exception:  # noqa: BLE001 - a broken CUDA install means the CPU, never a failed start
        return "cpu"


@dataclass
class Scores:
    """Calibrated outputs for a batch, in input order."""

    score: np.ndarray  # (n,) probability of "offers drugs for sale"
    substances: np.ndarray  # (n, 7) substance probabilities
    encoder_share: float = 1.0  # share of the texts the transformer read (the rest: the cascade)
    intents: np.ndarray | None = None  # (n, 8) intent probabilities; None: the model has no intent head


class ClassifierEngine:
    """Load once, call :meth:`classify` with lists of texts; safe to share between threads."""

    def __init__(
        self,
        model_dir: Path,
        device: str = "auto",
        backend: Backend | None = None,
        max_length: int | None = None,
        threads: int | None = None,
        cascade: bool = True,
    ) -> None:
        # torch/transformers take seconds to import: loaded only where the network runs
        from transformers import AutoTokenizer

        self.model_dir = Path(model_dir)
        self.meta = ModelMeta.load(self.model_dir)
        self.device = _default_device(device)
        self.backend: Backend = backend or ("cuda-bf16" if self.device == "cuda" else "onnx-int8")
        self.max_length = max_length or self.meta.max_length
        self.threads = threads or min(8, os.cpu_count() or 1)
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir), local_files_only=True)
        self._lock = threading.Lock()

        self.lexical = LexicalModel.load(self.model_dir)
        self.cascade = dict(self.meta.cascade) if cascade and self.lexical is not None and self.meta.cascade else None
        self.outputs = 1 + len(SUBSTANCES) + len(self.meta.intents)  # the network's logit columns
        self._session: Any = None
        self._torch_model: Any = None
        if self.backend.startswith("onnx"):
            self._session = self._onnx_session()
        else:
            self._torch_model = self._load_torch()
        # token budget per batch: how much padded work one forward call may carry.  On the CPU a
        # batch of 2,048 tokens (16 posts of 128) keeps the int8 activations in cache: 15-20%
        # more posts/s than 4,096 on 2 cores, measured with bench classify's texts
        self.batch_tokens = 131072 if self.backend == "cuda-bf16" else 2048
        self.max_batch = 2048 if self.backend == "cuda-bf16" else 64

    @property
    def version(self) -> str:
        return self.meta.version

    @property
    def threshold(self) -> float:
        return self.meta.threshold

    # -- backends ---------------------------------------------------------------------------------
    def _onnx_session(self) -> Any:
        # ONNX Runtime: loaded only by the ONNX backends and the export
        import onnxruntime as ort

        name = ONNX_INT8 if self.backend == "onnx-int8" else ONNX_FP32
        path = self.model_dir / ONNX_DIR / name
        if not path.is_file() or onnx_export_format(path.parent) < ONNX_FORMAT:
            target = self.model_dir / ONNX_DIR
            if not os.access(self.model_dir, os.W_OK):
                target = get_settings().paths.cache_dir / "onnx" / self.meta.version
            cached = target / name
            if cached.is_file() and onnx_export_format(target) >= ONNX_FORMAT:
                path = cached
            else:
                log.info("exporting ONNX model to %s (missing or an older export format)", target)
                fp32, int8 = export_onnx(self.model_dir, target)
                path = int8 if self.backend == "onnx-int8" else fp32
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])

    def _load_torch(self) -> Any:
        # torch/transformers take seconds to import: loaded only where the network runs
        import torch

        from classifier.model import DragnetForDrugSale

        model = DragnetForDrugSale.from_pretrained(str(self.model_dir), local_files_only=True).eval()
        if self.backend == "cuda-bf16":
            model = model.to(device="cuda", dtype=torch.bfloat16)
        return model

    def _forward(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self._session is not None:
            return self._session.run(["logits"], {"input_ids": input_ids, "attention_mask": mask})[0]
        # torch/transformers take seconds to import: loaded only where the network runs
        import torch

        with torch.inference_mode():
            ids_t = torch.from_numpy(input_ids)
            mask_t = torch.from_numpy(mask)
            if self.backend == "cuda-bf16":
                ids_t = ids_t.to("cuda", non_blocking=True)
                mask_t = mask_t.to("cuda", non_blocking=True)
            return self._torch_model(input_ids=ids_t, attention_mask=mask_t).logits.float().cpu().numpy()

    # -- batching ---------------------------------------------------------------------------------
    def batches(self, lengths: list[int]) -> list[list[int]]:
        """Length-sorted batches under the token budget (dynamic batch size)."""
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        out: list[list[int]] = []
        current: list[int] = []
        for i in order:
            padded = ((lengths[i] + 7) // 8) * 8
            if current and (padded * (len(current) + 1) > self.batch_tokens or len(current) >= self.max_batch):
                out.append(current)
                current = []
            current.append(i)
        if current:
            out.append(current)
        return out

    def logits(self, texts: list[str]) -> np.ndarray:
        """Raw (uncalibrated) logits, (n, outputs), in input order."""
        n = len(texts)
        out = np.zeros((n, self.outputs), dtype=np.float32)
        if n == 0:
            return out
        ids = encode_head_tail(self.tokenizer, texts, self.max_length)
        pad = self.tokenizer.pad_token_id
        for batch in self.batches([len(x) for x in ids]):
            longest = ((max(len(ids[i]) for i in batch) + 7) // 8) * 8
            input_ids = np.full((len(batch), longest), pad, dtype=np.int64)
            mask = np.zeros((len(batch), longest), dtype=np.int64)
            for row, i in enumerate(batch):
                input_ids[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            with self._lock if self._session is None else _nullcontext():
                out[batch] = self._forward(input_ids, mask)
        return out

    def scores(self, texts: list[str]) -> Scores:
        """Calibrated scores: the transformer's logits blended with the n-gram heads' (weights
        fitted on validation), then temperature-scaled.  With the cascade on, the n-gram heads
        run first and the transformer reads only the texts they are unsure about."""
        lexical = self.lexical.logits(texts) if self.lexical else None
        if self.cascade is None or lexical is None or not texts:
            return blend_scores(self.logits(texts), lexical, self.meta)
        unsure = np.where(~settled_mask(lexical[:, 0], self.cascade))[0]
        raw = np.zeros((len(texts), self.outputs), dtype=np.float32)
        if unsure.size:
            raw[unsure] = self.logits([texts[i] for i in unsure])
        blended = blend_scores(raw, lexical, self.meta)
        settle(blended.score, blended.substances, lexical, self.cascade, blended.intents)
        blended.encoder_share = unsure.size / len(texts)
        return blended

    # -- the API ------------------------------------------------------------------------------------
    def classify(self, texts: list[str]) -> list[Classification]:
        """One :class:`Classification` per text.  Empty or blank text is "not a sale" with score 0
        (there is nothing to judge); positives carry evidence and an explanation."""
        results: list[Classification | None] = [None] * len(texts)
        todo = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
        todo_set = set(todo)
        for i in range(len(texts)):
            if i not in todo_set:
                results[i] = Classification(
                    is_drug_sale=False,
                    score=0.0,
                    threshold=self.threshold,
                    model_version=self.version,
                    explanation="No text to classify.",
                )
        if todo:
            s = self.scores([texts[i] for i in todo])
            chosen = substance_predictions(s.substances, self.meta.substance_thresholds)
            for k, i in enumerate(todo):
                intent_probs = s.intents[k] if s.intents is not None else None
                results[i] = self._verdict(texts[i], float(s.score[k]), s.substances[k], chosen[k], intent_probs)
        return [r for r in results if r is not None]

    def _verdict(
        self, text: str, score: float, sub_probs: np.ndarray, chosen: np.ndarray, intent_probs: np.ndarray | None
    ) -> Classification:
        score = float(min(1.0, max(0.0, score)))
        positive = score >= self.threshold
        if not positive:
            return Classification(
                is_drug_sale=False,
                score=score,
                threshold=self.threshold,
                model_version=self.version,
                intent=intent_of(intent_probs, self.meta.intents, sale=False),
            )
        substances = {name: round(float(sub_probs[j]), 4) for j, name in enumerate(SUBSTANCES) if chosen[j]}
        evidence = find_evidence(text)
        # A substance named outright (not slang) is reported even when the heads missed it: in a
        # long listing the boilerplate can swamp the n-gram heads, never the name itself.
        for name in named_substances(evidence):
            substances.setdefault(name, round(float(sub_probs[SUBSTANCES.index(name)]), 4))
        evidence.append(
            Evidence(
                kind="model",
                text=f"score {score:.3f} >= threshold {self.threshold:.3f}",
                rule=f"model:{self.version}",
                weight=round(score, 4),
            )
        )
        ordered = sorted(substances, key=lambda k: -substances[k])
        return Classification(
            is_drug_sale=True,
            score=score,
            threshold=self.threshold,
            substances=substances,
            model_version=self.version,
            evidence=evidence,
            explanation=explain(evidence, ordered, score),
            intent=intent_of(intent_probs, self.meta.intents, sale=True),
        )


def named_substances(evidence: list[Evidence]) -> set[str]:
    """Substance classes whose drug is named exactly in the text (slang and emoji excluded)."""
    return {
        item.rule.split(":", 1)[1]
        for item in evidence
        if item.kind == "substance"
        and item.rule
        and item.rule.startswith("exact:")
        and item.rule.split(":", 1)[1] in SUBSTANCES
    }


def blend_scores(raw: np.ndarray, lexical: np.ndarray | None, meta: ModelMeta) -> Scores:
    """The transformer's and the n-gram heads' logits combined with the weights fitted on
    validation: the offer logit by the blend's logistic regression, then the temperature;
    substances and intents by mixing weights."""
    b = meta.blend
    with_intents = bool(meta.intents) and (lexical is None or lexical.shape[1] > 1 + len(SUBSTANCES))
    if lexical is None:
        z, sub = raw[:, 0], raw[:, SUB]
        intent = raw[:, INTENT] if with_intents else None
    else:
        z = b["a"] * raw[:, 0] + b["b"] * lexical[:, 0] + b["c"]
        sub = b["w_sub"] * raw[:, SUB] + (1.0 - b["w_sub"]) * lexical[:, SUB]
        w = b.get("w_int", 1.0)
        intent = w * raw[:, INTENT] + (1.0 - w) * lexical[:, INTENT] if with_intents else None
    return Scores(
        score=sigmoid(z / meta.temperature),
        substances=sigmoid(sub),
        intents=softmax(intent) if intent is not None else None,
    )


def intent_of(probs: np.ndarray | None, intents: list[str], *, sale: bool) -> Intent | None:
    """The verdict's intent: ``sell`` for a sale (the verdict is the sell intent), otherwise
    the most likely of the other intents; ``None`` when the model has no intent head."""
    if probs is None or not intents:
        return None
    if sale:
        return "sell"
    others = [(p, name) for p, name in zip(probs, intents, strict=True) if name != "sell"]
    return cast(Intent, max(others)[1])


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def load_engine(
    model_dir: Path, device: str = "auto", backend: Backend | None = None, cascade: bool | None = None
) -> ClassifierEngine:
    """An engine over ``model_dir`` with the settings' device and cascade.  The caller decides
    where the model comes from (``classifier.model_store.ensure_default_model`` builds the
    default one): loading an engine never starts a training run."""
    settings = get_settings().classifier
    if device == "auto":
        device = settings.device
    return ClassifierEngine(
        Path(model_dir), device=device, backend=backend, cascade=settings.cascade if cascade is None else cascade
    )


_engine: ClassifierEngine | None = None
_engine_key: str | None = None
_engine_lock = threading.Lock()


def get_engine(model_dir: Path) -> ClassifierEngine:
    """The process's engine over ``model_dir`` (loaded on first use, then shared; a different
    directory replaces it)."""
    global _engine, _engine_key
    key = str(Path(model_dir).resolve())
    with _engine_lock:
        if _engine is None or _engine_key != key:
            _engine = load_engine(Path(model_dir))
            _engine_key = key
        return _engine
