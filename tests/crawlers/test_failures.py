"""Silent failure: ``dragnet crawl`` that yields no listings, or listings most of which lack a
price, exits non-zero with a one-line reason, whatever the cause; a misspelled profile field is
refused when the profile loads."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from tests.crawlers.conftest import REPO
from tests.crawlers.sites import LoopbackSite
from tests.crawlers.test_address_guard import market_profile

pytestmark = pytest.mark.integration

# The crawler's own commands on a bare Typer app (the top-level CLI adds the workers' handoff).
CLI = (
    "import sys, typer; from crawlers.cli import register; app = typer.Typer(); "
    "register(app, handoff=lambda batch: None); app(sys.argv[1:])"
)
SHOP = "f" * 56 + ".onion"
MISSING = "g" * 56 + ".onion"


def dragnet_crawl(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAGNET_")}
    env.update(
        {"DRAGNET_ENV": "test", "DRAGNET_PATHS__DATA_DIR": str(data_dir), "DRAGNET_CRAWL__RETRY_BACKOFF_S": "0.1"}
    )
    return subprocess.run(
        [sys.executable, "-c", CLI, "crawl", *args, "--no-handoff"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def reason_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("dragnet crawl:")]


def _page(html: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text=html, content_type="text/html")

    return handler


INDEX = '<html><a class="item-link" href="/item/1">1</a><a class="item-link" href="/item/2">2</a></html>'
DETAIL = '<html><h1 class="title">A listing</h1><span class="fiat">$5.00</span></html>'
GATE = "<html><h1>Prove you are human</h1><img src='/captcha.png'></html>"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "case, expected",
    [
        ("ok", None),
        ("no_title", "shop: the title rule (css 'h1.headline::text') matched nothing on 2 detail pages"),
        ("no_price", "dragnet crawl: incomplete listings: shop: no price on 2 of 2 listings (check fields.price"),
        (
            "gate",
            "shop is paused behind a gate that needs a human; solve it in a browser, then resume with "
            "'dragnet session import shop COOKIE'",
        ),
        ("proxy_down", "is down or refused the connection (is Tor running?)"),
        (
            "onion_unreachable",
            f"shop: the onion is unreachable through the proxy: SocksError: SOCKS5 host unreachable for {MISSING}:80",
        ),
    ],
)
def test_crawl_without_listings_fails_with_one_line_reason(
    case: str, expected: str | None, socks_proxy, settings, tmp_path: Path
) -> None:
    routes = {"/": _page(INDEX), "/item/1": _page(DETAIL), "/item/2": _page(DETAIL)}
    if case == "gate":
        routes = {"/": _page(GATE)}
    extra: dict[str, Any] = {}
    if case == "gate":
        extra["gate"] = {"markers": ["Prove you are human"], "solve": "human"}
    start = f"http://{MISSING if case == 'onion_unreachable' else SHOP}/"
    profile = market_profile(tmp_path / "profiles" / "shop.yaml", "shop", [start], **extra)
    if case in ("no_title", "no_price"):  # a selector copied from another site
        data = yaml.safe_load(profile.read_text())
        field, css = ("title", "h1.headline::text") if case == "no_title" else ("price", "span.cost::text")
        data["fields"][field]["css"] = css
        profile.write_text(yaml.safe_dump(data))
    proxy = f"socks5h://127.0.0.1:{_free_port()}" if case == "proxy_down" else socks_proxy.url
    with LoopbackSite(routes) as shop:
        socks_proxy.add(SHOP, ("127.0.0.1", shop.port))
        try:
            proc = dragnet_crawl([str(profile), "--proxy", proxy], settings.paths.data_dir)
        finally:
            socks_proxy.remove(SHOP)
    if expected is None:
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.startswith("2 listings from"), proc.stdout
        assert reason_lines(proc) == []
        return
    [line] = reason_lines(proc)
    assert expected in line, line
    if case == "gate":  # waiting for a human is its own exit status, not a failure
        assert proc.returncode == 3, proc.stderr[-3000:]
        return
    assert proc.returncode == 1, proc.stderr[-3000:]
    if case == "no_price":  # listings came, none usable: a failure all the same
        assert proc.stdout.startswith("2 listings from"), proc.stdout
        return
    assert line.startswith("dragnet crawl: no listings: shop: ")


def test_misspelled_profile_field_refused_with_a_hint(settings, tmp_path: Path) -> None:
    profile = market_profile(tmp_path / "profiles" / "shop.yaml", "shop", [f"http://{SHOP}/"])
    data = yaml.safe_load(profile.read_text())
    data["fields"]["seller"] = {"css": "td.seller a::text", "first": True}
    profile.write_text(yaml.safe_dump(data))
    proc = dragnet_crawl([str(profile), "--proxy", "socks5h://127.0.0.1:9"], settings.paths.data_dir)
    assert proc.returncode == 2
    [line] = reason_lines(proc)
    assert "fields: " in line and "unknown field 'seller'; did you mean 'vendor'?" in line, line
    assert str(profile) in line


def test_misspelled_profile_key_refused_with_a_hint(settings, tmp_path: Path) -> None:
    profile = market_profile(tmp_path / "profiles" / "shop.yaml", "shop", [f"http://{SHOP}/"], mirorrs=[])
    proc = dragnet_crawl([str(profile), "--proxy", "socks5h://127.0.0.1:9"], settings.paths.data_dir)
    assert proc.returncode == 2
    [line] = reason_lines(proc)
    assert "mirorrs: unknown key; did you mean 'mirrors'?" in line, line


def test_out_file_that_exists_is_refused_unless_appending(settings, tmp_path: Path) -> None:
    profile = market_profile(tmp_path / "profiles" / "shop.yaml", "shop", [f"http://{SHOP}/"])
    out = tmp_path / "items.jsonl"
    out.write_text('{"earlier": "crawl"}\n')
    down = f"socks5h://127.0.0.1:{_free_port()}"
    refused = dragnet_crawl([str(profile), "--proxy", down, "--out", str(out)], settings.paths.data_dir)
    assert refused.returncode == 2
    assert reason_lines(refused) == [f"dragnet crawl: {out} exists; add --append to add to it, or choose another --out"]
    assert out.read_text() == '{"earlier": "crawl"}\n'
    # --append goes on to crawl (here: a proxy that is down, so it says so and exits 1)
    appending = dragnet_crawl([str(profile), "--proxy", down, "--out", str(out), "--append"], settings.paths.data_dir)
    assert appending.returncode == 1
    [line] = reason_lines(appending)
    assert "is down or refused the connection" in line, line
