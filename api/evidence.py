"""Evidence behind a listing: its archived WARC record and its screenshot.

Paths come from the listing document; they are only followed inside the configured WARC and
evidence directories, and a screenshot is served only when its bytes hash to the recorded
SHA-256, so the page never shows something other than what was recorded."""

from __future__ import annotations

import hashlib
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from dragnet.documents import Listing
from dragnet.settings import DragnetSettings

MAX_RECORD_BYTES = 50 * 1024 * 1024


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return False
    return True


def warc_path(listing: Listing, settings: DragnetSettings) -> Path | None:
    if listing.snapshot is None:
        return None
    path = Path(listing.snapshot.warc_file)
    if not path.is_absolute():
        path = settings.paths.warc_dir / path
    if not _inside(path, settings.paths.warc_dir) or not path.is_file():
        return None
    return path


def warc_record_bytes(listing: Listing, settings: DragnetSettings) -> bytes | None:
    """The raw bytes of the listing's WARC record (a gzip member when the file is gzipped):
    a valid one-record WARC file that any WARC tool can open."""

    path = warc_path(listing, settings)
    if path is None or listing.snapshot is None:
        return None
    try:
        with path.open("rb") as fh:
            iterator = ArchiveIterator(fh)
            for record in iterator:
                if record.rec_headers.get_header("WARC-Record-ID") == listing.snapshot.record_id:
                    iterator.read_to_end(record)
                    offset, length = iterator.get_record_offset(), iterator.get_record_length()
                    if length > MAX_RECORD_BYTES:
                        return None
                    with path.open("rb") as raw:
                        raw.seek(offset)
                        return raw.read(length)
    except Exception:  # noqa: BLE001 - an unreadable archive means "no record", not a crash
        return None
    return None


def screenshot_path(listing: Listing, settings: DragnetSettings) -> Path | None:
    """``<evidence_dir>/screenshots/<sha256>.png`` (or directly under evidence_dir), verified."""
    sha = listing.screenshot_sha256
    if not sha or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        return None
    root = settings.paths.evidence_dir
    for candidate in (root / "screenshots" / f"{sha}.png", root / f"{sha}.png"):
        if candidate.is_file() and _inside(candidate, root):
            if hashlib.sha256(candidate.read_bytes()).hexdigest() == sha:
                return candidate
    return None
