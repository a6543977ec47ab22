"""The telegram spider against the simulated t.me preview (``t.me.test`` behind the SOCKS5 proxy,
real Scrapy in a child process): every message once across pages, its own URL and evidence
record, and on a re-crawl the edits (new versions) and deletions (reported)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from aiohttp import web
from typer.testing import CliRunner
from warcio.archiveiterator import ArchiveIterator

from crawlers import cli as crawlers_cli
from crawlers.profiles import ProfileError, load_profile
from crawlers.simsites.telegram import TelegramSite, default_channels, generate_channel
from crawlers.spiders.telegram import parse_views
from crawlers.telegram import TelegramState
from extract.text import normalize_text
from tests.crawlers.conftest import run_crawl_subprocess
from tests.crawlers.sites import LoopbackSite

pytestmark = pytest.mark.integration


@pytest.fixture
def telegram_site(socks_proxy: Any) -> Iterator[TelegramSite]:
    site = TelegramSite(default_channels(size=120)).serve(socks_proxy)
    try:
        yield site
    finally:
        site.stop()


def _profile(tmp_path: Path, channels: list[str], **extra: Any) -> Path:
    path = tmp_path / "profiles" / "tg.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"name": "tg", "kind": "telegram", "start_urls": ["http://t.me.test/s/"], "channels": channels}
    body.update(extra)
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def _records(warc_files: set[str]) -> dict[str, Any]:
    """WARC-Record-ID -> (type, target URI, headers, payload) of every record in the files."""
    out = {}
    for name in warc_files:
        with open(name, "rb") as handle:
            for record in ArchiveIterator(handle):
                headers = record.rec_headers
                out[headers.get_header("WARC-Record-ID")] = (
                    record.rec_type,
                    headers.get_header("WARC-Target-URI"),
                    headers,
                    record.content_stream().read(),
                )
    return out


def test_every_message_once_with_its_url_date_views_contacts_and_evidence(
    telegram_site: TelegramSite, socks_proxy: Any, settings: Any, tmp_path: Path
) -> None:
    run = run_crawl_subprocess(
        ["telegram"], data_dir=settings.paths.data_dir, proxy_url=socks_proxy.url, out=tmp_path / "items.jsonl"
    )
    truth = {t["url"]: t for t in telegram_site.ground_truth()}
    assert len(truth) == 360
    urls = [item.url for item in run.listings]
    assert len(urls) == len(set(urls)), "a message collected twice"
    assert set(urls) == set(truth)
    stats = run.site("telegram")
    assert stats["dragnet/telegram/pages"] == 18  # 3 channels x 6 pages of 20, read backwards
    assert stats["dragnet/telegram/new"] == 360 and "dragnet/telegram/deleted" not in stats
    # Only the preview pages were fetched, by name through the proxy; never a media or t.me URL.
    assert all(hit.startswith("/s/") for hit in telegram_site.hits)
    assert socks_proxy.stats.by_host["t.me.test"] >= 1

    state = TelegramState(settings.paths.data_dir / "telegram.sqlite3")
    ledgers = {c: state.messages(c) for c in ("frosty_menu", "safer_nights", "city_talk_420")}
    records = _records({item.snapshot.warc_file for item in run.listings if item.snapshot})
    for item in run.listings:
        record = truth[item.url]
        assert item.canonical_url == f"https://t.me/{record['channel']}/{record['msg_id']}"
        assert item.platform == "telegram" and item.source_kind == "social" and item.version == 1
        assert item.text == normalize_text(record["text"])
        assert item.images == record["media"]
        assert {(c.kind, c.handle) for c in item.contacts} >= {(c["kind"], c["handle"]) for c in record["contacts"]}
        assert {c.address for c in item.crypto} >= {c["address"] for c in record["crypto"]}
        seen = ledgers[record["channel"]][record["msg_id"]]
        assert seen["date"] == record["date"]
        assert seen["views"] == parse_views(record["views_label"])
        assert abs(seen["views"] - record["views"]) <= max(1, record["views"] * 0.05)
        # Evidence: the message block under its own URL, referring to the page it came from.
        assert item.snapshot is not None
        kind, target, headers, payload = records[item.snapshot.record_id]
        assert (kind, target) == ("resource", item.url)
        assert f'data-post="{record["channel"]}/{record["msg_id"]}"'.encode() in payload
        assert payload.count(b"tgme_widget_message_text") == 1
        page_kind, page_url, _, page_body = records[headers.get_header("WARC-Refers-To")]
        assert page_kind == "response" and page_url == headers.get_header("WARC-Refers-To-Target-URI")
        assert page_url.startswith(f"http://t.me.test/s/{record['channel']}")
        assert f'data-post="{record["channel"]}/{record["msg_id"]}"'.encode() in page_body
    state.close()
    # Sale menus, harm reduction and the mixed channel: all collected (classifying is the workers' job).
    assert {truth[u]["is_sale"] for u in urls} == {True, False}


def test_recrawl_notices_an_edit_as_a_new_version_and_reports_deletions(
    telegram_site: TelegramSite, socks_proxy: Any, settings: Any, tmp_path: Path
) -> None:
    channel = "city_talk_420"
    profile = _profile(tmp_path, [channel])
    first = run_crawl_subprocess(
        [str(profile)], data_dir=settings.paths.data_dir, proxy_url=socks_proxy.url, out=tmp_path / "one.jsonl"
    )
    assert len(first.listings) == 120
    ids = sorted(telegram_site.channels[channel].messages)
    edited_id, deleted_mid, deleted_newest = ids[50], ids[77], ids[-1]
    telegram_site.edit(channel, edited_id, "Price drop 🔥 now 60€ per gram, ask @new_plug_bot")
    telegram_site.delete(channel, deleted_mid)
    telegram_site.delete(channel, deleted_newest)

    second = run_crawl_subprocess(
        [str(profile)], data_dir=settings.paths.data_dir, proxy_url=socks_proxy.url, out=tmp_path / "two.jsonl"
    )
    before = {item.url: item for item in first.listings}
    after = {item.url: item for item in second.listings}
    edited_url = f"https://t.me/{channel}/{edited_id}"
    gone = {f"https://t.me/{channel}/{deleted_mid}", f"https://t.me/{channel}/{deleted_newest}"}
    assert set(after) == set(before) - gone
    new, old = after[edited_url], before[edited_url]
    assert new.id == old.id and new.content_sha256 != old.content_sha256
    assert new.version == 2 and "new_plug_bot" in {c.handle for c in new.contacts}
    assert all(item.version == 1 for url, item in after.items() if url != edited_url)
    stats = second.site("tg")
    assert stats["dragnet/telegram/edited"] == 1 and stats["dragnet/telegram/same"] == 117
    assert stats["dragnet/telegram/deleted"] == 2
    assert set(stats["dragnet/telegram/deleted_urls"].split(",")) == gone
    for url in gone:
        assert f"telegram: message {url} deleted" in second.log
    state = TelegramState(settings.paths.data_dir / "telegram.sqlite3")
    ledger = state.messages(channel)
    assert ledger[deleted_mid]["deleted_at"] and ledger[deleted_newest]["deleted_at"]
    assert ledger[edited_id]["edited"] and not ledger[ids[0]]["deleted_at"]
    state.close()


def test_depth_cap_reads_only_the_newest_pages_and_flags_nothing_older(
    telegram_site: TelegramSite, socks_proxy: Any, settings: Any, tmp_path: Path
) -> None:
    channel = "safer_nights"
    full = run_crawl_subprocess(
        [str(_profile(tmp_path, [channel]))],
        data_dir=settings.paths.data_dir,
        proxy_url=socks_proxy.url,
        out=tmp_path / "full.jsonl",
    )
    assert len(full.listings) == 120
    capped = run_crawl_subprocess(
        [str(_profile(tmp_path, [channel], max_pages=2))],
        data_dir=settings.paths.data_dir,
        proxy_url=socks_proxy.url,
        out=tmp_path / "capped.jsonl",
    )
    newest = sorted(telegram_site.channels[channel].messages)[-40:]
    assert sorted(int(item.url.rsplit("/", 1)[1]) for item in capped.listings) == newest
    stats = capped.site("tg")
    assert stats["dragnet/telegram/depth_reached"] == 1 and "dragnet/telegram/deleted" not in stats


def test_channel_directory_feeds_the_crawl(
    telegram_site: TelegramSite, socks_proxy: Any, settings: Any, tmp_path: Path
) -> None:
    app = typer.Typer()
    crawlers_cli.register(app, handoff=lambda batch: None)
    runner = CliRunner()
    added = runner.invoke(app, ["sources", "add", "telegram", "@Frosty_Menu", "--every", "600"])
    assert added.exit_code == 0, added.output
    assert "telegram/frosty_menu: added, re-crawled every 600s" in added.output
    refused = runner.invoke(app, ["sources", "add", "telegram", "x!"])
    assert refused.exit_code == 2 and "not a public Telegram channel name" in refused.output
    listed = runner.invoke(app, ["sources", "list"])
    assert "telegram/frosty_menu\tevery 600s\tlast crawled never" in listed.output

    profile = _profile(tmp_path, [], directory=True)
    run = run_crawl_subprocess(
        [str(profile)], data_dir=settings.paths.data_dir, proxy_url=socks_proxy.url, out=tmp_path / "items.jsonl"
    )
    assert {item.url.split("/")[3] for item in run.listings} == {"frosty_menu"}
    assert len(run.listings) == 120
    assert "last crawled never" not in runner.invoke(app, ["sources", "list"]).output
    # Crawled just now and due again only in 600 s: the next crawl has nothing to do.
    again = run_crawl_subprocess(
        [str(profile)], data_dir=settings.paths.data_dir, proxy_url=socks_proxy.url, out=tmp_path / "again.jsonl"
    )
    assert again.listings == [] and again.stats["items"] == 0


def test_views_and_profile_checks(tmp_path: Path) -> None:
    assert [parse_views(v) for v in ("987", "1.2K", "1K", "3.4M", "12,345", "", "lots", None)] == [
        987,
        1200,
        1000,
        3_400_000,
        12345,
        None,
        None,
        None,
    ]
    path = tmp_path / "tg.yaml"
    path.write_text("name: tg\nkind: telegram\nstart_urls: ['http://t.me.test/s/']\nchannel: [abcde]\n")
    with pytest.raises(ProfileError, match="channel: unknown key; did you mean 'channels'"):
        load_profile(path)
    path.write_text("name: tg\nkind: telegram\nstart_urls: ['http://t.me.test/s/']\nchannels: ['no way']\n")
    with pytest.raises(ProfileError, match="not a public Telegram channel name"):
        load_profile(path)
    # The simulated channels are deterministic and have id gaps, as real channels do.
    one, two = generate_channel("abc_shop", "sells", 50), generate_channel("abc_shop", "sells", 50)
    assert [m.text for m in one.messages.values()] == [m.text for m in two.messages.values()]
    ids = sorted(one.messages)
    assert ids[-1] - ids[0] > len(ids) - 1


def _hostile_page() -> str:
    big = "A" * 1_000_000
    blocks = [
        f'<div class="tgme_widget_message" data-post="evil_chan/{1000 + n}"><div class="tgme_widget_message_text">'
        f"msg {n}<script>steal()</script></div></div>"
        for n in range(120)
    ]
    blocks.insert(
        0,
        '<div class="tgme_widget_message" data-post="other_chan/5"><div class="tgme_widget_message_text">'
        "not ours</div></div>",
    )
    blocks.insert(
        1,
        f'<div class="tgme_widget_message" data-post="evil_chan/999"><div class="tgme_widget_message_text">'
        f"{big}</div><span class='tgme_widget_message_views'>9e99K</span></div>",
    )
    return (
        '<html><head><link rel="prev" href="http://evil.example/s/evil_chan?before=1">'
        f"</head><body>{''.join(blocks)}</body></html>"
    )


def test_hostile_preview_pages_are_capped_and_never_steer_the_crawl(
    socks_proxy: Any, settings: Any, tmp_path: Path
) -> None:
    async def page(request: Any) -> Any:
        return web.Response(text=_hostile_page(), content_type="text/html")

    with LoopbackSite({"/s/evil_chan": page}) as site:
        socks_proxy.add("t.me.test", ("127.0.0.1", site.port))
        try:
            run = run_crawl_subprocess(
                [str(_profile(tmp_path, ["evil_chan"], max_pages=5))],
                data_dir=settings.paths.data_dir,
                proxy_url=socks_proxy.url,
                out=tmp_path / "items.jsonl",
            )
        finally:
            socks_proxy.remove("t.me.test")
    stats = run.site("tg")
    # 100 blocks read of 122 (the cap); the foreign post refused; the same page served again for
    # ?before= goes nowhere (ids must go backwards), so the crawl ends after two pages.
    assert stats["dragnet/telegram/capped_pages"] == 2
    assert stats["dragnet/telegram/foreign_posts"] == 2
    assert stats["dragnet/telegram/out_of_order"] >= 1
    assert site.hits == ["/s/evil_chan", "/s/evil_chan"]
    assert socks_proxy.stats.by_host["evil.example"] == 0
    assert all(not item.url.startswith("https://t.me/other_chan") for item in run.listings)
    assert len(run.listings) == 99
    huge = next(item for item in run.listings if item.url.endswith("/999"))
    assert len(huge.text) == settings.crawl.telegram_max_text_chars
    assert all("steal" not in item.text for item in run.listings)
