"""The work itself, shared by the Celery tasks and the embedded (in-process) mode: screen raw
items, classify listings in batches, write them to the store.

Nothing here knows about Celery.  Functions either return a result, dead-letter the items that
can never succeed (poison), or raise :class:`TransientError` for failures that a later attempt
may cure (engine not loaded, store down); the caller decides how to retry.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from classifier.engine import get_engine
from classifier.model_store import ensure_default_model
from dragnet.documents import Listing
from dragnet.settings import DragnetSettings, get_settings
from index.store import StoreError
from takedown.service import notify_hits

log = logging.getLogger(__name__)


class TransientError(RuntimeError):
    """A failure that may pass (engine or store unavailable); retry the whole batch later.
    ``items`` is what the retry should carry when it differs from the task's input (the
    screened listings instead of raw dicts)."""

    items: list[Any] | None = None


@dataclass
class Poison:
    """An item that will never be processed as it is, and why."""

    item: Any
    reason: str
    key: str | None = None  # listing doc_id when the item had one


@dataclass
class Screened:
    listings: list[Listing] = field(default_factory=list)
    poison: list[Poison] = field(default_factory=list)


def _bad_utf8_field(value: Any, path: str = "") -> str | None:
    """The first field holding text that is not valid Unicode (lone surrogates, undecodable bytes).

    Such text arrives when a producer decoded bytes with ``surrogateescape``; it cannot be encoded
    for the search engine, so it is poison rather than something to retry."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "<root>"
        return None
    if isinstance(value, (bytes, bytearray)):
        try:
            bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return path or "<root>"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _bad_utf8_field(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _bad_utf8_field(item, f"{path}[{index}]")
            if found:
                return found
    return None


def _text_bytes(item: dict[str, Any]) -> int:
    total = 0
    for name in ("title", "text"):
        value = item.get(name)
        if isinstance(value, str):
            total += len(value.encode("utf-8", "surrogatepass"))
        elif isinstance(value, (bytes, bytearray)):
            total += len(value)
    return total


def screen_item(item: Any, settings: DragnetSettings | None = None) -> Listing | Poison:
    """Turn one raw item (a dict off the broker) into a :class:`Listing`, or say why it is poison.

    Checks run cheapest first and before any parsing of a huge body: schema shape, text size cap
    (``workers.max_text_bytes``), valid Unicode, the listing schema, and non-empty text."""
    settings = settings or get_settings()
    if isinstance(item, Listing):
        item = item.model_dump(mode="python")
    if not isinstance(item, dict):
        return Poison(item, f"wrong schema: expected a listing object, got {type(item).__name__}")
    size = _text_bytes(item)
    if size > settings.workers.max_text_bytes:
        return Poison(
            item, f"text too large: {size} bytes > max_text_bytes {settings.workers.max_text_bytes}", _key_of(item)
        )
    bad = _bad_utf8_field(item)
    if bad:
        return Poison(item, f"invalid UTF-8 in field {bad}", _key_of(item))
    try:
        listing = Listing.model_validate(item)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()[:5]
        )
        return Poison(item, f"wrong schema: {problems}", _key_of(item))
    if not (listing.title.strip() or listing.text.strip()):
        return Poison(item, "empty text: neither title nor text has content", listing.doc_id)
    return listing


def _key_of(item: dict[str, Any]) -> str | None:
    listing_id, sha = item.get("id"), item.get("content_sha256")
    if isinstance(listing_id, str) and isinstance(sha, str):
        return f"{listing_id}:{sha[:16]}"
    return None


def screen(items: list[Any], settings: DragnetSettings | None = None) -> Screened:
    """Screen a batch; duplicates of the same listing version inside one batch are merged."""
    out = Screened()
    seen: set[str] = set()
    for item in items:
        result = screen_item(item, settings)
        if isinstance(result, Poison):
            out.poison.append(result)
        elif result.doc_id not in seen:
            seen.add(result.doc_id)
            out.listings.append(result)
    return out


def classification_text(listing: Listing) -> str:
    """What the model reads: the title and the body, as the training data joined them."""
    return f"{listing.title}\n{listing.text}".strip()


Classify = Callable[[list[str]], list[Any]]


_worker_engine: Any = None


def use_engine(engine: Any) -> None:
    """Make ``engine`` this process's classifier (a worker process sizes its own thread pool)."""
    global _worker_engine
    _worker_engine = engine


def default_classifier() -> Classify:
    """The process-wide engine (loaded once per process; GPU when CUDA is present)."""
    if _worker_engine is not None:
        return _worker_engine.classify
    return get_engine(ensure_default_model()).classify


def classify_listings(listings: list[Listing], classify: Classify | None = None) -> tuple[list[Listing], list[Poison]]:
    """Attach a classification to each listing.

    The batch is classified in one call.  If that call fails, each listing is tried alone, so
    that one item the engine chokes on is dead-lettered with the engine's message while the
    rest go on; if every single item fails too, the engine itself is broken and the batch is
    retried later (:class:`TransientError`)."""
    if not listings:
        return [], []
    try:
        engine_call = classify or default_classifier()
        verdicts = engine_call([classification_text(item) for item in listings])
        if len(verdicts) != len(listings):
            raise RuntimeError(f"engine returned {len(verdicts)} verdicts for {len(listings)} texts")
        return [item.model_copy(update={"classification": v}) for item, v in zip(listings, verdicts, strict=True)], []
    except Exception as exc:  # noqa: BLE001 - isolate below, then decide
        batch_error = exc
    if len(listings) == 1:
        raise TransientError(f"classifier failed: {batch_error!r}") from batch_error
    done: list[Listing] = []
    poison: list[Poison] = []
    for item in listings:
        try:
            verdict = engine_call([classification_text(item)])[0]
            done.append(item.model_copy(update={"classification": verdict}))
        except Exception as exc:  # noqa: BLE001 - one item the engine chokes on is poison
            poison.append(Poison(item.model_dump(mode="json"), f"classifier error: {exc!r}"[:500], item.doc_id))
    if not done:
        raise TransientError(f"classifier failed on every item: {batch_error!r}") from batch_error
    log.warning("classifier isolated %d poison item(s) of %d", len(poison), len(listings))
    return done, poison


@dataclass
class IndexOutcome:
    written: int = 0
    unchanged: int = 0
    poison: list[Poison] = field(default_factory=list)


def index_listings(listings: list[Listing], store: Any) -> IndexOutcome:
    """Write classified listings; the store's writes are idempotent by ``Listing.doc_id``, so a
    batch delivered twice leaves one document per listing version."""

    if not listings:
        return IndexOutcome()
    try:
        result = store.upsert(listings)
    except StoreError as exc:
        if exc.retryable:
            raise TransientError(f"store unavailable: {exc}") from exc
        if len(listings) == 1:
            return IndexOutcome(
                poison=[Poison(listings[0].model_dump(mode="json"), f"store refused: {exc}"[:500], listings[0].doc_id)]
            )
        # One bad document may spoil a bulk request: write them one by one to find it.
        outcome = IndexOutcome()
        for listing in listings:
            single = index_listings([listing], store)
            outcome.written += single.written
            outcome.unchanged += single.unchanged
            outcome.poison += single.poison
        return outcome
    except (ConnectionError, TimeoutError, OSError) as exc:
        raise TransientError(f"store unreachable: {exc!r}") from exc
    by_id = {item.id: item for item in listings}
    poison = [
        Poison(
            by_id[i].model_dump(mode="json") if i in by_id else {"id": i},
            f"store refused: {reason}"[:500],
            by_id[i].doc_id if i in by_id else None,
        )
        for i, reason in result.failed
    ]
    return IndexOutcome(written=result.written, unchanged=result.unchanged, poison=poison)


def drug_sale_hits(listings: list[Listing]) -> list[Listing]:
    return [item for item in listings if item.classification is not None and item.classification.is_drug_sale]


def notify_feeds(listings: list[Listing]) -> int:
    """Turn indexed hits into takedown notices (the feeds part decides which platform, if any,
    each hit belongs to, and deduplicates, so calling twice with the same hits is harmless).
    Returns how many hits were handed over."""

    hits = drug_sale_hits(listings)
    if hits:
        notify_hits(hits)
    return len(hits)


def latency_since_crawl(listing: Listing) -> float:
    return max(0.0, time.time() - listing.crawled_at.timestamp())


def item_preview(item: Any, limit: int = 200) -> str:
    """A short, printable view of a (possibly hostile, huge) item for listings of the DLQ."""
    if isinstance(item, dict):
        title = item.get("title") if isinstance(item.get("title"), str) else ""
        url = item.get("url") if isinstance(item.get("url"), str) else ""
        text = f"{url} {title}".strip() or json.dumps(item, default=repr)[:limit]
    else:
        text = repr(item)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text[:limit]
