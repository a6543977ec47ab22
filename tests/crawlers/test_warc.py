"""The crawler's WARC files as written by WarcStore: WARC/1.1, a warcinfo record first, status
lines as received, and ``warcio check`` (digests, record structure) passes on every file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from crawlers.warc import WarcStore

WARCIO = Path(sys.executable).with_name("warcio")


def warcio_check(path: Path) -> str:
    """``warcio check -v``: exit 0 and every record's digest passing, else the output as the reason."""
    done = subprocess.run([str(WARCIO), "check", "-v", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "digest pass" in done.stdout and "fail" not in done.stdout, done.stdout
    return done.stdout


def test_warcstore_writes_warc_1_1_with_warcinfo_first_and_keeps_the_status_line(tmp_path: Path) -> None:
    store = WarcStore(tmp_path, "simmarket")
    try:
        page = store.write_response("http://m.test/l/1", 200, [("Content-Type", "text/html")], b"<html>a</html>")
        store.write_response(
            "http://m.test/l/2", 404, [("Content-Type", "text/html")], b"gone", reason="Not Found", protocol="HTTP/1.0"
        )
        store.write_response("http://m.test/l/3", 200, [("Content-Type", "text/html")], b"ok", reason="Okey dokey")
        store.write_excerpt(
            "http://m.test/l/1#m1",
            b"<div>m1</div>",
            page_record_id=page.record_id,
            page_url="http://m.test/l/1",
            metadata={"id": "m1"},
        )
    finally:
        store.close()
    out = warcio_check(store.path)
    with store.path.open("rb") as fh:
        records = list(ArchiveIterator(fh))
    assert out.count("digest pass") == len(records) == 6  # every record checked, warcinfo included
    assert [r.rec_type for r in records] == ["warcinfo", "response", "response", "response", "resource", "metadata"]
    assert all(r.rec_headers.protocol == "WARC/1.1" for r in records)
    info = records[0]
    assert info.rec_headers.get_header("WARC-Filename") == store.path.name
    assert info.rec_headers.get_header("Content-Type") == "application/warc-fields"
    lines = [(r.http_headers.protocol, r.http_headers.statusline) for r in records if r.rec_type == "response"]
    # as received: no "OK" made up for the code-only "-", a sent phrase kept verbatim
    assert lines == [("HTTP/1.1", "200 -"), ("HTTP/1.0", "404 Not Found"), ("HTTP/1.1", "200 Okey dokey")]


def test_reopened_warc_file_gets_no_second_warcinfo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("crawlers.warc.time.strftime", lambda *_: "20260101-000000")
    first = WarcStore(tmp_path, "sim")
    first.write_response("http://a.test/", 200, [], b"a")
    first.close()
    again = WarcStore(tmp_path, "sim")  # same name, stamp and pid: the same file, appended to
    assert again.path == first.path
    again.write_response("http://a.test/b", 200, [], b"b")
    again.close()
    warcio_check(first.path)
    with first.path.open("rb") as fh:
        assert [r.rec_type for r in ArchiveIterator(fh)] == ["warcinfo", "response", "response"]


def test_rendered_post_excerpt_with_screenshot_conversion_record(tmp_path: Path) -> None:
    """A rendered page's record and one post of it: the post's HTML as a ``resource`` under the
    post's URL referring to the page record, its metadata, and its screenshot as an
    ``image/png`` ``conversion`` record referring to the post's record; ``warcio check`` passes."""
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    store = WarcStore(tmp_path, "chatter")
    try:
        page = store.write_response(
            "http://s.test/",
            200,
            [("Content-Type", "text/html")],
            b"<html><article>p1</article></html>",
            proxy="socks5://127.0.0.1:9050",
            circuit_isolation=False,
            rendered_by="chromium (playwright)",
        )
        post = store.write_excerpt(
            "http://s.test/p/1",
            b"<article>p1</article>",
            page_record_id=page.record_id,
            page_url="http://s.test/",
            metadata={"author": "a"},
            screenshot=png,
        )
    finally:
        store.close()
    out = warcio_check(store.path)
    with store.path.open("rb") as fh:
        records = [(r, r.content_stream().read()) for r in ArchiveIterator(fh)]
    assert out.count("digest pass") == len(records) == 5
    assert [r.rec_type for r, _ in records] == ["warcinfo", "response", "resource", "metadata", "conversion"]
    response, resource, shot = records[1][0], records[2][0], records[4]
    assert response.rec_headers.get_header("Dragnet-Rendered-By") == "chromium (playwright)"
    assert resource.rec_headers.get_header("WARC-Record-ID") == post.record_id
    assert resource.rec_headers.get_header("WARC-Refers-To") == page.record_id
    assert shot[0].rec_headers.get_header("WARC-Target-URI") == "http://s.test/p/1"
    assert shot[0].rec_headers.get_header("WARC-Refers-To") == post.record_id
    assert shot[0].rec_headers.get_header("Content-Type") == "image/png" and shot[1] == png
