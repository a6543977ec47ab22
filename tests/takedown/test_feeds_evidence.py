"""Evidence bundles: built per hit, checked digest by digest, tampering named."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner
from warcio.archiveiterator import ArchiveIterator

from crawlers.warc import WarcStore
from dragnet.cli import app
from dragnet.settings import DragnetSettings
from takedown.evidence import RawCapture, build_bundle, screenshot_path, verify_bundle
from tests.takedown.helpers import make_hit

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _rewrite(bundle: Path, out: Path, change: dict[str, bytes]) -> Path:
    """Copy a bundle, replacing some members (what a tamperer with the file would do)."""
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, change.get(info.filename, src.read(info.filename)))
    return out


@pytest.fixture
def bundle(feed_settings: DragnetSettings) -> Path:
    hit = make_hit("https://fakegram.test/p/EV1", "xanax bars 2mg, 50 pills for $120")
    raw = RawCapture(
        body=b"<html><body><article>xanax bars 2mg, 50 pills for $120</article></body></html>",
        headers=[("Content-Type", "text/html; charset=utf-8"), ("Server", "fake")],
    )
    return build_bundle(hit, raw=raw, screenshot=PNG, settings=feed_settings)


def test_bundle_layout_and_verify(bundle: Path, feed_settings: DragnetSettings) -> None:
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        assert {
            "archive/data.warc.gz",
            "pages/pages.jsonl",
            "datapackage.json",
            "datapackage-digest.json",
            "evidence/listing.json",
            "evidence/text.txt",
            "evidence/screenshot.png",
            "evidence/capture-log.json",
        } <= names
        manifest = json.loads(zf.read("datapackage.json"))
        assert all(r["hash"].startswith("sha256:") for r in manifest["resources"])
        log = json.loads(zf.read("evidence/capture-log.json"))
        assert log["tool"] and log["tool_version"] and log["user_agent"] == feed_settings.crawl.user_agent
        assert log["captured_at"].endswith(("Z", "+00:00")) and log["vantage_point"]
        records = list(ArchiveIterator(io.BytesIO(zf.read("archive/data.warc.gz"))))
    types = [r.rec_type for r in records]
    assert types[0] == "warcinfo" and "response" in types and types.count("resource") == 2 and "metadata" in types
    assert all(r.rec_headers.protocol == "WARC/1.1" for r in records)
    assert all(r.rec_headers.get_header("WARC-Block-Digest").startswith("sha256:") for r in records[1:])
    report = verify_bundle(bundle)
    assert report.ok, report.problems
    assert report.files_checked == len(names) - 2 and report.warc_records_checked == len(types)


def test_tampered_file_is_named(bundle: Path, tmp_path: Path) -> None:
    bad = _rewrite(bundle, tmp_path / "bad.wacz", {"evidence/text.txt": b"nothing to see here"})
    report = verify_bundle(bad)
    assert not report.ok and report.tampered_files == ["evidence/text.txt"]


def test_tampered_warc_record_is_caught_even_with_a_fixed_manifest(bundle: Path, tmp_path: Path) -> None:
    """A careful tamperer edits the page inside the WARC and updates the manifest hash too; the
    WARC record's own SHA-256 digest still gives it away."""
    with zipfile.ZipFile(bundle) as zf:
        warc = zf.read("archive/data.warc.gz")
        manifest = json.loads(zf.read("datapackage.json"))
        digest = json.loads(zf.read("datapackage-digest.json"))
    # rewrite the response record's gzip member only, keeping the WARC well-formed
    members = []
    iterator = ArchiveIterator(io.BytesIO(warc))
    for record in iterator:
        record.content_stream().read()
        members.append((record.rec_type, iterator.get_record_offset(), iterator.get_record_length()))
    forged_warc = b""
    for rec_type, offset, length in members:
        member = warc[offset : offset + length]
        if rec_type == "response":
            plain = gzip.decompress(member)
            assert b"xanax bars 2mg" in plain
            member = gzip.compress(plain.replace(b"xanax bars 2mg", b"vitamin C 2mg!"))
        forged_warc += member

    for res in manifest["resources"]:
        if res["path"] == "archive/data.warc.gz":
            res["hash"], res["bytes"] = "sha256:" + hashlib.sha256(forged_warc).hexdigest(), len(forged_warc)
    manifest_bytes = json.dumps(manifest).encode()
    digest["hash"] = "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
    bad = _rewrite(
        bundle,
        tmp_path / "forged.wacz",
        {
            "archive/data.warc.gz": forged_warc,
            "datapackage.json": manifest_bytes,
            "datapackage-digest.json": json.dumps(digest).encode(),
        },
    )
    report = verify_bundle(bad)
    # the WARC record digest names the forged file; the index no longer resolves (the record moved);
    # the signature over the old manifest fails too
    assert not report.ok and report.tampered_files == [
        "archive/data.warc.gz",
        "datapackage-digest.json",
        "indexes/index.cdxj",
    ]
    assert any("digest" in p.reason for p in report.problems), report.problems


def test_added_or_removed_files_are_named(bundle: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(tmp_path / "extra.wacz", "w") as dst:
        for info in src.infolist():
            if info.filename != "evidence/screenshot.png":
                dst.writestr(info.filename, src.read(info.filename))
        dst.writestr("evidence/planted.txt", b"x")
    report = verify_bundle(tmp_path / "extra.wacz")
    assert set(report.tampered_files) == {"evidence/screenshot.png", "evidence/planted.txt"}


def test_cli_verify_exit_codes_and_names_the_file(bundle: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["evidence", "verify", str(bundle)])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("OK")
    bad = _rewrite(bundle, tmp_path / "bad.wacz", {"evidence/listing.json": b"{}"})
    result = runner.invoke(app, ["evidence", "verify", str(bad)])
    assert result.exit_code == 1
    assert "FAIL evidence/listing.json" in result.output and "TAMPERED" in result.output
    as_json = runner.invoke(app, ["evidence", "verify", "--json", str(bad)])
    assert json.loads(as_json.output)["tampered_files"] == ["evidence/listing.json"]


def test_unpacked_directory_verifies_too(bundle: Path, tmp_path: Path) -> None:
    target = tmp_path / "unpacked"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(target)
    assert verify_bundle(target).ok
    (target / "pages" / "pages.jsonl").write_text("{}\n")
    assert verify_bundle(target).tampered_files == ["pages/pages.jsonl"]


def test_signed_bundle(feed_settings: DragnetSettings, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    settings = feed_settings.model_copy(
        update={"feeds": feed_settings.feeds.model_copy(update={"signing_key_file": key_file})}
    )
    path = build_bundle(make_hit("https://fakegram.test/p/S1", "xanax bars"), settings=settings)
    public = base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()
    report = verify_bundle(path, trusted_public_key=public)
    assert report.ok and report.signed and report.signature_ok
    other = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert verify_bundle(path, trusted_public_key=base64.b64encode(other).decode()).tampered_files == [
        "datapackage-digest.json"
    ]
    with zipfile.ZipFile(path) as zf:
        digest = json.loads(zf.read("datapackage-digest.json"))
    digest["signedData"]["signature"] = base64.b64encode(b"\x30\x06\x02\x01\x01\x02\x01\x01").decode()
    forged = _rewrite(path, tmp_path / "forged.wacz", {"datapackage-digest.json": json.dumps(digest).encode()})
    report = verify_bundle(forged)
    assert not report.ok and report.signature_ok is False


def test_a_forgery_with_recomputed_digests_and_no_signature_is_refused(bundle: Path, tmp_path: Path) -> None:
    """Bundles are signed by default, so a forger who edits the page and recomputes every digest
    must drop the signature; that no longer verifies as "OK, unsigned"."""
    with zipfile.ZipFile(bundle) as zf:
        manifest = json.loads(zf.read("datapackage.json"))
        digest = json.loads(zf.read("datapackage-digest.json"))
        pages = zf.read("pages/pages.jsonl").replace(b"xanax", b"vitamins")
    assert "signedData" in digest  # signed without any configuration
    for res in manifest["resources"]:
        if res["path"] == "pages/pages.jsonl":
            res["hash"], res["bytes"] = "sha256:" + hashlib.sha256(pages).hexdigest(), len(pages)
    manifest_bytes = json.dumps(manifest).encode()
    forged_digest = {"path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()}
    forged = _rewrite(
        bundle,
        tmp_path / "unsigned.wacz",
        {
            "pages/pages.jsonl": pages,
            "datapackage.json": manifest_bytes,
            "datapackage-digest.json": json.dumps(forged_digest).encode(),
        },
    )
    assert verify_bundle(forged).ok  # every digest is consistent: only a signature can tell
    assert verify_bundle(forged, require_signature=True).tampered_files == ["datapackage-digest.json"]
    result = CliRunner().invoke(app, ["evidence", "verify", str(forged)])
    assert result.exit_code == 1 and "signature was required" in result.output
    assert CliRunner().invoke(app, ["evidence", "verify", "--allow-unsigned", str(forged)]).exit_code == 0
    assert verify_bundle(bundle, trusted_public_key="AAAA").tampered_files == ["datapackage-digest.json"]


def test_bundle_from_the_crawlers_warc_snapshot(feed_settings: DragnetSettings) -> None:
    """When the crawler archived the response, the bundle carries that exact response."""

    body = b"<html>original capture: xanax bars</html>"
    warcs = WarcStore(feed_settings.paths.warc_dir, "fakegram")
    try:
        snapshot = warcs.write_response("https://fakegram.test/p/W1", 200, [("Content-Type", "text/html")], body)
    finally:
        warcs.close()
    hit = make_hit("https://fakegram.test/p/W1", "xanax bars")
    hit.snapshot = snapshot
    path = build_bundle(hit, settings=feed_settings)
    with zipfile.ZipFile(path) as zf:
        records = list(ArchiveIterator(io.BytesIO(zf.read("archive/data.warc.gz"))))
        log = json.loads(zf.read("evidence/capture-log.json"))
        payloads = [
            r.content_stream().read()
            for r in ArchiveIterator(io.BytesIO(zf.read("archive/data.warc.gz")))
            if r.rec_type == "response"
        ]
    assert payloads == [body]
    assert len(records) == 4 and log["raw_capture"] is True  # warcinfo, response, text, capture log
    assert verify_bundle(path).ok
    # the status line travels as the crawler received it ("200 -" stays "200 -", never "200 OK")
    assert [r.http_headers.statusline for r in records if r.rec_type == "response"] == ["200 -"]
    assert records[0].rec_type == "warcinfo" and all(r.rec_headers.protocol == "WARC/1.1" for r in records)
    # the crawler's own file and the bundle's WARC both pass `warcio check`
    for warc in (Path(snapshot.warc_file), _extract_warc(path, feed_settings.paths.evidence_dir / "w1.warc.gz")):
        done = subprocess.run(
            [str(Path(sys.executable).with_name("warcio")), "check", "-v", str(warc)], capture_output=True, text=True
        )
        assert done.returncode == 0 and "fail" not in done.stdout, done.stdout + done.stderr
        assert done.stdout.count("digest pass") >= 2


def test_bundle_keeps_a_reason_phrase_as_received(feed_settings: DragnetSettings) -> None:
    warcs = WarcStore(feed_settings.paths.warc_dir, "fakegram")
    try:
        snapshot = warcs.write_response(
            "https://fakegram.test/p/W2", 410, [("Content-Type", "text/html")], b"xanax bars", reason="Gone Away"
        )
    finally:
        warcs.close()
    hit = make_hit("https://fakegram.test/p/W2", "xanax bars")
    hit.snapshot = snapshot
    path = build_bundle(hit, settings=feed_settings)
    with zipfile.ZipFile(path) as zf:
        records = list(ArchiveIterator(io.BytesIO(zf.read("archive/data.warc.gz"))))
    assert [r.http_headers.statusline for r in records if r.rec_type == "response"] == ["410 Gone Away"]
    assert verify_bundle(path).ok


def _extract_warc(bundle: Path, out: Path) -> Path:
    with zipfile.ZipFile(bundle) as zf:
        out.write_bytes(zf.read("archive/data.warc.gz"))
    return out


def test_crawler_screenshot_is_bundled_only_when_its_hash_matches(feed_settings: DragnetSettings) -> None:
    sha = hashlib.sha256(PNG).hexdigest()
    path = screenshot_path(sha, feed_settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(PNG)
    hit = make_hit("https://fakegram.test/p/SS", "xanax bars")
    hit.screenshot_sha256 = sha
    with zipfile.ZipFile(build_bundle(hit, settings=feed_settings)) as zf:
        assert zf.read("evidence/screenshot.png") == PNG
    path.write_bytes(PNG + b"swapped")  # replaced on disk: not the screenshot the listing names
    hit2 = make_hit("https://fakegram.test/p/SS2", "xanax bars")
    hit2.screenshot_sha256 = sha
    with zipfile.ZipFile(build_bundle(hit2, settings=feed_settings)) as zf:
        assert "evidence/screenshot.png" not in zf.namelist()
        assert "not matching" in json.loads(zf.read("evidence/capture-log.json"))["notes"][0]
