"""Text preparation and tokenisation shared by training and inference: repeated sentences
read once, emoji spelled out, head-and-tail clipping to the token budget.  Torch-free (token
ids are plain lists), so the ONNX engine never imports torch."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

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
    encoded = tokenizer(
        clipped, add_special_tokens=False, truncation=False, return_attention_mask=False, return_token_type_ids=False
    )["input_ids"]
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    room = max_length - 2
    out = []
    for ids in encoded:
        if len(ids) > room:
            head = (room * 2) // 3
            ids = ids[:head] + ids[len(ids) - (room - head) :]
        out.append([cls_id, *ids, sep_id])
    return out
