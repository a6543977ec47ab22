"""Evidence bundles: a WACZ-style package per hit that a platform, a court or an auditor can check
without trusting Dragnet's database.

Layout (a zip file, ``.wacz``)::
    archive/data.warc.gz        WARC 1.1: warcinfo, the captured HTTP response (or, when no raw
                                capture was kept, a resource record of the listing text), the
                                screenshot and extracted text as resource records, the capture
                                log as a metadata record; every record has SHA-256 block and
                                payload digests
    pages/pages.jsonl           the pages list (WACZ json-pages-1.0)
    evidence/listing.json       the listing document as stored
    evidence/text.txt           extracted text
    evidence/screenshot.png     when a screenshot was taken
    evidence/capture-log.json   tool and version, UTC time, user-agent, vantage point
    datapackage.json            every file above with its SHA-256 and size
    datapackage-digest.json     SHA-256 of datapackage.json, optionally signed (ECDSA P-256 or
                                Ed25519, key from ``feeds.signing_key_file``)

:func:`verify_bundle` recomputes every digest (files, WARC records, the manifest, the signature)
and names each file that does not match.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_private_key
from pydantic import BaseModel
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

from dragnet import __version__
from dragnet.documents import Listing
from dragnet.settings import DragnetSettings, get_settings

WARC_PATH = "archive/data.warc.gz"
MANIFEST = "datapackage.json"
MANIFEST_DIGEST = "datapackage-digest.json"
SOFTWARE = f"dragnet {__version__}"
MAX_BUNDLE_FILE_BYTES = 64 * 1024 * 1024


class _Sha256WARCWriter(WARCWriter):
    """warcio writes SHA-1 digests by default; evidence wants SHA-256 (WARC 1.1 allows any)."""

    @staticmethod
    def _create_digester() -> Digester:
        return Digester("sha256")


class CaptureLog(BaseModel):
    tool: str
    tool_version: str
    captured_at: datetime
    bundled_at: datetime
    user_agent: str
    vantage_point: str
    url: str
    raw_capture: bool
    notes: list[str] = []


@dataclass
class RawCapture:
    """What the crawler received: status, headers and body of the HTTP response."""

    body: bytes
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=lambda: [("Content-Type", "text/html; charset=utf-8")])
    statusline: str | None = None  # as received, e.g. "200 -" or "404 Not Found"; None: "<status> -"
    protocol: str = "HTTP/1.1"


@dataclass
class Problem:
    file: str
    reason: str


@dataclass
class VerifyReport:
    bundle: str
    ok: bool
    files_checked: int = 0
    warc_records_checked: int = 0
    signed: bool = False
    signature_ok: bool | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def tampered_files(self) -> list[str]:
        return sorted({p.file for p in self.problems})


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _vantage(url: str, settings: DragnetSettings) -> str:
    host = (urlsplit(url).hostname or "").lower()
    if host.endswith(".onion"):
        return f"Tor via SOCKS5h ({settings.tor.socks_url.split('@')[-1]})"
    if settings.feeds.recrawl_proxy_url:
        return f"proxy {settings.feeds.recrawl_proxy_url.split('@')[-1]}"
    return "direct clearnet connection"


def load_snapshot(listing: Listing, settings: DragnetSettings) -> RawCapture | None:
    """The raw response the crawler archived for this listing (``listing.snapshot``), if the WARC
    file is still there."""
    snap = listing.snapshot
    if snap is None:
        return None
    path = Path(snap.warc_file)
    if not path.is_absolute():
        path = settings.paths.warc_dir / path
    if not path.is_file():
        return None
    try:
        with path.open("rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_headers.get_header("WARC-Record-ID") != snap.record_id:
                    continue
                body = record.content_stream().read(MAX_BUNDLE_FILE_BYTES)
                status, headers = 200, []
                statusline, protocol = None, "HTTP/1.1"
                if record.http_headers is not None:
                    try:
                        status = int(record.http_headers.get_statuscode() or 200)
                    except ValueError:
                        status = 200
                    headers = list(record.http_headers.headers)
                    statusline = record.http_headers.statusline or None
                    protocol = record.http_headers.protocol or protocol
                return RawCapture(body=body, status=status, headers=headers, statusline=statusline, protocol=protocol)
    except Exception:  # noqa: BLE001 - an unreadable archive means "no raw capture", not a crash
        return None
    return None


def screenshot_path(sha256: str, settings: DragnetSettings) -> Path:
    """Where a crawler keeps a screenshot: ``<evidence_dir>/screenshots/<sha256>.png`` (content
    addressed, so the listing's ``screenshot_sha256`` finds it)."""
    return settings.paths.evidence_dir / "screenshots" / f"{sha256}.png"


def load_screenshot(listing: Listing, settings: DragnetSettings) -> bytes | None:
    """The listing's screenshot, only if its bytes still hash to ``screenshot_sha256``."""
    sha = listing.screenshot_sha256 or ""
    if not re.fullmatch(r"[0-9a-f]{64}", sha):
        return None
    path = screenshot_path(sha, settings)
    try:
        if path.stat().st_size > MAX_BUNDLE_FILE_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    return data if sha256_hex(data) == sha else None


def signing_key_path(settings: DragnetSettings) -> Path:
    """The configured key (``feeds.signing_key_file``), else this deployment's own key."""
    return settings.feeds.signing_key_file or settings.paths.data_dir / "keys" / "evidence-signing.pem"


def _signing_key(settings: DragnetSettings) -> Any:
    """Bundles are signed by default: a bundle whose digests anyone can recompute proves nothing
    about who made it.  Without a configured key, an Ed25519 key is created on first use
    (readable by its owner only) and its public half is served at ``/feeds/signing-key``."""
    key_file = signing_key_path(settings)
    if not key_file.is_file():
        if settings.feeds.signing_key_file is not None:
            raise FileNotFoundError(f"feeds.signing_key_file {key_file} does not exist")
        key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        partial = key_file.with_suffix(f".tmp{os.getpid()}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        try:
            os.link(partial, key_file)  # first writer wins; a concurrent one uses the winner's key
        except FileExistsError:
            pass
        finally:
            partial.unlink()
    return load_pem_private_key(key_file.read_bytes(), password=None)


def public_key_b64(settings: DragnetSettings) -> str:
    """This deployment's signing public key (base64 DER), as ``verify --public-key`` takes it."""
    public = _signing_key(settings).public_key()
    return base64.b64encode(
        public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()


def _sign(key: Any, data: bytes) -> tuple[str, str, str]:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        algo, sig = "ed25519", key.sign(data)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        algo, sig = "ecdsa-p256-sha256", key.sign(data, ec.ECDSA(hashes.SHA256()))
    else:
        raise ValueError("signing key must be Ed25519 or an EC (P-256) key")
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return algo, base64.b64encode(sig).decode(), base64.b64encode(public).decode()


def _check_signature(algo: str, public_b64: str, sig_b64: str, data: bytes) -> bool:
    try:
        public = load_der_public_key(base64.b64decode(public_b64))
        sig = base64.b64decode(sig_b64)
        if algo == "ed25519" and isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(sig, data)
        elif algo == "ecdsa-p256-sha256" and isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(sig, data, ec.ECDSA(hashes.SHA256()))
        else:
            return False
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def _build_warc(
    listing: Listing, raw: RawCapture | None, text: bytes, screenshot: bytes | None, log: CaptureLog
) -> bytes:
    out = io.BytesIO()
    writer = _Sha256WARCWriter(out, gzip=True, warc_version="1.1")
    info = writer.create_warcinfo_record(
        "data.warc.gz",
        {
            "software": SOFTWARE,
            "format": "WARC File Format 1.1",
            "description": "Dragnet evidence bundle",
            "http-header-user-agent": log.user_agent,
        },
    )
    writer.write_record(info)
    when = log.captured_at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    if raw is not None:
        # the status line as the crawler received it: no reason phrase is made up
        http = StatusAndHeaders(raw.statusline or f"{raw.status} -", raw.headers, protocol=raw.protocol)
        rec = writer.create_warc_record(
            listing.url,
            "response",
            payload=io.BytesIO(raw.body),
            length=len(raw.body),
            http_headers=http,
            warc_headers_dict={"WARC-Date": when},
        )
    else:
        rec = writer.create_warc_record(
            listing.url,
            "resource",
            payload=io.BytesIO(text),
            length=len(text),
            warc_content_type="text/plain; charset=utf-8",
            warc_headers_dict={"WARC-Date": when},
        )
    writer.write_record(rec)
    main_id = rec.rec_headers.get_header("WARC-Record-ID")
    extra = [(f"urn:dragnet:text:{listing.id}", text, "text/plain; charset=utf-8")]
    if screenshot is not None:
        extra.append((f"urn:dragnet:screenshot:{listing.id}", screenshot, "image/png"))
    for uri, data, ctype in extra:
        writer.write_record(
            writer.create_warc_record(
                uri,
                "resource",
                payload=io.BytesIO(data),
                length=len(data),
                warc_content_type=ctype,
                warc_headers_dict={"WARC-Date": when, "WARC-Concurrent-To": main_id},
            )
        )
    meta = log.model_dump_json(indent=1).encode()
    writer.write_record(
        writer.create_warc_record(
            listing.url,
            "metadata",
            payload=io.BytesIO(meta),
            length=len(meta),
            warc_content_type="application/json",
            warc_headers_dict={"WARC-Concurrent-To": main_id},
        )
    )
    return out.getvalue()


def build_bundle(
    listing: Listing,
    *,
    raw: RawCapture | None = None,
    screenshot: bytes | None = None,
    out_dir: Path | None = None,
    settings: DragnetSettings | None = None,
    tool: str = "dragnet-crawler",
    tool_version: str = __version__,
) -> Path:
    """Write the evidence bundle of one hit and return its path.  ``raw`` defaults to the
    crawler's archived response (``listing.snapshot``)."""
    settings = settings or get_settings()
    out_dir = out_dir or settings.paths.evidence_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    if screenshot is None and listing.screenshot_sha256:
        screenshot = load_screenshot(listing, settings)
        if screenshot is None:
            notes.append(f"screenshot {listing.screenshot_sha256} not found or not matching its hash")
    if raw is None:
        raw = load_snapshot(listing, settings)
        if raw is None:
            notes.append("no raw capture kept; the WARC holds the listing text as a resource record")
    text = (listing.title + "\n\n" + listing.text).strip().encode("utf-8")
    log = CaptureLog(
        tool=tool,
        tool_version=tool_version,
        captured_at=listing.crawled_at,
        bundled_at=datetime.now(UTC),
        user_agent=settings.crawl.user_agent,
        vantage_point=_vantage(listing.url, settings),
        url=listing.url,
        raw_capture=raw is not None,
        notes=notes,
    )
    files: dict[str, bytes] = {
        WARC_PATH: _build_warc(listing, raw, text, screenshot, log),
        "pages/pages.jsonl": (
            json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "All Pages"})
            + "\n"
            + json.dumps(
                {
                    "id": listing.id,
                    "url": listing.url,
                    "ts": listing.crawled_at.astimezone(UTC).isoformat(),
                    "title": listing.title[:300],
                }
            )
            + "\n"
        ).encode(),
        "evidence/listing.json": listing.model_dump_json(indent=1).encode(),
        "evidence/text.txt": text,
        "evidence/capture-log.json": log.model_dump_json(indent=1).encode(),
    }
    if screenshot is not None:
        files["evidence/screenshot.png"] = screenshot
    manifest = {
        "profile": "data-package",
        "wacz_version": "1.1.1",
        "title": f"Dragnet evidence {listing.id}",
        "software": SOFTWARE,
        "created": log.bundled_at.isoformat(),
        "mainPageURL": listing.url,
        "mainPageDate": log.captured_at.astimezone(UTC).isoformat(),
        "resources": [
            {"name": Path(p).name, "path": p, "hash": f"sha256:{sha256_hex(b)}", "bytes": len(b)}
            for p, b in files.items()
        ],
    }
    manifest_bytes = json.dumps(manifest, indent=1).encode()
    digest: dict[str, Any] = {"path": MANIFEST, "hash": f"sha256:{sha256_hex(manifest_bytes)}"}
    key = _signing_key(settings)
    if key is not None:
        algo, sig, public = _sign(key, digest["hash"].encode())
        digest["signedData"] = {
            "hash": digest["hash"],
            "created": log.bundled_at.isoformat(),
            "software": SOFTWARE,
            "algorithm": algo,
            "signature": sig,
            "publicKey": public,
        }
    path = out_dir / f"{listing.id}-{listing.content_sha256[:12]}.wacz"
    tmp = path.with_suffix(".wacz.tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name, data in files.items():  # WARC stays stored: it is already gzip'd and WACZ wants it seekable
            zf.writestr(name, data, compress_type=zipfile.ZIP_STORED if name == WARC_PATH else zipfile.ZIP_DEFLATED)
        zf.writestr(MANIFEST, manifest_bytes)
        zf.writestr(MANIFEST_DIGEST, json.dumps(digest, indent=1))
    tmp.replace(path)
    return path


class _Reader:
    """Reads a bundle as a zip file or as its unpacked directory."""

    def __init__(self, bundle: Path) -> None:
        self.bundle = bundle
        self.zip = zipfile.ZipFile(bundle) if bundle.is_file() else None

    def names(self) -> list[str]:
        if self.zip is not None:
            return [n for n in self.zip.namelist() if not n.endswith("/")]
        return [p.relative_to(self.bundle).as_posix() for p in self.bundle.rglob("*") if p.is_file()]

    def read(self, name: str) -> bytes | None:
        if name.startswith("/") or ".." in Path(name).parts:
            return None
        try:
            if self.zip is not None:
                info = self.zip.getinfo(name)
                if info.file_size > MAX_BUNDLE_FILE_BYTES:
                    return None
                return self.zip.read(name)
            path = self.bundle / name
            return path.read_bytes() if path.is_file() and path.stat().st_size <= MAX_BUNDLE_FILE_BYTES else None
        except (KeyError, OSError, zipfile.BadZipFile):
            return None

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def _check_warc(data: bytes, report: VerifyReport) -> None:
    try:
        for record in ArchiveIterator(io.BytesIO(data), check_digests=True):
            record.content_stream().read()
            report.warc_records_checked += 1
            uri = record.rec_headers.get_header("WARC-Target-URI") or record.rec_headers.get_header("WARC-Record-ID")
            if not record.rec_headers.get_header("WARC-Block-Digest") and record.rec_type != "warcinfo":
                report.problems.append(Problem(WARC_PATH, f"record {uri} has no block digest"))
            checker = record.digest_checker
            if checker.passed is False or checker.problems:
                report.problems.append(Problem(WARC_PATH, f"record {uri}: {'; '.join(checker.problems)}"))
    except Exception as exc:  # noqa: BLE001 - a corrupted archive is a finding, not a crash
        report.problems.append(Problem(WARC_PATH, f"unreadable WARC: {exc}"))


def verify_bundle(bundle: Path, trusted_public_key: str | None = None, require_signature: bool = False) -> VerifyReport:
    """Recompute every digest of a bundle; ``report.problems`` names each file that fails.
    ``trusted_public_key`` (base64 DER) additionally requires a signature by that key;
    ``require_signature`` refuses an unsigned bundle (its digests prove only that it is whole)."""
    report = VerifyReport(bundle=str(bundle), ok=False)
    try:
        reader = _Reader(bundle)
    except (OSError, zipfile.BadZipFile) as exc:
        report.problems.append(Problem(bundle.name, f"not a bundle: {exc}"))
        return report
    try:
        manifest_bytes = reader.read(MANIFEST)
        if manifest_bytes is None:
            report.problems.append(Problem(MANIFEST, "missing"))
            return report
        digest_bytes = reader.read(MANIFEST_DIGEST)
        if digest_bytes is None:
            report.problems.append(Problem(MANIFEST_DIGEST, "missing"))
        else:
            try:
                digest = json.loads(digest_bytes)
            except ValueError:
                digest = {}
                report.problems.append(Problem(MANIFEST_DIGEST, "not JSON"))
            if digest and digest.get("hash") != f"sha256:{sha256_hex(manifest_bytes)}":
                report.problems.append(Problem(MANIFEST, "SHA-256 differs from datapackage-digest.json"))
            signed = digest.get("signedData") if isinstance(digest, dict) else None
            if signed:
                report.signed = True
                report.signature_ok = signed.get("hash") == digest.get("hash") and _check_signature(
                    str(signed.get("algorithm")),
                    str(signed.get("publicKey")),
                    str(signed.get("signature")),
                    str(digest.get("hash")).encode(),
                )
                if not report.signature_ok:
                    report.problems.append(Problem(MANIFEST_DIGEST, "signature does not verify"))
                elif trusted_public_key and signed.get("publicKey") != trusted_public_key:
                    report.signature_ok = False
                    report.problems.append(Problem(MANIFEST_DIGEST, "signed by an untrusted key"))
            elif trusted_public_key or require_signature:
                report.problems.append(Problem(MANIFEST_DIGEST, "not signed, but a signature was required"))
        try:
            manifest = json.loads(manifest_bytes)
            resources = list(manifest["resources"])
        except (ValueError, KeyError, TypeError):
            report.problems.append(Problem(MANIFEST, "not a datapackage manifest"))
            return report
        listed = set()
        for res in resources:
            path = str(res.get("path", ""))
            listed.add(path)
            data = reader.read(path)
            report.files_checked += 1
            if data is None:
                report.problems.append(Problem(path, "listed in the manifest but missing"))
                continue
            if res.get("hash") != f"sha256:{sha256_hex(data)}":
                report.problems.append(Problem(path, "SHA-256 differs from the manifest"))
            elif res.get("bytes") not in (None, len(data)):
                report.problems.append(Problem(path, "size differs from the manifest"))
            if path == WARC_PATH:
                _check_warc(data, report)
        for name in reader.names():
            if name not in listed and name not in (MANIFEST, MANIFEST_DIGEST):
                report.problems.append(Problem(name, "not listed in the manifest"))
    finally:
        reader.close()
    report.ok = not report.problems
    return report
