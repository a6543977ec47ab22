"""Open the configured listing store: ``settings.search.backend`` picks embedded SQLite,
OpenSearch, Elasticsearch, or ``auto`` (ask the server at ``settings.search.url`` who it is)."""

from __future__ import annotations

from dragnet.settings import DragnetSettings, get_settings
from index.backends.embedded import EmbeddedStore
from index.backends.engine import EngineStore
from index.store import ListingStore, StoreError


def open_store(settings: DragnetSettings | None = None, *, ensure_schema: bool = True) -> ListingStore:
    """The store for these settings, schema created if missing (idempotent, cheap)."""
    settings = settings or get_settings()
    backend = settings.search.backend
    if backend == "embedded" or (backend == "auto" and not settings.search.url):
        store: ListingStore = EmbeddedStore(settings.embedded_store_path)
    else:
        if not settings.search.url:
            raise StoreError(f"search.backend={backend!r} needs search.url")

        store = EngineStore.from_settings(settings)
    if ensure_schema:
        store.ensure_schema()
    return store
