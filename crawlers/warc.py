"""Raw responses as WARC records (warcio): the evidence of what a page said when it was crawled.
One gzipped WARC/1.1 file per crawl process and site, opening with a ``warcinfo`` record (the
software, the format, the crawl name); the record id goes on the listing (``Snapshot``).

The HTTP status line is written as received: ``reason`` is the reason phrase the server sent.
Where the HTTP client does not keep it (Scrapy keeps only the code) it is ``-``, and it stays
``-`` downstream (evidence bundles copy the status line, they never make up an ``OK``)."""

from __future__ import annotations

import json
import os
import threading
import time
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from dragnet import __version__
from dragnet.documents import Snapshot

WARC_VERSION = "1.1"
UNKNOWN_REASON = "-"


def redact_proxy(proxy: str) -> str:
    """A proxy URL without its credentials (``socks5h://user:pw@host:port`` -> ``socks5h://host:port``)."""
    if proxy == "direct":
        return proxy
    parts = urlsplit(proxy)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


class WarcStore:
    def __init__(self, directory: Path, name: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        self.path = directory / f"{name}-{stamp}-{os.getpid()}.warc.gz"
        self._file = self.path.open("ab")
        self._writer = WARCWriter(self._file, gzip=True, warc_version=WARC_VERSION)
        self._lock = threading.Lock()
        if self._file.tell() == 0:  # a new file: warcinfo first (an existing one already has it)
            info = self._writer.create_warcinfo_record(
                self.path.name,
                {
                    "software": f"dragnet {__version__} (warcio)",
                    "format": "WARC File Format 1.1",
                    "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
                    "isPartOf": name,
                    "description": "Dragnet crawl: raw HTTP responses of the pages crawled",
                },
            )
            self._writer.write_record(info)
            self._file.flush()

    def write_response(
        self,
        url: str,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        reason: str | None = None,
        protocol: str = "HTTP/1.1",
        proxy: str | None = None,
        circuit_isolation: bool | None = None,
        rendered_by: str | None = None,
    ) -> Snapshot:
        """A ``response`` record; ``reason`` is the reason phrase as received (``-`` when the
        client did not keep it), never one looked up from the code.  ``proxy`` is the route this
        response actually came through (``direct``, or the proxy URL: credentials are dropped
        here) and ``circuit_isolation`` whether per-site SOCKS credentials isolated its circuit;
        both go on the record (``Dragnet-Proxy``, ``Dragnet-Circuit-Isolation``) so that evidence
        states the vantage point of the capture, not whatever is configured later.
        ``rendered_by`` (``Dragnet-Rendered-By``) marks a body that is the DOM a browser rendered
        (status line and headers as the server sent them), not the bytes the server sent."""
        phrase = (reason or "").strip() or UNKNOWN_REASON
        http_headers = StatusAndHeaders(f"{status} {phrase}", headers, protocol=protocol)
        route: dict[str, str] = {}
        if proxy is not None:
            route["Dragnet-Proxy"] = redact_proxy(proxy)
        if circuit_isolation is not None:
            route["Dragnet-Circuit-Isolation"] = "yes" if circuit_isolation else "no"
        if rendered_by is not None:
            route["Dragnet-Rendered-By"] = rendered_by
        record = self._writer.create_warc_record(
            url, "response", payload=BytesIO(body), http_headers=http_headers, warc_headers_dict=route
        )
        with self._lock:
            self._writer.write_record(record)
        return Snapshot(warc_file=str(self.path), record_id=record.rec_headers.get_header("WARC-Record-ID"))

    def write_excerpt(
        self,
        url: str,
        body: bytes,
        *,
        page_record_id: str,
        page_url: str,
        metadata: dict[str, object] | None = None,
        screenshot: bytes | None = None,
    ) -> Snapshot:
        """One part of a page as its own ``resource`` record labelled ``url`` (a Telegram message
        block, a rendered social post, under its own URL), referring to the page's ``response``
        record, with an optional JSON ``metadata`` record (what was read from it) concurrent to
        it, and an optional PNG ``screenshot`` of it as a ``conversion`` record (the same part in
        another form, under the same URL) referring to the part's record."""
        headers = {"WARC-Refers-To": page_record_id, "WARC-Refers-To-Target-URI": page_url}
        record = self._writer.create_warc_record(
            url,
            "resource",
            payload=BytesIO(body),
            warc_content_type="text/html; charset=utf-8",
            warc_headers_dict=headers,
        )
        record_id = record.rec_headers.get_header("WARC-Record-ID")
        records = [record]
        if metadata is not None:
            records.append(
                self._writer.create_warc_record(
                    url,
                    "metadata",
                    payload=BytesIO(json.dumps(metadata, sort_keys=True, default=str).encode("utf-8")),
                    warc_content_type="application/json",
                    warc_headers_dict={"WARC-Concurrent-To": record_id},
                )
            )
        if screenshot is not None:
            records.append(
                self._writer.create_warc_record(
                    url,
                    "conversion",
                    payload=BytesIO(screenshot),
                    warc_content_type="image/png",
                    warc_headers_dict={"WARC-Refers-To": record_id, "WARC-Refers-To-Target-URI": url},
                )
            )
        with self._lock:
            for one in records:
                self._writer.write_record(one)
        return Snapshot(warc_file=str(self.path), record_id=record_id)

    def close(self) -> None:
        with self._lock:
            self._file.close()
