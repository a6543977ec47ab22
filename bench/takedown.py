"""``dragnet feeds bench``: what notices cost, each figure beside a baseline measured in the same run.

- ingest with evidence bundles vs. without (the bundle's price per hit)
- verify a bundle (digests of every file and WARC record)
- a feed page as STIX 2.1 vs. as JSON (the stix2 library's price)
- webhook push to a loopback receiver vs. a pull of the same notices

Everything runs in a throw-away data directory; nothing is asserted, figures are printed.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from dragnet.documents import Classification, Evidence, Listing
from dragnet.settings import get_settings
from takedown import formats
from takedown.delivery import deliver_pending, feed_page, subscribe
from takedown.evidence import verify_bundle
from takedown.service import FeedService


def _hits(n: int, prefix: str) -> list[Listing]:
    out = []
    for i in range(n):
        text = f"Fresh xanax bars 2mg lot {i}, 50 pills for $120, tele @plug{i}, ships EU"
        out.append(
            Listing.new(
                f"https://t.me/{prefix}shop/{i + 1}",
                source_kind="social",
                text=text,
                classification=Classification(
                    is_drug_sale=True,
                    score=0.95,
                    threshold=0.5,
                    substances={"benzodiazepines": 0.9},
                    model_version="bench",
                    evidence=[Evidence(kind="substance", text="xanax bars", start=6, end=16)],
                ),
            )
        )
    return out


class _Sink(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main(json_output: bool = False, n: int = 200) -> dict[str, float]:
    base = get_settings()
    figures: dict[str, float] = {"hits": n}
    with tempfile.TemporaryDirectory(prefix="dragnet-feeds-bench-") as tmp:
        settings = base.model_copy(
            update={
                "paths": base.paths.model_copy(update={"data_dir": Path(tmp)}),
                "feeds": base.feeds.model_copy(
                    update={
                        "store_path": None,
                        "webhook_allow_private": True,
                        "max_notices_per_hour": 10 * n,
                        "platforms_file": None,
                    }
                ),
            }
        )
        service = FeedService(settings)
        t = time.perf_counter()
        plain = service.ingest(_hits(n, "plain"), bundles=False)
        figures["ingest_no_bundle_per_s"] = len(plain.created) / (time.perf_counter() - t)
        t = time.perf_counter()
        with_bundles = service.ingest(_hits(n, "bundled"), bundles=True)
        figures["ingest_with_bundle_per_s"] = len(with_bundles.created) / (time.perf_counter() - t)
        bundles = sorted(settings.paths.evidence_dir.glob("*.wacz"))
        figures["bundle_kib_mean"] = sum(b.stat().st_size for b in bundles) / len(bundles) / 1024
        t = time.perf_counter()
        for b in bundles:
            verify_bundle(b)
        figures["verify_per_s"] = len(bundles) / (time.perf_counter() - t)
        for nid in plain.created + with_bundles.created:
            service.review(nid, "approve", by="bench")
        rows = service.store.feed("telegram", 0, 100)
        t = time.perf_counter()
        for _ in range(5):
            formats.to_json(rows, rows[-1].seq, False)
        figures["json_notices_per_s"] = 5 * len(rows) / (time.perf_counter() - t)
        t = time.perf_counter()
        formats.to_stix(rows, settings.feeds.notifier_name)
        figures["stix_notices_per_s"] = len(rows) / (time.perf_counter() - t)
        figures["stix_vs_json_cost"] = figures["json_notices_per_s"] / figures["stix_notices_per_s"]

        server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            subscribe(service, "telegram", f"http://127.0.0.1:{server.server_address[1]}/hook")
            t = time.perf_counter()
            pushed = deliver_pending("telegram", settings, service)
            figures["webhook_push_per_s"] = pushed / (time.perf_counter() - t)
        finally:
            server.shutdown()
            server.server_close()
        t = time.perf_counter()
        cursor, pulled = 0, 0
        while True:
            page = feed_page(service, "telegram", cursor, 100)
            pulled += len(page.rows)
            formats.to_json(page.rows, page.next_cursor, page.has_more)
            cursor = page.next_cursor
            if not page.has_more:
                break
        figures["pull_per_s"] = pulled / (time.perf_counter() - t)
        figures["push_vs_pull_cost"] = figures["pull_per_s"] / figures["webhook_push_per_s"]
    figures = {k: round(v, 2) for k, v in figures.items()}
    if json_output:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:28} {value}")
    return figures
