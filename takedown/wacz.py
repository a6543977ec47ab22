"""The WACZ 1.1.1 parts of an evidence bundle that replay tools read: the CDXJ index
(``indexes/index.cdxj``) and the pages list (``pages/pages.jsonl``).

Why an index: WACZ requires one, and ReplayWeb.page / pywb find a page's record through it (URL
key, then offset and length into the WARC) instead of reading the whole archive.  Each line is
``<SURT key> <14-digit timestamp> <JSON>`` with ``url``, ``mime``, ``status`` (HTTP records),
``digest``, ``offset``, ``length`` and ``filename``, sorted, as pywb's CDXJ."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit

from warcio.archiveiterator import ArchiveIterator

WACZ_VERSION = "1.1.1"
INDEX_PATH = "indexes/index.cdxj"
PAGES_PATH = "pages/pages.jsonl"
_INDEXED = ("response", "resource", "revisit")  # metadata records describe; replay looks up content


def surt(url: str) -> str:
    """The SURT key pywb sorts by: host labels reversed and comma-joined (``www.`` dropped),
    ``)`` then path and sorted query, lower-cased; a non-http URI (``urn:``) is its own key."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return url.lower()
    host = parts.hostname.lower()
    if host.startswith("www."):
        host = host[4:]
    key = ",".join(reversed(host.split(".")))
    default = {"http": 80, "https": 443}[parts.scheme]
    if parts.port and parts.port != default:
        key += f":{parts.port}"
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return (key + ")" + (parts.path or "/") + (f"?{query}" if query else "")).lower()


def _timestamp(warc_date: str) -> str:
    return datetime.fromisoformat(warc_date.replace("Z", "+00:00")).strftime("%Y%m%d%H%M%S")


@dataclass
class IndexEntry:
    key: str
    timestamp: str
    block: dict[str, str | int]

    def line(self) -> str:
        return f"{self.key} {self.timestamp} {json.dumps(self.block, sort_keys=True)}"


def index_warc(data: bytes, filename: str) -> list[IndexEntry]:
    """One entry per response, resource and revisit record, at its byte offset and
    length in ``filename`` (the WARC's name under ``archive/``)."""
    entries: list[IndexEntry] = []
    iterator = ArchiveIterator(io.BytesIO(data))
    for record in iterator:
        record.content_stream().read()
        offset, length = iterator.get_record_offset(), iterator.get_record_length()
        if record.rec_type not in _INDEXED:
            continue
        headers = record.rec_headers
        url = headers.get_header("WARC-Target-URI") or ""
        if not url:
            continue
        block: dict[str, str | int] = {
            "url": url,
            "digest": headers.get_header("WARC-Payload-Digest") or headers.get_header("WARC-Block-Digest") or "",
            "offset": offset,
            "length": length,
            "filename": filename,
            "recordId": headers.get_header("WARC-Record-ID") or "",
        }
        if record.rec_type == "response" and record.http_headers is not None:
            block["status"] = record.http_headers.get_statuscode() or "-"
            block["mime"] = (record.http_headers.get_header("Content-Type") or "unk").split(";")[0].strip()
        else:
            block["mime"] = (headers.get_header("Content-Type") or "unk").split(";")[0].strip()
            if record.rec_type == "revisit":
                block["mime"] = "warc/revisit"
        entries.append(IndexEntry(surt(url), _timestamp(headers.get_header("WARC-Date") or ""), block))
    return entries


def cdxj(entries: list[IndexEntry]) -> bytes:
    """The sorted CDXJ text (plain: the index is small, and WACZ allows it uncompressed)."""
    return "".join(line + "\n" for line in sorted(e.line() for e in entries)).encode("utf-8")


def pages_jsonl(pages: list[dict[str, str]]) -> bytes:
    """``json-pages-1.0``: a header line, then one page (``url``, RFC 3339 ``ts``, ...) a line."""
    header = {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}
    return "".join(json.dumps(p) + "\n" for p in [header, *pages]).encode("utf-8")
