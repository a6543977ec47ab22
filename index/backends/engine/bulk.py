"""The ``_bulk`` body, built by hand: one action line and an optional source line per
document, pre-encoded (``json.dumps`` of a nested dict per document was a quarter of the
client's time in a bulk load), and cut into requests of at most ``search.bulk_max_bytes``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from json.encoder import encode_basestring as _quote
from typing import Any

import pydantic_core

from dragnet.documents import Listing
from index.docs import sanitize

# (action line, source line or None): one document of a bulk body
Action = tuple[bytes, bytes | None]


def dumps(value: Any) -> bytes:
    """Compact JSON by pydantic-core's serialiser (a third of ``json.dumps``'s time), with
    non-finite floats written as null: a hostile page's NaN price must not fail the batch."""
    return pydantic_core.to_json(value, inf_nan_mode="null")


def action(op: str, index: str, doc_id: str, if_seq_no: int | None = None, if_primary_term: int | None = None) -> bytes:
    """One bulk action line.  ``if_seq_no``/``if_primary_term`` make the write conditional on
    the document not having changed since it was read."""
    condition = (
        "" if if_seq_no is None else f',"if_seq_no":{int(if_seq_no)},"if_primary_term":{int(if_primary_term or 0)}'
    )
    return f'{{"{op}":{{"_index":{_quote(index)},"_id":{_quote(doc_id)}{condition}}}}}'.encode()


def version_source(listing: Listing, stored_at: str) -> bytes:
    """An archived version: the listing as it was, with when its content was first stored."""
    head = (
        f'{{"listing_id":{_quote(listing.id)},"doc_id":{_quote(listing.doc_id)},'
        f'"stored_at":{_quote(stored_at)},"listing":'
    )
    return head.encode() + sanitize(listing).model_dump_json().encode() + b"}"


def _size(item: Action) -> int:
    return len(item[0]) + 1 + (len(item[1]) + 1 if item[1] is not None else 0)


def split_by_bytes(actions: Sequence[Action], max_bytes: int) -> Iterator[list[int]]:
    """Positions of ``actions`` grouped into requests of at most ``max_bytes`` each, in order;
    a document larger than the cap is a request of its own (the engine decides whether it
    takes it, and says so for that document alone)."""
    group: list[int] = []
    size = 0
    for position, item in enumerate(actions):
        item_size = _size(item)
        if group and size + item_size > max_bytes:
            yield group
            group, size = [], 0
        group.append(position)
        size += item_size
    if group:
        yield group


def ndjson(actions: Sequence[Action]) -> bytes:
    """The request body of ``actions``: newline-delimited, ending in a newline."""
    lines: list[bytes] = []
    for action_line, source in actions:
        lines.append(action_line)
        if source is not None:
            lines.append(source)
    lines.append(b"")
    return b"\n".join(lines)


def item_reason(outcome: dict[str, Any]) -> str:
    """Why the engine refused one document, in one line."""
    error = outcome.get("error")
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('reason', '')}"[:500]
    return str(error or f"status {outcome.get('status')}")[:500]
