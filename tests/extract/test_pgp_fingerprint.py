"""The v4 fingerprint computed from the key packet (the crawl's fast path) is pgpy's, for every
key kind vendors use; anything the fast path does not vouch for is left to pgpy's verdict."""

from __future__ import annotations

import warnings

import pytest

from extract.pgp import _v4_fingerprint, fingerprint_of_key

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pgpy
    from pgpy.constants import EllipticCurveOID, HashAlgorithm, KeyFlags, PubKeyAlgorithm


def new_key(algorithm: PubKeyAlgorithm, size: object, subkey: bool = False) -> pgpy.PGPKey:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        key = pgpy.PGPKey.new(algorithm, size)
        key.add_uid(pgpy.PGPUID.new("vendor <v@shop.onion>"), usage={KeyFlags.Sign}, hashes=[HashAlgorithm.SHA256])
        if subkey:
            key.add_subkey(
                pgpy.PGPKey.new(PubKeyAlgorithm.ECDH, EllipticCurveOID.Curve25519),
                usage={KeyFlags.EncryptCommunications},
            )
    return key


@pytest.mark.parametrize(
    "algorithm, size, subkey",
    [
        (PubKeyAlgorithm.EdDSA, EllipticCurveOID.Ed25519, True),
        (PubKeyAlgorithm.ECDSA, EllipticCurveOID.NIST_P256, False),
        (PubKeyAlgorithm.RSAEncryptOrSign, 2048, False),
        (PubKeyAlgorithm.DSA, 2048, False),
    ],
)
def test_fast_fingerprint_is_pgpys(algorithm: PubKeyAlgorithm, size: object, subkey: bool) -> None:
    key = new_key(algorithm, size, subkey)
    armored = str(key.pubkey)
    expected = str(key.fingerprint).replace(" ", "").upper()
    assert _v4_fingerprint(armored) == expected
    assert fingerprint_of_key(f"my key:\n{armored}\nthanks") == expected


def test_a_damaged_block_is_left_to_pgpy() -> None:
    armored = str(new_key(PubKeyAlgorithm.EdDSA, EllipticCurveOID.Ed25519).pubkey)
    lines = armored.splitlines()
    body = next(i for i, line in enumerate(lines) if line and ":" not in line and not line.startswith("-"))
    lines[body] = ("B" if lines[body][0] == "A" else "A") + lines[body][1:]  # checksum no longer matches
    assert _v4_fingerprint("\n".join(lines)) is None
    truncated = "\n".join(lines[: body + 1] + [line for line in lines if line.startswith("-----END")])
    assert _v4_fingerprint(truncated) is None
    assert fingerprint_of_key(truncated) is None
    garbage = "-----BEGIN PGP PUBLIC KEY BLOCK-----\ngarbage\n-----END PGP PUBLIC KEY BLOCK-----"
    assert fingerprint_of_key(garbage) is None
