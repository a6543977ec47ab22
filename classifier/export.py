"""ONNX export of a trained model: trace, fuse with ONNX Runtime's transformer optimizer, and
quantise to int8.  Kept apart from the engine, which only loads what this writes (and asks for a
re-export when it finds an older format)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ONNX_DIR = "onnx"
ONNX_FP32 = "model.onnx"
ONNX_INT8 = "model.int8.onnx"

ONNX_FORMAT = 2  # 2: eager-attention export with ONNX Runtime's transformer fusions before int8
EXPORT_INFO = "export.json"


def export_onnx(model_dir: Path, out_dir: Path | None = None) -> tuple[Path, Path]:
    """Export the PyTorch model to ONNX (dynamic batch and sequence axes), fuse it with ONNX
    Runtime's transformer optimizer (one ``Attention`` node per layer, ``SkipLayerNormalization``,
    ``BiasGelu``: fewer passes over the activations) and quantise it to int8 (dynamic
    quantisation: int8 weights, activations quantised per batch at run time; the fused attention
    becomes ``QAttention``).

    The model is traced with eager attention because the fusion recognises that graph, not
    PyTorch's SDPA kernel; where fusion fails the plain graph is kept (slower, same answers).
    Files are written under temporary names and moved into place, so an engine loading
    concurrently sees either the old export or the new one."""
    # torch and onnx are heavy (seconds to import): loaded only when an export runs;
    # classifier.model is the torch module itself
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from classifier.model import DragnetForDrugSale

    out_dir = out_dir or model_dir / ONNX_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    fp32, int8 = out_dir / ONNX_FP32, out_dir / ONNX_INT8
    tag = f".tmp-{os.getpid()}-{threading.get_ident()}"
    traced, fused_path, int8_tmp = (
        out_dir / f"traced{tag}.onnx",
        out_dir / f"{ONNX_FP32}{tag}",
        out_dir / f"{ONNX_INT8}{tag}",
    )
    model = DragnetForDrugSale.from_pretrained(
        str(model_dir), local_files_only=True, attn_implementation="eager"
    ).eval()

    class _Logits(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

    dummy = (torch.ones((2, 16), dtype=torch.long), torch.ones((2, 16), dtype=torch.long))
    try:
        with torch.inference_mode():
            torch.onnx.export(
                _Logits(model),
                dummy,
                str(traced),
                input_names=["input_ids", "attention_mask"],
                output_names=["logits"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "seq"},
                    "attention_mask": {0: "batch", 1: "seq"},
                    "logits": {0: "batch"},
                },
                opset_version=17,
                dynamo=False,
            )
        fused = _fuse_transformer(traced, fused_path, model.config)
        quantize_dynamic(
            str(fused_path),
            str(int8_tmp),
            weight_type=QuantType.QInt8,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        os.replace(fused_path, fp32)
        os.replace(int8_tmp, int8)
    finally:
        for leftover in (traced, fused_path, int8_tmp):
            leftover.unlink(missing_ok=True)
    (out_dir / EXPORT_INFO).write_text(json.dumps({"format": ONNX_FORMAT, "fused_operators": fused}))
    return fp32, int8


def _fuse_transformer(traced: Path, out: Path, config: Any) -> dict[str, int]:
    """ONNX Runtime's BERT fusions on the traced graph; returns the fused operator counts ({}
    when the optimizer could not run, and the traced graph is used as it is)."""
    try:
        # heavy (pulls in torch helpers): loaded only when an export runs
        from onnxruntime.transformers import optimizer

        optimized = optimizer.optimize_model(
            str(traced),
            model_type="bert",
            num_heads=config.num_attention_heads,
            hidden_size=config.hidden_size,
            opt_level=1,
        )
        optimized.save_model_to_file(str(out))
        return {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
    except Exception as exc:  # noqa: BLE001 - an unfused graph still gives the same answers
        log.warning("ONNX Runtime transformer fusion failed (%s); exporting the plain graph", exc)
        shutil.copyfile(traced, out)
        return {}


def onnx_export_format(onnx_dir: Path) -> int:
    """The export format of an ONNX folder (1 for exports made before ``export.json`` existed)."""
    try:
        return int(json.loads((onnx_dir / EXPORT_INFO).read_text()).get("format", 1))
    except (OSError, ValueError, AttributeError):
        return 1
