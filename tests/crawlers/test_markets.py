"""Both simulated markets crawled through the SOCKS5 proxy: every listing, every field, against
each market's ground truth; login, re-login, the anti-DDoS form, the human gate (pause, then
resume with an imported cookie), 429 with Retry-After and 5xx all on the way."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from crawlers.simsites import SimulatedWorld
from crawlers.warc import redact_proxy
from dragnet.documents import Listing
from extract.rates import Rate, usd_rates
from takedown.evidence import build_bundle
from tests.crawlers.conftest import REPO, run_crawl_subprocess

pytestmark = pytest.mark.integration

DRAGNET = [sys.executable, "-c", "from dragnet.cli import main; main()"]


def _compare(truth: list[dict[str, Any]], crawled: list[Listing], rates: dict[str, Rate]) -> list[str]:
    """Every difference between what a market serves and what was crawled (empty = perfect)."""
    problems = []
    # escrow: the listing keeps the page's own words; one word for every listing with escrow,
    # another for every one without (what the words are is the page's business)
    escrow_words: dict[bool, set[str | None]] = {True: set(), False: set()}
    by_url = {}
    for listing in crawled:
        if listing.canonical_url in by_url:
            problems.append(f"duplicate {listing.canonical_url}")
        by_url[listing.canonical_url] = listing
    expected = {t["url"] for t in truth}
    for extra in set(by_url) - expected:
        problems.append(f"not a listing of the site: {extra}")
    for record in truth:
        got = by_url.get(record["url"])
        if got is None:
            problems.append(f"missed {record['url']}")
            continue
        price, crypto, rate = record["price"], record["crypto_price"], rates[record["price"]["currency"]]
        escrow_words[record["escrow"]].add(got.escrow)
        checks = {
            "title": (got.title, record["title"]),
            "text": (got.text, record["text"]),
            "price": (
                (got.price.amount, got.price.currency) if got.price else None,
                (price["amount"], price["currency"]),
            ),
            "usd": (
                (got.price.usd, got.price.usd_rate, got.price.rate_date) if got.price else None,
                (round(price["amount"] * rate.usd, 2), rate.usd, rate.day),
            ),
            "crypto_price": (
                (got.price.crypto_amount, got.price.crypto_currency) if got.price else None,
                (crypto["amount"], crypto["currency"]),
            ),
            "quantity": (
                (got.quantity.value, got.quantity.unit) if got.quantity else None,
                (record["quantity"]["value"], record["quantity"]["unit"]),
            ),
            "vendor": (
                (got.vendor.name, got.vendor.pgp_fingerprint) if got.vendor else None,
                (record["vendor"]["name"], record["vendor"]["pgp_fingerprint"]),
            ),
            "ships_from": (got.ships_from, record["ships_from"]),
            "ships_to": (sorted(got.ships_to), sorted(record["ships_to"])),
            "contacts": (
                {(c.kind, c.handle) for c in got.contacts},
                {(c["kind"], c["handle"]) for c in record["contacts"]},
            ),
            "crypto": (
                {(c.chain, c.address) for c in got.crypto},
                {(c["chain"], c["address"]) for c in record["crypto"]},
            ),
        }
        for name, (value, want) in checks.items():
            if value != want:
                problems.append(f"{record['url']} {name}: got {value!r}, want {want!r}")
        if got.snapshot is None or not Path(got.snapshot.warc_file).is_file():
            problems.append(f"{record['url']}: no WARC snapshot")
        if got.market != record["market"]:
            problems.append(f"{record['url']}: market {got.market}")
    if None in escrow_words[True] | escrow_words[False]:
        problems.append("a listing without its escrow field")
    if len(escrow_words[True]) > 1 or len(escrow_words[False]) > 1 or escrow_words[True] & escrow_words[False]:
        problems.append(f"escrow words not as the truth: {escrow_words[True]} with, {escrow_words[False]} without")
    return problems


def test_both_markets_every_listing_every_field(settings, tmp_path: Path) -> None:
    data_dir = settings.paths.data_dir
    with SimulatedWorld(60) as world:
        velvet = world.sites["velvet"]
        # 1. Velvet's captcha needs a human: the crawl saves the gate page and pauses the site.
        first = run_crawl_subprocess(
            ["velvet"], data_dir=data_dir, proxy_url=world.proxy_url, out=tmp_path / "first.jsonl"
        )
        assert first.stats["gated"] == ["velvet"]
        assert first.listings == []
        gate_pages = list((data_dir / "evidence" / "gates").glob("velvet-*.html"))
        assert gate_pages and b"Prove you are human" in gate_pages[0].read_bytes()
        status = subprocess.run(
            [*DRAGNET, "session", "status", "velvet"],
            cwd=REPO,
            env={"DRAGNET_PATHS__DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
        )
        assert "paused" in status.stdout, status.stderr

        # 2. An analyst solves it by hand and imports the cookie; the next crawl resumes.
        cookie = velvet.issue_session_cookie()
        imported = subprocess.run(
            [*DRAGNET, "session", "import", "velvet", cookie],
            cwd=REPO,
            env={"DRAGNET_PATHS__DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
        )
        assert imported.returncode == 0, imported.stderr

        run = run_crawl_subprocess(
            ["nightshade", "velvet"], data_dir=data_dir, proxy_url=world.proxy_url, out=tmp_path / "items.jsonl"
        )
        truth = world.ground_truth()
        for market in ("nightshade", "velvet"):
            crawled = [item for item in run.listings if item.market == market]
            problems = _compare(truth[market], crawled, usd_rates())
            assert problems == [], "\n".join(problems[:20])
            assert len(crawled) == len(truth[market]) == 60
            # both kinds of listing were served, so the escrow check above compared two words
            assert {r["escrow"] for r in truth[market]} == {True, False}

        night = world.sites["nightshade"]
        # Every hurdle was met and passed.
        assert night.stats["gate_solved"] >= 1 and run.site("nightshade")["dragnet/gate/solved"] >= 1
        assert night.stats["session_expired"] >= 1 and night.stats["logins"] >= 2  # re-login after expiry
        assert velvet.stats["session_expired"] >= 1 and velvet.stats["logins"] >= 2
        assert night.stats["429"] + velvet.stats["429"] >= 2
        assert night.stats["5xx"] + velvet.stats["5xx"] >= 2
        assert run.site("nightshade").get("dragnet/retry/retry_after_honoured", 0) >= 1
        assert run.stats["gated"] == []
        # One SOCKS identity (= one Tor circuit) per market, and only onion names were asked for.
        creds = world.proxy.stats.credentials_by_host
        night_creds = set().union(*(creds[h] for h in night.onion_hosts if h in creds))
        velvet_creds = set().union(*(creds[h] for h in velvet.onion_hosts if h in creds))
        assert night_creds == {"dragnet-nightshade:isolate"}
        assert velvet_creds == {"dragnet-velvet:isolate"}


def test_mirror_fallback_keeps_canonical_urls(settings, tmp_path: Path) -> None:
    """With the primary onion name gone, the crawl goes through the mirror and the listings keep
    the primary's canonical URLs (the same listing ids)."""

    with SimulatedWorld(20, faults=False) as world:
        night = world.sites["nightshade"]
        world.take_down(night.onion_hosts[0])
        run = run_crawl_subprocess(
            ["nightshade"], data_dir=settings.paths.data_dir, proxy_url=world.proxy_url, out=tmp_path / "items.jsonl"
        )
        assert run.site("nightshade").get("dragnet/mirror/switched") == 1
        assert {item.mirror for item in run.listings} == {night.onion_hosts[1]}
        assert {item.canonical_url for item in run.listings} == {t["url"] for t in world.ground_truth()["nightshade"]}
        # Every capture records the route it came through (credentials dropped), and an evidence
        # bundle states that route, not a configured one.
        route = redact_proxy(world.proxy_url)
        for item in run.listings:
            assert item.snapshot is not None
            with Path(item.snapshot.warc_file).open("rb") as fh:
                record = next(
                    r
                    for r in ArchiveIterator(fh)
                    if r.rec_headers.get_header("WARC-Record-ID") == item.snapshot.record_id
                )
            assert record.rec_headers.get_header("Dragnet-Proxy") == route
            assert record.rec_headers.get_header("Dragnet-Circuit-Isolation") == "yes"
        with zipfile.ZipFile(build_bundle(run.listings[0], settings=settings)) as zf:
            log = json.loads(zf.read("evidence/capture-log.json"))
        assert (log["proxy"], log["circuit_isolation"]) == (route, "yes")
