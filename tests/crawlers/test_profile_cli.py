"""``dragnet profile check`` on a saved detail page and on live pages through the SOCKS proxy
(an index behind the anti-DDoS form and the login, a captcha gate that must not pause the site),
and ``dragnet profile new``: a skeleton that refuses to load until its TODOs are filled, then loads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from crawlers.check import inspect_page, response_for
from crawlers.profiles import ProfileError, load_profile
from crawlers.sessions import SessionStore
from crawlers.simsites import SimulatedWorld
from tests.crawlers.conftest import REPO

DRAGNET = [sys.executable, "-c", "from dragnet.cli import main; main()"]


def dragnet(args: list[str], data_dir: Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAGNET_")}
    env.update({"DRAGNET_ENV": "test", "DRAGNET_PATHS__DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO)})
    return subprocess.run([*DRAGNET, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def reasons(proc: subprocess.CompletedProcess[str], command: str) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith(f"dragnet profile {command}:")]


@pytest.mark.integration
def test_check_saved_detail_page_and_the_same_file_taken_for_an_index(settings, tmp_path: Path) -> None:
    with SimulatedWorld(5, gates=False, logins=False, faults=False) as world:
        night = world.sites["nightshade"]
        item = night.data.items[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{night.port}{night.item_path(item)}", timeout=10) as answer:
            saved = tmp_path / "detail.html"
            saved.write_bytes(answer.read())
        url = night.base_url + night.item_path(item)
        with urllib.request.urlopen(f"http://127.0.0.1:{night.port}{night.vendor_path(item.vendor)}") as answer:
            vendor_page = answer.read()
        record = night.data.vendors[item.vendor]
    # a vendor page, read in this process: the kind and the vendor record's fields
    profile = load_profile(REPO / "crawlers" / "profiles" / "nightshade.yaml")
    report = inspect_page(profile, response_for(night.base_url + night.vendor_path(item.vendor), vendor_page))
    assert (report.kind, report.problem) == ("vendor", None)
    assert dict(report.selectors)["vendor_page.pgp_fingerprint"] == record.pgp_fingerprint
    data_dir = settings.paths.data_dir
    proc = dragnet(["profile", "check", "nightshade", str(saved), "--url", url], data_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout.splitlines()
    assert out[0].startswith(f"page: {url} (HTTP 200, ") and out[1] == "kind: detail"
    assert f"  fields.title: {item.title[:100]!r}" in out
    assert f"  fields.vendor: {item.vendor!r}" in out
    vendor_url = night.base_url + night.vendor_path(item.vendor)
    assert f"  vendor_page.url: {vendor_url!r}" in out
    assert out[out.index("follow (1):") + 1] == f"  {vendor_url}  [vendor page]"
    assert reasons(proc, "check") == []

    # the same file taken from the first start URL (an index page): no link, nothing matched
    wrong = dragnet(["profile", "check", "nightshade", str(saved)], data_dir)
    assert wrong.returncode == 1
    [line] = reasons(wrong, "check")
    assert line.startswith("dragnet profile check: the page matched nothing: not a detail page (path '/listings'")
    assert "listing.links 'a.item-link::attr(href)' found none" in line


def test_check_saved_index_lists_offsite_links_as_refused(settings, tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_text(
        "<html><a class='item-link' href='/item/7'>seven</a>"
        "<a class='item-link' href='http://elsewhere.example/item/8'>offsite</a>"
        "<a class='item-link' href='/category/pills'>a category</a>"
        "<a class='next' href='/listings?page=2'>next</a></html>"
    )
    proc = dragnet(["profile", "check", "nightshade", str(page)], settings.paths.data_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout.splitlines()
    base = load_profile(REPO / "crawlers" / "profiles" / "nightshade.yaml").start_urls[0].split("/listings")[0]
    assert out[1] == "kind: index"
    follow = out[out.index("follow (3):") + 1 : out.index("follow (3):") + 4]
    assert follow == [
        f"  {base}/item/7  [detail]",
        f"  {base}/category/pills  [index]",
        f"  {base}/listings?page=2  [next]",
    ]
    assert out[out.index("offsite, not followed (1):") + 1] == "  http://elsewhere.example/item/8"


@pytest.mark.integration
def test_check_live_pages_through_the_socks_proxy(settings, tmp_path: Path) -> None:
    data_dir = settings.paths.data_dir
    with SimulatedWorld(25, faults=False) as world:
        night = world.sites["nightshade"]
        proc = dragnet(["profile", "check", "nightshade", "--proxy", world.proxy_url], data_dir)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = proc.stdout.splitlines()
        assert out[0].startswith(f"page: {night.base_url}/listings?page=1 (HTTP 200, ")
        assert out[1] == "kind: index"
        assert "follow (21):" in out  # 20 listings and the next page
        assert f"  {night.base_url}/listings?page=2  [next]" in out
        assert "offsite, not followed (0):" in out
        # through the proxy, on the site's own circuit; the gate form and the login passed
        assert night.stats["gate_solved"] == 1 and night.stats["logins"] == 1
        creds = world.proxy.stats.credentials_by_host
        assert creds[night.onion_hosts[0]] == {"dragnet-nightshade:isolate"}

        # Velvet's captcha: shown as the gate, and the site is not paused by a check
        velvet = dragnet(["profile", "check", "velvet", "--proxy", world.proxy_url], data_dir)
        assert velvet.returncode == 1
        assert velvet.stdout.splitlines()[1] == "kind: gate"
        [line] = reasons(velvet, "check")
        assert "the page is the site's gate (marker 'Prove you are human')" in line
        assert "'dragnet session import velvet COOKIE'" in line
    assert SessionStore(settings).paused("velvet") is None


@pytest.mark.parametrize("kind", ["market", "forum"])
def test_profile_new_skeleton_loads_once_filled(kind: str, settings, tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    made = dragnet(["profile", "new", "shop", "--kind", kind, "--out", str(path)], settings.paths.data_dir)
    assert made.returncode == 0, made.stderr
    text = path.read_text()
    again = dragnet(["profile", "new", "shop", "--kind", kind, "--out", str(path)], settings.paths.data_dir)
    assert again.returncode == 2 and reasons(again, "new") == [
        f"dragnet profile new: {path} exists; not overwritten (choose another --out)"
    ]
    assert path.read_text() == text
    with pytest.raises(ProfileError, match=r"is not filled in: start_urls\[0\] is still 'TODO http://"):
        load_profile(path)
    # fill every TODO with the example it gives (the start URL with a real one)
    filled = text.replace("TODO http://<56 characters>.onion/", "http://" + "a" * 56 + ".onion/")
    filled = re.sub(r'"TODO ([^"]*)"', r'"\1"', filled)
    assert '"TODO' not in filled
    path.write_text(filled)
    profile = load_profile(path)
    assert profile.name == "shop" and profile.kind == kind
    if kind == "market":
        assert profile.listing is not None and profile.listing.detail_url == r"^/item/\d+$"
        assert set(profile.fields) == {"title", "price"}
    else:
        assert profile.posts is not None and profile.posts.container == "div.post"


def test_profile_new_refuses_a_bad_name_or_kind(settings, tmp_path: Path) -> None:
    bad = dragnet(["profile", "new", "Bad Name", "--out", str(tmp_path / "x.yaml")], settings.paths.data_dir)
    assert bad.returncode == 2 and "not a profile name: 'Bad Name'" in bad.stderr
    kind = dragnet(["profile", "new", "shop", "--kind", "telegram", "--out", str(tmp_path / "y.yaml")], tmp_path)
    assert kind.returncode == 2 and "no skeleton for kind 'telegram'" in kind.stderr
    assert not (tmp_path / "x.yaml").exists() and not (tmp_path / "y.yaml").exists()
