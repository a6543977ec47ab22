"""``dragnet bench crawl``: crawl throughput on a simulated market over loopback.

Figures, all measured in the same run on the same simulated market (no gates, no faults, no
login wall: this measures throughput, not recovery):
* ``baseline``: a plain Scrapy spider (default settings, same concurrency) that follows the
  index and detail links and reads the title: what Scrapy alone does on this machine;
* ``dragnet_socks``: Dragnet's market spider with every field, vendor PGP fingerprints, WARC
  records, language, versions, JSONL output, through the SOCKS5h proxy (as against Tor);
* ``dragnet_direct``: the same spider straight to loopback, to show what the SOCKS hop costs;
* ``playwright``: pages/s of the social spider (scrapy-playwright, Chromium, per-post evidence)
  rendering the simulated JS timeline through the SOCKS5h proxy.

Each Scrapy run is its own process (Twisted's reactor runs once per process).  Pages/s is
responses received divided by Scrapy's own elapsed time of the crawl.  The target is at least
150 pages/s per process with extraction; the benchmark prints, it never fails on a time.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import scrapy
import yaml
from scrapy.crawler import CrawlerProcess

from crawlers.simsites import SimulatedWorld
from crawlers.simsites.market import MarketSite
from dragnet.settings import get_settings

LISTINGS = 600
PLAYWRIGHT_PAGES = 40
REPO = Path(__file__).resolve().parent.parent


def _baseline_process(start_url: str, concurrency: int, per_host: int) -> None:
    """Run in a child process: the plain Scrapy baseline spider; prints its stats as JSON."""

    class BaselineSpider(scrapy.Spider):
        name = "baseline"
        start_urls = [start_url]

        def parse(self, response: Any) -> Any:
            title = response.css("h1.title::text").get()
            if title:
                yield {"url": response.url, "title": title}
            for href in response.css("a.item-link::attr(href), a.next::attr(href)").getall():
                yield response.follow(href, callback=self.parse)

    process = CrawlerProcess(
        {
            "LOG_LEVEL": "WARNING",
            "CONCURRENT_REQUESTS": concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": per_host,
            "ROBOTSTXT_OBEY": False,
            "TELNETCONSOLE_ENABLED": False,
            "DEPTH_LIMIT": 0,
        }
    )
    crawler = process.create_crawler(BaselineSpider)
    process.crawl(crawler)
    process.start()
    stats = crawler.stats.get_stats()
    print(
        "BENCHSTATS "
        + json.dumps(
            {
                "pages": stats.get("response_received_count", 0),
                "items": stats.get("item_scraped_count", 0),
                "elapsed_s": stats.get("elapsed_time_seconds", 0.0),
            }
        )
    )


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_child(argv: list[str], env: dict[str, str], prefix: str) -> dict[str, Any]:
    """Run one benchmark child; its figures, plus ``cpu_s``: the CPU seconds the whole child
    process used (start-up included).  On a shared machine CPU time moves far less with the
    load than pages/s does, so it is the steadier figure to compare two runs by."""
    before = _children_cpu_s()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    cpu_s = round(_children_cpu_s() - before, 2)
    line = next((entry for entry in reversed(proc.stdout.splitlines()) if entry.startswith(prefix)), None)
    if line is None:
        raise RuntimeError(f"benchmark child failed (rc={proc.returncode}): {proc.stderr[-3000:]}")
    return {**json.loads(line[len(prefix) :]), "cpu_s": cpu_s}


def _dragnet_run(profile: Path, proxy: str, env: dict[str, str], out: Path) -> dict[str, Any]:
    stats = _run_child(
        [
            sys.executable,
            "-m",
            "crawlers.runner",
            str(profile),
            "--proxy",
            proxy,
            "--out",
            str(out),
            "--log-level",
            "WARNING",
        ],
        env,
        "CRAWLSTATS ",
    )
    site = next(iter(stats["sites"].values()))
    return {
        "pages": int(site.get("response_received_count", 0)),
        "items": stats["items"],
        "elapsed_s": float(site.get("elapsed_time_seconds", stats["elapsed_s"])),
        "cpu_s": stats["cpu_s"],
    }


def _cpu_ms_per_page(run: dict[str, Any]) -> float | None:
    return round(1000 * run["cpu_s"] / run["pages"], 2) if run.get("pages") and "cpu_s" in run else None


def _rate(run: dict[str, Any]) -> float:
    return round(run["pages"] / run["elapsed_s"], 1) if run["elapsed_s"] else 0.0


def _playwright_run(world: SimulatedWorld, root: Path, env: dict[str, str]) -> dict[str, Any]:
    """The social spider as it crawls (scrapy-playwright's handler, hardened Debian Chromium with
    the proxy on its context, the downloader middlewares, one WARC record and element screenshot
    per post) on ``PLAYWRIGHT_PAGES`` renderings of the simulated timeline, through the SOCKS5
    proxy.  Scrapy's elapsed time includes starting Chromium."""
    social = world.sites["chatter"]
    profile = yaml.safe_load((world.profiles_dir / "chatter.yaml").read_text())
    path = root / "social" / "chatter.yaml"
    path.parent.mkdir(parents=True)
    starts = [f"{social.base_url}/?view={i}" for i in range(PLAYWRIGHT_PAGES)]
    path.write_text(yaml.safe_dump({**profile, "start_urls": starts}))
    data = {**env, "DRAGNET_PATHS__DATA_DIR": str(root / "d3")}
    return _dragnet_run(path, world.proxy_url, data, root / "social.jsonl")


def measure(listings: int = LISTINGS) -> dict[str, Any]:
    settings = get_settings()
    crawl = settings.crawl
    with (
        tempfile.TemporaryDirectory(prefix="dragnet-bench-crawl-") as tmp,
        SimulatedWorld(listings, faults=False, gates=False, logins=False, forum_posts=1, social_posts=1) as world,
    ):
        root = Path(tmp)
        market = world.sites["nightshade"]
        assert isinstance(market, MarketSite)
        profile = yaml.safe_load((world.profiles_dir / "nightshade.yaml").read_text())
        profile.pop("mirrors", None)
        onion = root / "onion" / "nightshade.yaml"
        direct = root / "direct" / "nightshade.yaml"
        for path, base in ((onion, market.base_url), (direct, market.direct_url)):
            path.parent.mkdir(parents=True)
            path.write_text(yaml.safe_dump({**profile, "start_urls": [f"{base}/listings?page=1"]}))
        env = {k: v for k, v in os.environ.items() if not k.startswith("DRAGNET_")}
        env.update(
            {
                "DRAGNET_PATHS__DATA_DIR": str(root / "data"),
                "DRAGNET_LOG_LEVEL": "WARNING",
                "DRAGNET_CRAWL__ALLOWED_PRIVATE_HOSTS": '["127.0.0.1"]',
            }
        )
        baseline = _run_child(
            [
                sys.executable,
                "-c",
                f"from bench.crawl import _baseline_process; "
                f"_baseline_process({market.direct_url + '/listings?page=1'!r}, "
                f"{crawl.concurrent_requests}, {crawl.concurrent_requests_per_host})",
            ],
            env,
            "BENCHSTATS ",
        )
        socks = _dragnet_run(
            onion, world.proxy_url, {**env, "DRAGNET_PATHS__DATA_DIR": str(root / "d1")}, root / "socks.jsonl"
        )
        plain = _dragnet_run(direct, "", {**env, "DRAGNET_PATHS__DATA_DIR": str(root / "d2")}, root / "direct.jsonl")
        rendered = _playwright_run(world, root, env)
    figures = {
        "benchmark": "crawl",
        "listings": listings,
        "baseline_scrapy_pages_per_s": _rate(baseline),
        "dragnet_socks_pages_per_s": _rate(socks),
        "dragnet_direct_pages_per_s": _rate(plain),
        "playwright_pages_per_s": _rate(rendered),
        "dragnet_socks_vs_baseline": round(_rate(socks) / _rate(baseline), 3) if _rate(baseline) else None,
        "baseline_cpu_ms_per_page": _cpu_ms_per_page(baseline),
        "dragnet_socks_cpu_ms_per_page": _cpu_ms_per_page(socks),
        "target_pages_per_s": 150,
        "runs": {"baseline": baseline, "dragnet_socks": socks, "dragnet_direct": plain, "playwright": rendered},
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    figures["listings_complete"] = socks["items"] == plain["items"] == listings
    return figures


def main(json_output: bool = False) -> None:
    figures = measure()
    if json_output:
        print(json.dumps(figures))
        return
    print(
        f"crawl benchmark: simulated market, {figures['listings']} listings, loopback, one process per run "
        f"({figures['cpu_count']} CPUs, load {figures['load_average_1m']})"
    )
    print(f"  plain Scrapy baseline (title only, direct) : {figures['baseline_scrapy_pages_per_s']:>8} pages/s")
    print(
        f"  Dragnet market spider, full extraction, SOCKS5h: {figures['dragnet_socks_pages_per_s']:>8} pages/s "
        f"({figures['dragnet_socks_vs_baseline']}x baseline)"
    )
    print(f"  Dragnet market spider, full extraction, direct : {figures['dragnet_direct_pages_per_s']:>8} pages/s")
    print(
        f"  CPU per page (whole crawl process, start-up included): baseline "
        f"{figures['baseline_cpu_ms_per_page']} ms, Dragnet SOCKS5h {figures['dragnet_socks_cpu_ms_per_page']} ms"
    )
    print(f"  social spider, scrapy-playwright (Chromium)    : {figures['playwright_pages_per_s']:>8} pages/s")
    print(
        f"  target: >= {figures['target_pages_per_s']} pages/s per process with extraction; every listing "
        f"collected: {figures['listings_complete']}"
    )
