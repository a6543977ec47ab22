"""The forum spider and the Chromium-rendered social spider against the simulated sites."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from warcio.archiveiterator import ArchiveIterator

from takedown.evidence import build_bundle
from tests.crawlers.conftest import run_crawl_subprocess

pytestmark = pytest.mark.integration


def test_forum_every_post_once(world, settings, tmp_path: Path) -> None:
    run = run_crawl_subprocess(
        ["tavern"], data_dir=settings.paths.data_dir, proxy_url=world.proxy_url, out=tmp_path / "items.jsonl"
    )
    truth = {t["url"]: t for t in world.ground_truth()["tavern"]}
    urls = [item.canonical_url for item in run.listings]
    assert len(urls) == len(set(urls)), "duplicate posts"
    assert set(urls) == set(truth)
    for item in run.listings:
        record = truth[item.canonical_url]
        assert item.text == record["text"]
        assert item.vendor is not None and item.vendor.name == record["author"]
        assert item.source_kind == "forum" and item.snapshot is not None
        assert {(c.kind, c.handle) for c in item.contacts} >= {(c["kind"], c["handle"]) for c in record["contacts"]}
    # Sale ads and innocent posts are both collected: classifying them is the workers' job.
    assert {truth[u]["is_sale"] for u in urls} == {True, False}


@pytest.mark.slow
def test_social_timeline_every_post_through_chromium(world, settings, tmp_path: Path) -> None:
    site = world.sites["chatter"]
    api_calls_before = site.stats["api"]
    run = run_crawl_subprocess(
        ["chatter"], data_dir=settings.paths.data_dir, proxy_url=world.proxy_url, out=tmp_path / "items.jsonl"
    )
    truth = {t["url"]: t for t in world.ground_truth()["chatter"]}
    urls = [item.canonical_url for item in run.listings]
    assert len(urls) == len(set(urls))
    assert set(urls) == set(truth)
    for item in run.listings:
        assert item.text == truth[item.canonical_url]["text"]
        assert item.source_kind == "social"
    # Posts exist only behind fetch() on scroll: the browser must have scrolled through every page.
    assert site.stats["api"] - api_calls_before >= len(truth) // site.page_size
    assert run.site("chatter")["dragnet/social/scrolls"] >= 1
    shots = {item.screenshot_sha256 for item in run.listings}
    assert len(shots) == 1 and None not in shots
    png = settings.paths.data_dir / "evidence" / "screenshots" / f"{shots.pop()}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Chromium reached the onion name through the SOCKS5 proxy (it never resolves .onion itself).
    assert world.proxy.stats.by_host[site.onion_host] >= 1
    # An evidence bundle of one post from this real capture: the feed page copied byte for byte
    # under the page's URL, the post as its own record under its own URL, the route as recorded
    # (Chromium sends no SOCKS credentials: no circuit isolation), and `wacz validate` passes.
    post = run.listings[-1]
    bundle = build_bundle(post, settings=settings)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("wacz")), "validate", "--file", str(bundle)], capture_output=True, text=True
    )
    assert done.returncode == 0 and "Validation succeeded" in done.stdout, done.stdout + done.stderr
    with zipfile.ZipFile(bundle) as zf:
        log = json.loads(zf.read("evidence/capture-log.json"))
        records = [(r, r.content_stream().read()) for r in ArchiveIterator(io.BytesIO(zf.read("archive/data.warc.gz")))]
    proxy = urlsplit(world.proxy_url)
    assert log["proxy"] == f"socks5://{proxy.hostname}:{proxy.port}" and log["circuit_isolation"] == "no"
    response = next(r for r, _ in records if r.rec_type == "response")
    assert response.rec_headers.get_header("WARC-Record-ID") == post.snapshot.record_id
    assert response.rec_headers.get_header("WARC-Target-URI") != post.url
    own = [
        (r, body)
        for r, body in records
        if r.rec_type == "resource" and r.rec_headers.get_header("WARC-Target-URI") == post.url
    ]
    assert len(own) == 1 and own[0][0].rec_headers.get_header("WARC-Refers-To") == post.snapshot.record_id
    assert own[0][1].decode() == post.text
