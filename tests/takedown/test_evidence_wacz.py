"""Evidence bundles checked by tools that are not Dragnet's: py-wacz's ``wacz validate``, the SURT
library pywb uses, ``warcio check``, and an index and signature check written here from the WACZ,
CDXJ and WACZ-signing specs (independently of takedown/), on bundles built from the crawler's own
WARC files."""

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
import surt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from typer.testing import CliRunner
from warcio.archiveiterator import ArchiveIterator

from crawlers.warc import WarcStore
from dragnet.cli import app
from dragnet.documents import Snapshot
from dragnet.settings import DragnetSettings
from takedown.evidence import build_bundle, verify_bundle
from takedown.signing import public_key_b64
from tests.takedown.helpers import make_hit

BIN = Path(sys.executable).parent
FEED_URL = "https://fakegram.test/explore/tags/bars"
FEED_HTML = (
    b"<html><body><article><a href='/p/A1'>A1</a>vitamin C, 1000 mg</article>"
    b"<article><a href='/p/A2'>A2</a>xanax bars 2mg, 50 pills for $120, DM @plug</article></body></html>"
)


def _crawl_feed(settings: DragnetSettings, **route: object) -> Snapshot:
    """What the social spider stores: the rendered feed page, one response record."""
    warcs = WarcStore(settings.paths.warc_dir, "fakegram")
    try:
        return warcs.write_response(
            FEED_URL,
            200,
            [("Content-Type", "text/html; charset=utf-8")],
            FEED_HTML,
            **route,  # type: ignore[arg-type]
        )
    finally:
        warcs.close()


def _post_bundle(settings: DragnetSettings, snapshot: Snapshot) -> Path:
    hit = make_hit("https://fakegram.test/p/A2", "xanax bars 2mg, 50 pills for $120, DM @plug")
    hit.snapshot = snapshot
    return build_bundle(hit, settings=settings)


def _records(bundle: Path) -> list[tuple[dict[str, str], bytes]]:
    with zipfile.ZipFile(bundle) as zf:
        warc = zf.read("archive/data.warc.gz")
    return [
        ({k: v for k, v in r.rec_headers.headers} | {"type": r.rec_type}, r.content_stream().read())
        for r in ArchiveIterator(io.BytesIO(warc))
    ]


def _wacz_validate(bundle: Path) -> str:
    done = subprocess.run([str(BIN / "wacz"), "validate", "--file", str(bundle)], capture_output=True, text=True)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "Validation succeeded" in out, out
    return out


def _check_index(bundle: Path) -> list[dict[str, object]]:
    """Every CDXJ line resolves: at its offset/length one record with its URL and digest, whose
    digest recomputes; keys are pywb's SURT, lines sorted."""
    with zipfile.ZipFile(bundle) as zf:
        warc = zf.read("archive/data.warc.gz")
        lines = zf.read("indexes/index.cdxj").decode().splitlines()
    assert lines == sorted(lines) and lines
    blocks = []
    for line in lines:
        key, ts, block_text = line.split(" ", 2)
        block = json.loads(block_text)
        assert key == surt.surt(block["url"]) and len(ts) == 14 and ts.isdigit()
        assert {"url", "digest", "mime", "offset", "length", "filename"} <= set(block)
        member = warc[block["offset"] : block["offset"] + block["length"]]
        records = list(ArchiveIterator(io.BytesIO(member), check_digests=True))
        assert len(records) == 1
        record = records[0]
        record.content_stream().read()
        assert record.digest_checker.passed is not False and not record.digest_checker.problems
        headers = record.rec_headers
        assert headers.get_header("WARC-Target-URI") == block["url"]
        assert (headers.get_header("WARC-Payload-Digest") or headers.get_header("WARC-Block-Digest")) == block["digest"]
        if record.rec_type == "response":
            assert block["status"] == record.http_headers.get_statuscode()
        blocks.append(block)
    return blocks


def _check_wacz_signature(bundle: Path) -> str:
    """The WACZ signing spec's anonymous signature, checked from the spec: only its six fields,
    ``created`` as the package's, ECDSA/SHA-256 over the ASCII hash, base64 r||s or DER."""
    with zipfile.ZipFile(bundle) as zf:
        manifest_bytes = zf.read("datapackage.json")
        digest = json.loads(zf.read("datapackage-digest.json"))
    signed = digest["signedData"]
    assert set(signed) == {"hash", "created", "software", "version", "signature", "publicKey"}
    assert signed["hash"] == digest["hash"] == "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
    assert signed["created"] == json.loads(manifest_bytes)["created"]
    public = serialization.load_der_public_key(base64.b64decode(signed["publicKey"]))
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name in ("secp256r1", "secp384r1")
    sig = base64.b64decode(signed["signature"])
    size = public.curve.key_size // 8
    if len(sig) == 2 * size:
        sig = encode_dss_signature(int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big"))
    public.verify(sig, signed["hash"].encode("ascii"), ec.ECDSA(hashes.SHA256()))
    return str(signed["publicKey"])


def _warcio_check(bundle: Path, out: Path) -> None:
    with zipfile.ZipFile(bundle) as zf:
        out.write_bytes(zf.read("archive/data.warc.gz"))
    done = subprocess.run([str(BIN / "warcio"), "check", "-v", str(out)], capture_output=True, text=True)
    assert done.returncode == 0 and "fail" not in done.stdout, done.stdout + done.stderr


def test_post_bundle_is_valid_wacz_with_the_feed_capture_byte_for_byte(
    feed_settings: DragnetSettings, tmp_path: Path
) -> None:
    snapshot = _crawl_feed(feed_settings, proxy="socks5h://dragnet-7:s3cret@127.0.0.1:9050", circuit_isolation=True)
    bundle = _post_bundle(feed_settings, snapshot)

    _wacz_validate(bundle)
    blocks = _check_index(bundle)
    assert _check_wacz_signature(bundle) == public_key_b64(feed_settings)
    _warcio_check(bundle, tmp_path / "b.warc.gz")
    assert verify_bundle(bundle, public_key_b64(feed_settings), require_signature=True).ok

    # the crawler's record, byte for byte (gzip member as stored): id, date, digests, "200 -"
    original = Path(snapshot.warc_file).read_bytes()
    with zipfile.ZipFile(bundle) as zf:
        warc = zf.read("archive/data.warc.gz")
        log = json.loads(zf.read("evidence/capture-log.json"))
        pages = [json.loads(line) for line in zf.read("pages/pages.jsonl").decode().splitlines()]
    feed = next(b for b in blocks if b["url"] == FEED_URL)
    copied = warc[int(str(feed["offset"])) : int(str(feed["offset"])) + int(str(feed["length"]))]
    assert copied in original and gzip.decompress(copied).count(b"HTTP/1.1 200 -\r\n") == 1
    records = _records(bundle)
    response = next(h for h, _ in records if h["type"] == "response")
    assert response["WARC-Record-ID"] == snapshot.record_id and response["WARC-Target-URI"] == FEED_URL

    # the post: its own record under its own URL, its text only, referring to the feed capture
    post = [(h, body) for h, body in records if h.get("WARC-Target-URI") == "https://fakegram.test/p/A2"]
    resource = next((h, body) for h, body in post if h["type"] == "resource")
    assert resource[1] == b"xanax bars 2mg, 50 pills for $120, DM @plug" and b"vitamin" not in resource[1]
    assert resource[0]["WARC-Refers-To"] == snapshot.record_id
    assert resource[0]["WARC-Refers-To-Target-URI"] == FEED_URL
    assert resource[0]["WARC-Refers-To-Date"] == response["WARC-Date"]
    assert not any(h["type"] == "response" and h.get("WARC-Target-URI") != FEED_URL for h, _ in records)

    # pages: header and the post, and the post resolves through the index to its own record
    assert pages[0]["format"] == "json-pages-1.0" and [p["url"] for p in pages[1:]] == ["https://fakegram.test/p/A2"]
    assert [b["mime"] for b in blocks if b["url"] == "https://fakegram.test/p/A2"] == ["text/plain"]

    # capture log: the route recorded with the capture, credentials never
    assert log["proxy"] == "socks5h://127.0.0.1:9050" and log["circuit_isolation"] == "yes"
    assert log["original_record_id"] == snapshot.record_id and log["time_source"] and log["software"]["warcio"]
    with zipfile.ZipFile(bundle) as zf:
        assert not any(b"s3cret" in zf.read(n) or b"dragnet-7" in zf.read(n) for n in zf.namelist())


def test_capture_log_never_names_a_configured_proxy_that_was_not_recorded(feed_settings: DragnetSettings) -> None:
    settings = feed_settings.model_copy(
        update={"feeds": feed_settings.feeds.model_copy(update={"recrawl_proxy_url": "socks5h://10.9.9.9:1080"})}
    )
    bundle = _post_bundle(settings, _crawl_feed(settings))  # a capture that recorded no route
    with zipfile.ZipFile(bundle) as zf:
        log = json.loads(zf.read("evidence/capture-log.json"))
        everything = b"".join(zf.read(n) for n in zf.namelist())
    assert log["proxy"] == "none recorded" and log["circuit_isolation"] == "none recorded"
    assert "not recorded" in log["vantage_point"] and b"10.9.9.9" not in everything
    direct = _post_bundle(settings, _crawl_feed(settings, proxy="direct"))
    with zipfile.ZipFile(direct) as zf:
        assert json.loads(zf.read("evidence/capture-log.json"))["vantage_point"] == "direct connection"


def test_lost_capture_becomes_a_revisit_naming_the_original_record(feed_settings: DragnetSettings) -> None:
    snapshot = _crawl_feed(feed_settings)
    Path(snapshot.warc_file).unlink()
    hit = make_hit("https://market.test/listing/9", "xanax bars", source_kind="market")
    hit.snapshot = snapshot
    bundle = build_bundle(hit, settings=feed_settings)
    _wacz_validate(bundle)
    _check_index(bundle)
    revisit = next(h for h, _ in _records(bundle) if h["type"] == "revisit")
    assert revisit["WARC-Refers-To"] == snapshot.record_id and revisit["WARC-Refers-To-Date"]
    assert revisit["WARC-Refers-To-Target-URI"] == "https://market.test/listing/9"
    assert verify_bundle(bundle).ok


def test_resigned_bundle_fails_unless_its_key_is_expected(feed_settings: DragnetSettings, tmp_path: Path) -> None:
    """A forger re-signs a bundle with a key of their own: the signature is valid WACZ signing,
    but `dragnet evidence verify` expects this deployment's key by default and names the signer."""
    bundle = _post_bundle(feed_settings, _crawl_feed(feed_settings))
    other = tmp_path / "other.pem"
    other.write_bytes(
        ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    forger = feed_settings.model_copy(
        update={"feeds": feed_settings.feeds.model_copy(update={"signing_key_file": other})}
    )
    hit = make_hit("https://fakegram.test/p/A2", "xanax bars 2mg, 50 pills for $120, DM @plug")
    forged = build_bundle(hit, settings=forger, out_dir=tmp_path / "forged")
    forger_key = _check_wacz_signature(forged)  # valid by the spec's math
    runner = CliRunner()
    result = runner.invoke(app, ["evidence", "verify", str(forged)])  # default: this deployment's key
    assert result.exit_code == 1 and "untrusted key" in result.output, result.output
    assert runner.invoke(app, ["evidence", "verify", str(bundle)]).exit_code == 0
    anyone = runner.invoke(app, ["evidence", "verify", "--any-key", str(forged)])
    assert anyone.exit_code == 0 and forger_key in anyone.output and "not checked" in anyone.output
    by_key = runner.invoke(app, ["evidence", "verify", "--key", forger_key, str(forged)])
    assert by_key.exit_code == 0 and "an expected key" in by_key.output


def test_legacy_ed25519_bundle_is_read_and_labelled(feed_settings: DragnetSettings, tmp_path: Path) -> None:
    bundle = _post_bundle(feed_settings, _crawl_feed(feed_settings))
    key = ed25519.Ed25519PrivateKey.generate()
    public = base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()
    with zipfile.ZipFile(bundle) as zf:
        digest = json.loads(zf.read("datapackage-digest.json"))
        members = {n: zf.read(n) for n in zf.namelist()}
    # the field layout bundles had before WACZ signing
    digest["signedData"] = {
        "hash": digest["hash"],
        "created": digest["signedData"]["created"],
        "software": "dragnet 0.1.0",
        "algorithm": "ed25519",
        "signature": base64.b64encode(key.sign(digest["hash"].encode())).decode(),
        "publicKey": public,
    }
    members["datapackage-digest.json"] = json.dumps(digest).encode()
    legacy = tmp_path / "legacy.wacz"
    with zipfile.ZipFile(legacy, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    report = verify_bundle(legacy, public, require_signature=True)
    assert report.ok and report.signature_format == "legacy"
    out = CliRunner().invoke(app, ["evidence", "verify", "--key", public, str(legacy)]).output
    assert out.startswith("OK") and "legacy signature" in out
    with pytest.raises(AssertionError):  # not in the WACZ signing format: a spec check refuses it
        _check_wacz_signature(legacy)


def test_an_ed25519_signing_key_is_refused(feed_settings: DragnetSettings, tmp_path: Path) -> None:
    key_file = tmp_path / "ed.pem"
    key_file.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    settings = feed_settings.model_copy(
        update={"feeds": feed_settings.feeds.model_copy(update={"signing_key_file": key_file})}
    )
    with pytest.raises(ValueError, match="ECDSA"):
        build_bundle(make_hit("https://fakegram.test/p/E1", "xanax bars"), settings=settings)


def test_telegram_excerpt_bundle_carries_the_excerpt_and_its_page(feed_settings: DragnetSettings) -> None:
    """A Telegram message is stored as an excerpt record under its own URL referring to the channel
    page's response: both come into the bundle as stored, and the message URL resolves."""
    warcs = WarcStore(feed_settings.paths.warc_dir, "telegram")
    try:
        page = warcs.write_response(
            "https://t.me/s/plugshop", 200, [("Content-Type", "text/html")], b"<html>m1 m2</html>", proxy="direct"
        )
        excerpt = warcs.write_excerpt(
            "https://t.me/plugshop/2",
            b"<div>xanax bars 2mg</div>",
            page_record_id=page.record_id,
            page_url="https://t.me/s/plugshop",
            metadata={"message_id": 2},
        )
    finally:
        warcs.close()
    hit = make_hit("https://t.me/plugshop/2", "xanax bars 2mg")
    hit.snapshot = excerpt
    bundle = build_bundle(hit, settings=feed_settings)
    _wacz_validate(bundle)
    blocks = _check_index(bundle)
    original = Path(excerpt.warc_file).read_bytes()
    with zipfile.ZipFile(bundle) as zf:
        warc = zf.read("archive/data.warc.gz")
    for block in blocks:
        if block["url"] in ("https://t.me/s/plugshop", "https://t.me/plugshop/2"):
            start = int(str(block["offset"]))
            assert warc[start : start + int(str(block["length"]))] in original
    with zipfile.ZipFile(bundle) as zf:  # the route of the page capture the excerpt was cut from
        assert json.loads(zf.read("evidence/capture-log.json"))["vantage_point"] == "direct connection"
    ids = {h["WARC-Record-ID"] for h, _ in _records(bundle)}
    assert {page.record_id, excerpt.record_id} <= ids
    assert [b["url"] for b in blocks if b["url"] == "https://t.me/plugshop/2"] == ["https://t.me/plugshop/2"]
