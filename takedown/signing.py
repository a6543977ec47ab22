"""Evidence signatures in the WACZ signing format (Webrecorder "WACZ Signing and Verification",
anonymous signature): ``datapackage-digest.json`` carries ``signedData`` with exactly ``hash``,
``created``, ``software``, ``version``, ``signature`` and ``publicKey``.

Why this shape: a bundle signed in fields of our own can be checked only by our own tool; in the
spec's shape ReplayWeb.page / ArchiveWeb.page and any WACZ verifier can check it too.  The spec's
anonymous signature is ECDSA (ArchiveWeb.page uses P-384 with SHA-256): the ASCII ``hash`` string
is signed, the signature is base64 of the raw ``r||s`` (WebCrypto's form; a DER signature is also
read), the public key base64 of its DER SubjectPublicKeyInfo.  Ed25519 is not in the spec: a
configured Ed25519 key is refused, and bundles signed before the switch (``signedData`` with an
``algorithm`` field) still verify, labelled "legacy signature".

An anonymous signature proves only that *some* key signed: the verifier must be told which key
to expect (:func:`check_signed_data` reports the signer; the caller compares it to the trusted
keys)."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_private_key

from dragnet.settings import DragnetSettings

WACZ_AUTH_VERSION = "0.1.0"  # the signedData "version" of the WACZ signing spec
ANONYMOUS_FIELDS = frozenset({"hash", "created", "software", "version", "signature", "publicKey"})
_CURVES: dict[str, tuple[ec.EllipticCurve, int]] = {
    "secp256r1": (ec.SECP256R1(), 32),
    "secp384r1": (ec.SECP384R1(), 48),
}


def signing_key_path(settings: DragnetSettings) -> Path:
    """The configured key (``feeds.signing_key_file``), else this deployment's own ECDSA key."""
    return settings.feeds.signing_key_file or settings.paths.data_dir / "keys" / "evidence-signing-ecdsa.pem"


def legacy_key_path(settings: DragnetSettings) -> Path:
    """Where the Ed25519 key of bundles made before WACZ signing was kept (read, never written)."""
    return settings.paths.data_dir / "keys" / "evidence-signing.pem"


def signing_key(settings: DragnetSettings) -> ec.EllipticCurvePrivateKey:
    """Bundles are signed by default: digests anyone can recompute prove nothing about who made a
    bundle.  Without a configured key an ECDSA P-384 key is created on first use (owner-only)."""
    key_file = signing_key_path(settings)
    if not key_file.is_file():
        if settings.feeds.signing_key_file is not None:
            raise FileNotFoundError(f"feeds.signing_key_file {key_file} does not exist")
        key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = ec.generate_private_key(ec.SECP384R1()).private_bytes(
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
    key = load_pem_private_key(key_file.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in _CURVES:
        raise ValueError(f"{key_file}: WACZ signing needs an ECDSA P-256 or P-384 key (Ed25519 is not in the spec)")
    return key


def _spki_b64(public: Any) -> str:
    return base64.b64encode(
        public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()


def public_key_b64(settings: DragnetSettings) -> str:
    """This deployment's signing public key as the spec's ``publicKey``: base64 DER SPKI."""
    return _spki_b64(signing_key(settings).public_key())


def legacy_public_key_b64(settings: DragnetSettings) -> str | None:
    """The Ed25519 key older bundles were signed with, when this deployment still has it."""
    path = legacy_key_path(settings)
    try:
        key = load_pem_private_key(path.read_bytes(), password=None) if path.is_file() else None
    except (ValueError, TypeError, OSError):
        return None
    return _spki_b64(key.public_key()) if isinstance(key, ed25519.Ed25519PrivateKey) else None


def key_fingerprint(public_b64: str) -> str:
    """A short name for a key in reports: SHA-256 of its DER, first 16 hex digits."""
    try:
        return hashlib.sha256(base64.b64decode(public_b64, validate=True)).hexdigest()[:16]
    except ValueError:
        return "unreadable"


def sign_hash(key: ec.EllipticCurvePrivateKey, hash_: str, created: str, software: str) -> dict[str, str]:
    """The anonymous ``signedData`` of one ``datapackage.json`` hash (``sha256:<hex>``)."""
    size = _CURVES[key.curve.name][1]
    r, s = decode_dss_signature(key.sign(hash_.encode("ascii"), ec.ECDSA(hashes.SHA256())))
    return {
        "hash": hash_,
        "created": created,
        "software": software,
        "version": WACZ_AUTH_VERSION,
        "signature": base64.b64encode(r.to_bytes(size, "big") + s.to_bytes(size, "big")).decode(),
        "publicKey": _spki_b64(key.public_key()),
    }


@dataclass
class SignatureCheck:
    valid: bool
    format: str  # "wacz-anonymous-ecdsa" or "legacy" (signed before WACZ signing)
    public_key: str
    reason: str = ""


def check_signed_data(signed: dict[str, Any], expected_hash: str) -> SignatureCheck:
    """Check ``signedData`` against the hash of ``datapackage.json``: the math only, not whom to
    trust.  A legacy (pre-WACZ-signing) signature verifies but says so in ``format``."""
    public_b64 = str(signed.get("publicKey", ""))
    if "algorithm" in signed:
        return _check_legacy(signed, expected_hash, public_b64)
    extra = set(signed) - ANONYMOUS_FIELDS
    if extra:
        return SignatureCheck(False, "wacz-anonymous-ecdsa", public_b64, f"fields not in the spec: {sorted(extra)}")
    if signed.get("hash") != expected_hash:
        return SignatureCheck(False, "wacz-anonymous-ecdsa", public_b64, "signedData.hash is not the manifest's hash")
    try:
        public = load_der_public_key(base64.b64decode(public_b64, validate=True))
        sig = base64.b64decode(str(signed.get("signature", "")), validate=True)
    except ValueError as exc:
        return SignatureCheck(False, "wacz-anonymous-ecdsa", public_b64, f"unreadable key or signature: {exc}")
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name not in _CURVES:
        return SignatureCheck(False, "wacz-anonymous-ecdsa", public_b64, "publicKey is not an ECDSA P-256/P-384 key")
    size = _CURVES[public.curve.name][1]
    if len(sig) == 2 * size:  # raw r||s, as WebCrypto signs
        sig = encode_dss_signature(int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big"))
    try:
        public.verify(sig, expected_hash.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return SignatureCheck(False, "wacz-anonymous-ecdsa", public_b64, "signature does not verify")
    return SignatureCheck(True, "wacz-anonymous-ecdsa", public_b64)


def _check_legacy(signed: dict[str, Any], expected_hash: str, public_b64: str) -> SignatureCheck:
    algo = str(signed.get("algorithm"))
    try:
        public = load_der_public_key(base64.b64decode(public_b64, validate=True))
        sig = base64.b64decode(str(signed.get("signature", "")), validate=True)
        if signed.get("hash") != expected_hash:
            raise InvalidSignature
        if algo == "ed25519" and isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(sig, expected_hash.encode())
        elif algo == "ecdsa-p256-sha256" and isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(sig, expected_hash.encode(), ec.ECDSA(hashes.SHA256()))
        else:
            raise InvalidSignature
    except (InvalidSignature, ValueError, TypeError):
        return SignatureCheck(False, "legacy", public_b64, f"legacy signature ({algo}) does not verify")
    return SignatureCheck(True, "legacy", public_b64, f"legacy signature ({algo}), not in the WACZ signing format")
