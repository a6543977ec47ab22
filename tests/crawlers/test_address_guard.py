"""Direct mode (``--proxy ''``): the private-address guard decides on what a host *resolves
to*, in every notation the system resolver understands, for redirects too, and the connection
goes to the address that was checked (pinned), never to a second lookup's answer."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from tests.crawlers.conftest import REPO, run_crawl_subprocess
from tests.crawlers.sites import Handler, LoopbackSite

pytestmark = pytest.mark.integration

# Every spelling of 127.0.0.1 that getaddrinfo (and so Twisted's connect) accepts.
NOTATIONS = ["127.0.0.1", "2130706433", "0177.0.0.1", "0x7f000001", "127.1", "[::ffff:127.0.0.1]", "localhost"]


def _hosts_file_names() -> list[str]:
    """The machine's own name, when the hosts file maps it to loopback (it usually does)."""
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    except OSError:
        return []
    return [name] if addresses and all(a.startswith("127.") for a in addresses) else []


def market_profile(path: Path, name: str, start_urls: list[str], **extra: object) -> Path:
    profile = {
        "name": name,
        "kind": "market",
        "start_urls": start_urls,
        "listing": {"links": "a.item-link::attr(href)", "detail_url": r"^/item/\d+$"},
        "fields": {
            "title": {"css": "h1.title::text", "first": True},
            "price": {"css": "span.fiat::text", "first": True},
        },
        **extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(profile))
    return path


def test_every_notation_of_loopback_refused_directly_and_after_redirect(settings, tmp_path: Path) -> None:
    notations = NOTATIONS + _hosts_file_names()
    with LoopbackSite(host="127.0.0.1") as target:

        def redirect_to(url: str) -> Handler:
            async def handler(request: web.Request) -> web.StreamResponse:
                raise web.HTTPFound(url)

            return handler

        urls = [f"http://{host}:{target.port}/item/{i}" for i, host in enumerate(notations)]
        redirected = [f"http://{host}:{target.port}/item/{100 + i}" for i, host in enumerate(notations)]
        routes = {f"/to/{i}": redirect_to(url) for i, url in enumerate(redirected)}
        # The redirector lives on 127.0.0.2, allowed by address; the target on 127.0.0.1 is not.
        with LoopbackSite(routes, host="127.0.0.2") as redirector:
            starts = urls + [f"{redirector.url}/to/{i}" for i in range(len(urls))]
            profile = market_profile(tmp_path / "profiles" / "guard.yaml", "guard", starts)
            run = run_crawl_subprocess(
                [str(profile)],
                data_dir=settings.paths.data_dir,
                proxy_url="",
                out=tmp_path / "items.jsonl",
                env={"DRAGNET_CRAWL__ALLOWED_PRIVATE_HOSTS": '["127.0.0.2"]'},
            )
            assert sorted(redirector.hits) == sorted(f"/to/{i}" for i in range(len(urls))), run.log[-3000:]
    assert target.hits == [], f"reached loopback through {target.hits}"
    stats = run.site("guard")
    # The redirector's URL library respells [::ffff:127.0.0.1] as [::ffff:7f00:1], a host outside
    # the profile, which the offsite filter refuses before the address guard sees it.
    assert stats["dragnet/refused/private_target"] + stats.get("offsite/filtered", 0) == 2 * len(notations)
    assert stats["dragnet/refused/private_target"] >= 2 * len(notations) - 1
    refusals = [line for line in run.log.splitlines() if "refused private/loopback target" in line]
    # Matched by port and path: URL libraries respell numeric hosts (w3lib >= 2.6 writes
    # 2130706433 as 127.0.0.1), which is the point of deciding by address, not by spelling.
    for i, host in enumerate(notations):
        assert any(f":{target.port}/item/{i}: " in line for line in refusals), host
        if host != "[::ffff:127.0.0.1]":
            assert any(f":{target.port}/item/{100 + i}: " in line for line in refusals), host


def test_allowed_address_admits_every_notation_of_it(settings, tmp_path: Path) -> None:
    """An allowed *address* admits the names that resolve to it (the operator allowed the target)."""
    with LoopbackSite(host="127.0.0.1") as target:
        starts = [f"http://{host}:{target.port}/item/{i}" for i, host in enumerate(["2130706433", "127.1"])]
        profile = market_profile(tmp_path / "profiles" / "ok.yaml", "ok", starts)
        run_crawl_subprocess(
            [str(profile)],
            data_dir=settings.paths.data_dir,
            proxy_url="",
            out=tmp_path / "items.jsonl",
            env={"DRAGNET_CRAWL__ALLOWED_PRIVATE_HOSTS": '["127.0.0.0/8"]'},
        )
    assert sorted(target.hits) == ["/item/0", "/item/1"]


REBINDING_RUNNER = """
import socket, sys
real_getaddrinfo, real_gethostbyname = socket.getaddrinfo, socket.gethostbyname
answers = {"count": 0}

def lookup(host):
    # A rebinding name: the first answer is the allowed address, every later one is loopback.
    answers["count"] += 1
    return "127.0.0.2" if answers["count"] == 1 else "127.0.0.1"

def getaddrinfo(host, port, *args, **kwargs):
    if str(host).startswith("rebind.example"):
        return real_getaddrinfo(lookup(host), port, *args, **kwargs)
    return real_getaddrinfo(host, port, *args, **kwargs)

def gethostbyname(host):
    return lookup(host) if str(host).startswith("rebind.example") else real_gethostbyname(host)

socket.getaddrinfo, socket.gethostbyname = getaddrinfo, gethostbyname
from crawlers.runner import main
main(sys.argv[1:])
"""


def test_connection_pinned_to_the_checked_address(settings, tmp_path: Path) -> None:
    """DNS rebinding: the name answers an allowed address when checked and loopback afterwards;
    the crawl connects to the checked address and never looks the name up again."""
    with LoopbackSite(host="127.0.0.2") as checked:
        with LoopbackSite(host="127.0.0.1", port=checked.port) as rebound:
            profile = market_profile(
                tmp_path / "profiles" / "rebind.yaml", "rebind", [f"http://rebind.example:{checked.port}/item/1"]
            )
            runner = tmp_path / "rebinding_runner.py"
            runner.write_text(REBINDING_RUNNER)
            run = run_crawl_subprocess(
                [str(profile)],
                data_dir=settings.paths.data_dir,
                proxy_url="",
                out=tmp_path / "items.jsonl",
                env={"DRAGNET_CRAWL__ALLOWED_PRIVATE_HOSTS": '["127.0.0.2"]', "PYTHONPATH": str(REPO)},
                argv0=[sys.executable, str(runner)],
            )
    assert rebound.hits == [], "connected to the rebound address"
    assert checked.hits == ["/item/1"], run.log[-3000:]
    assert checked.requests[0].host == f"rebind.example:{checked.port}"  # the name, not the address
