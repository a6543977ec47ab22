"""The forum spider and the Chromium-rendered social spider against the simulated sites."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from aiohttp import web
from parsel import Selector
from warcio.archiveiterator import ArchiveIterator

from extract.text import normalize_text
from takedown.evidence import build_bundle
from tests.crawlers.conftest import CrawlRun, run_crawl_subprocess
from tests.crawlers.sites import LoopbackSite
from tests.crawlers.test_warc import warcio_check

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


@pytest.fixture(scope="module")
def chatter_run(world: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[CrawlRun, Path, int]:
    """One crawl of the JS timeline for the tests below: the run, its data dir, and how many API
    calls (one per batch of posts fetched on scroll) the site served to it."""
    root = tmp_path_factory.mktemp("chatter")
    site = world.sites["chatter"]
    api_calls_before = site.stats["api"]
    run = run_crawl_subprocess(["chatter"], data_dir=root / "data", proxy_url=world.proxy_url, out=root / "items.jsonl")
    return run, root / "data", site.stats["api"] - api_calls_before


def _records(path: Path) -> list[tuple[Any, bytes]]:
    with path.open("rb") as fh:
        return [(r, r.content_stream().read()) for r in ArchiveIterator(fh)]


@pytest.mark.slow
def test_social_timeline_every_post_through_chromium(chatter_run, world) -> None:
    run, data_dir, api_calls = chatter_run
    site = world.sites["chatter"]
    truth = {t["url"]: t for t in world.ground_truth()["chatter"]}
    urls = [item.canonical_url for item in run.listings]
    assert len(urls) == len(set(urls))
    assert set(urls) == set(truth)
    for item in run.listings:
        assert item.text == truth[item.canonical_url]["text"]
        assert item.vendor is not None and item.vendor.name == truth[item.canonical_url]["author"]
        assert item.source_kind == "social"
    # Posts exist only behind fetch() on scroll: the browser must have scrolled through every page.
    assert api_calls >= len(truth) // site.page_size
    stats = run.site("chatter")
    assert stats["dragnet/social/scrolls"] >= 1
    # The timeline was one Scrapy request rendered by scrapy-playwright's handler: it went
    # through the downloader (and its middlewares), not around it.
    assert stats["response_received_count"] == 1 and stats["downloader/request_count"] == 1
    assert stats["playwright/page_count"] >= 1
    assert stats["playwright/browser_count"] == 1  # one Chromium for http and https alike
    # Each post has its own element screenshot, kept content-addressed for evidence bundles.
    shots = [item.screenshot_sha256 for item in run.listings]
    assert None not in shots and len(set(shots)) == len(shots)
    for sha in shots:
        png = (data_dir / "evidence" / "screenshots" / f"{sha}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and hashlib.sha256(png).hexdigest() == sha
    # Chromium reached the onion name through the SOCKS5 proxy (it never resolves .onion itself).
    assert world.proxy.stats.by_host[site.onion_host] >= 1


@pytest.mark.slow
def test_social_post_has_its_own_warc_record_and_screenshot_record(chatter_run, world) -> None:
    """Per post: a ``resource`` record under the post's URL holding the post element's HTML and
    referring to the rendered page's ``response`` record, a PNG ``conversion`` record of the
    post element, and the listing's snapshot is the post's record.  ``warcio check`` passes."""
    run, _, _ = chatter_run
    site = world.sites["chatter"]
    files = {Path(item.snapshot.warc_file) for item in run.listings if item.snapshot}
    assert len(files) == 1
    warc = files.pop()
    warcio_check(warc)
    records = _records(warc)
    by_id = {r.rec_headers.get_header("WARC-Record-ID"): (r, body) for r, body in records}
    pages = [r for r, _ in records if r.rec_type == "response"]
    assert len(pages) == 1  # the rendered timeline, once
    page = pages[0]
    assert page.rec_headers.get_header("WARC-Target-URI") == f"{site.base_url}/"
    assert page.rec_headers.get_header("Dragnet-Rendered-By", "").startswith("chromium")
    assert page.rec_headers.get_header("Dragnet-Circuit-Isolation") == "no"
    page_id = page.rec_headers.get_header("WARC-Record-ID")
    for item in run.listings:
        assert item.snapshot is not None
        own, html = by_id[item.snapshot.record_id]
        assert own.rec_type == "resource"
        assert own.rec_headers.get_header("WARC-Target-URI") == item.url == item.canonical_url
        assert own.rec_headers.get_header("WARC-Refers-To") == page_id
        assert own.rec_headers.get_header("WARC-Refers-To-Target-URI") == page.rec_headers.get_header("WARC-Target-URI")
        post = Selector(text=html.decode("utf-8"))
        assert post.css("article.post")
        assert normalize_text(" ".join(post.css("div.text ::text").getall())) == item.text
        assert post.css("a.permalink::attr(href)").get() == urlsplit(item.url).path
        shots = [
            (r, body)
            for r, body in records
            if r.rec_type == "conversion" and r.rec_headers.get_header("WARC-Refers-To") == item.snapshot.record_id
        ]
        assert len(shots) == 1
        shot, png = shots[0]
        assert shot.rec_headers.get_header("WARC-Target-URI") == item.url
        assert shot.rec_headers.get_header("Content-Type") == "image/png"
        assert hashlib.sha256(png).hexdigest() == item.screenshot_sha256


@pytest.mark.slow
def test_social_post_evidence_bundle(chatter_run, world, settings) -> None:
    """An evidence bundle of one post from this real capture: the post's own record and the feed
    page it refers to, both copied byte for byte, the route as recorded (Chromium sends no SOCKS
    credentials: no circuit isolation), the post's screenshot, and `wacz validate` passes."""
    run, data_dir, _ = chatter_run
    crawl_settings = settings.model_copy(update={"paths": settings.paths.model_copy(update={"data_dir": data_dir})})
    post = run.listings[-1]
    assert post.snapshot is not None
    bundle = build_bundle(post, settings=crawl_settings)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("wacz")), "validate", "--file", str(bundle)], capture_output=True, text=True
    )
    assert done.returncode == 0 and "Validation succeeded" in done.stdout, done.stdout + done.stderr
    with zipfile.ZipFile(bundle) as zf:
        log = json.loads(zf.read("evidence/capture-log.json"))
        screenshot = zf.read("evidence/screenshot.png")
        records = [(r, r.content_stream().read()) for r in ArchiveIterator(io.BytesIO(zf.read("archive/data.warc.gz")))]
    proxy = urlsplit(world.proxy_url)
    assert log["proxy"] == f"socks5://{proxy.hostname}:{proxy.port}" and log["circuit_isolation"] == "no"
    assert hashlib.sha256(screenshot).hexdigest() == post.screenshot_sha256
    own = next(r for r, _ in records if r.rec_headers.get_header("WARC-Record-ID") == post.snapshot.record_id)
    assert own.rec_type == "resource" and own.rec_headers.get_header("WARC-Target-URI") == post.url
    page = next(r for r, _ in records if r.rec_type == "response")
    assert own.rec_headers.get_header("WARC-Refers-To") == page.rec_headers.get_header("WARC-Record-ID")
    assert page.rec_headers.get_header("WARC-Target-URI") != post.url


def _chatter_profile(world: Any, tmp_path: Path, **changes: Any) -> Path:
    profile = yaml.safe_load((world.profiles_dir / "chatter.yaml").read_text())
    path = tmp_path / "profiles" / "chatter.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({**profile, **changes}))
    return path


@pytest.mark.slow
def test_rendered_page_refused_by_the_address_guard_like_a_market_page(world, settings, tmp_path: Path) -> None:
    """The timeline on its loopback address (not its onion name): the address guard refuses the
    rendered request before Chromium is asked for it, as it refuses a market page."""
    site = world.sites["chatter"]
    path = _chatter_profile(world, tmp_path, start_urls=[site.direct_url + "/"])
    pages_before = site.stats["pages"]
    run = run_crawl_subprocess(
        [str(path)], data_dir=settings.paths.data_dir, proxy_url=world.proxy_url, out=tmp_path / "items.jsonl"
    )
    assert run.listings == []
    assert run.site("chatter")["dragnet/refused/private_target"] >= 1
    assert "refused private/loopback target" in run.log
    assert site.stats["pages"] == pages_before  # Chromium never loaded it
    assert not list((settings.paths.data_dir / "warc").glob("*.warc.gz"))


@pytest.mark.slow
def test_rendered_page_over_the_size_cap_is_refused_like_a_market_page(world, settings, tmp_path: Path) -> None:
    """A rendered timeline larger than crawl.max_response_bytes is cancelled with Scrapy's own
    size-cap error and message (as a market page over the cap is), not retried, not recorded,
    and yields nothing."""
    site = world.sites["chatter"]
    pages_before = site.stats["pages"]
    run = run_crawl_subprocess(
        ["chatter"],
        data_dir=settings.paths.data_dir,
        proxy_url=world.proxy_url,
        out=tmp_path / "items.jsonl",
        env={"DRAGNET_CRAWL__MAX_RESPONSE_BYTES": "4096", "DRAGNET_CRAWL__WARN_RESPONSE_BYTES": "2048"},
    )
    assert site.stats["pages"] > pages_before  # it was rendered...
    assert run.listings == []  # ...and refused
    stats = run.site("chatter")
    assert stats["dragnet/refused/rendered_too_large"] == 1
    assert stats["downloader/exception_type_count/scrapy.exceptions.DownloadCancelledError"] == 1
    assert "retry/count" not in stats
    assert "larger than download max size (4096)" in run.log
    assert not list((settings.paths.data_dir / "warc").glob("*.warc.gz"))


@pytest.mark.slow
def test_rendered_page_retried_on_503_like_a_market_page(socks_proxy, settings, tmp_path: Path) -> None:
    """A timeline that answers 503 (with Retry-After) once: the back-off retry middleware
    renders it again, and the second rendering's posts are collected."""
    onion = "q" * 56 + ".onion"
    served: list[int] = []

    async def flaky(request: web.Request) -> web.StreamResponse:
        served.append(503 if not served else 200)
        if served[-1] == 503:
            return web.Response(status=503, text="busy", headers={"Retry-After": "0"})
        return web.Response(
            text='<html><body data-end="1"><article class="post"><a class="permalink" href="/p/7">@x</a>'
            '<div class="text">after the retry</div></article></body></html>',
            content_type="text/html",
        )

    posts = {"container": "article.post", "url": "a.permalink", "author": "a.permalink", "text": "div.text"}
    profile = tmp_path / "profiles" / "flaky.yaml"
    profile.parent.mkdir()
    profile.write_text(
        yaml.safe_dump({"name": "flaky", "kind": "social", "start_urls": [f"http://{onion}/"], "posts": posts})
    )
    with LoopbackSite({"/": flaky}) as site:
        socks_proxy.add(onion, ("127.0.0.1", site.port))
        try:
            run = run_crawl_subprocess(
                [str(profile)], data_dir=settings.paths.data_dir, proxy_url=socks_proxy.url, out=tmp_path / "o.jsonl"
            )
        finally:
            socks_proxy.remove(onion)
    assert served == [503, 200], run.log[-3000:]
    assert [item.text for item in run.listings] == ["after the retry"]
    stats = run.site("flaky")
    assert stats["dragnet/retry/http_503"] == 1 and stats["dragnet/retry/retry_after_honoured"] == 1
