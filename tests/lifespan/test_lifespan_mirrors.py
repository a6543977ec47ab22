"""Signed mirror lists and canaries with keys generated here (PGPy), and clone detection over the
SOCKS5 hop: a valid list passes; a tampered list, a wrong key, an expired canary and an unlisted
clone are each flagged."""

from __future__ import annotations

from datetime import UTC, datetime

import pgpy
import pytest
from pgpy.constants import EllipticCurveOID, HashAlgorithm, KeyFlags, PubKeyAlgorithm

from lifespan.clones import compare_pages, detect_clones
from lifespan.mirrors import check_market_mirrors, verify_mirror_files
from lifespan.probes import Prober
from lifespan.registry import add_discovered_mirrors, register_market
from tests.lifespan.sim import listing_page, onion_name

DAY = 86400.0


def new_key(name: str) -> pgpy.PGPKey:
    key = pgpy.PGPKey.new(PubKeyAlgorithm.EdDSA, EllipticCurveOID.Ed25519)
    uid = pgpy.PGPUID.new(name, email=f"admin@{name.lower()}.example")
    key.add_uid(uid, usage={KeyFlags.Sign, KeyFlags.Certify}, hashes=[HashAlgorithm.SHA256])
    return key


def clearsign(key: pgpy.PGPKey, text: str) -> str:
    message = pgpy.PGPMessage.new(text, cleartext=True)
    message |= key.sign(message)
    return str(message)


def day(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")


@pytest.fixture(scope="module")
def key() -> pgpy.PGPKey:
    return new_key("Market")


HOSTS = [onion_name("m1"), onion_name("m2"), onion_name("m3")]


def mirror_files(key: pgpy.PGPKey, now: float, canary_age_days: float = 2) -> tuple[str, str, str]:
    mirrors = "Official mirrors of Market:\n" + "\n".join(f"http://{h}" for h in HOSTS) + "\n"
    canary = (
        f"We, the staff of Market, state that as of {day(now - canary_age_days * DAY)} we have not been "
        "contacted by any law enforcement agency and retain full control of our keys.\n"
    )
    return str(key.pubkey), clearsign(key, mirrors), clearsign(key, canary)


def test_valid_signed_list_passes(key, clock) -> None:
    pgp_txt, mirrors_txt, canary_txt = mirror_files(key, clock())
    result = verify_mirror_files(pgp_txt, mirrors_txt, canary_txt, now=clock(), max_age_days=14)
    assert result.ok, result.problems
    assert result.signed_hosts == HOSTS
    assert result.mirrors.signature_valid and result.canary.signature_valid
    assert result.canary_fresh and 2 <= result.canary_age_days < 3  # dates are whole days
    assert result.key_fingerprint == str(key.fingerprint).replace(" ", "")


def test_tampered_list_is_flagged(key, clock) -> None:
    pgp_txt, mirrors_txt, canary_txt = mirror_files(key, clock())
    phisher = onion_name("phisher")
    tampered = mirrors_txt.replace(HOSTS[1], phisher)
    assert tampered != mirrors_txt
    result = verify_mirror_files(pgp_txt, tampered, canary_txt, now=clock())
    assert not result.ok and not result.mirrors.signature_valid
    assert any(p.startswith("mirrors.txt") for p in result.problems)
    assert phisher not in result.signed_hosts and result.signed_hosts == []


def test_list_signed_by_another_key_and_key_change_are_flagged(key, clock) -> None:
    pgp_txt, _, canary_txt = mirror_files(key, clock())
    impostor = new_key("Impostor")
    forged = clearsign(impostor, "\n".join(HOSTS + [onion_name("phisher")]))
    result = verify_mirror_files(pgp_txt, forged, canary_txt, now=clock())
    assert not result.ok and not result.mirrors.signature_valid
    # the impostor serving its own pgp.txt verifies internally, but not against the pinned key
    own = verify_mirror_files(
        str(impostor.pubkey),
        forged,
        clearsign(impostor, f"as of {day(clock())}"),
        now=clock(),
        pinned_fingerprint=str(key.fingerprint).replace(" ", ""),
    )
    assert own.mirrors.signature_valid and own.key_changed and not own.ok


def test_expired_and_unsigned_canary_are_flagged(key, clock) -> None:
    pgp_txt, mirrors_txt, old_canary = mirror_files(key, clock(), canary_age_days=30)
    expired = verify_mirror_files(pgp_txt, mirrors_txt, old_canary, now=clock(), max_age_days=14)
    assert not expired.ok and not expired.canary_fresh
    assert expired.canary.signature_valid and 30 <= expired.canary_age_days < 31
    assert any("expired" in p for p in expired.problems)
    unsigned = verify_mirror_files(pgp_txt, mirrors_txt, f"as of {day(clock())} all is well", now=clock())
    assert not unsigned.ok and any(p.startswith("canary.txt") for p in unsigned.problems)
    assert verify_mirror_files(pgp_txt, mirrors_txt, None, now=clock()).problems == ["canary.txt: missing"]


def test_clone_similarity_separates_clones_from_other_markets() -> None:
    same, _ = compare_pages(listing_page("Atlas"), listing_page("Atlas", extra="<p>Deposit here!</p>"))
    other, _ = compare_pages(
        listing_page("Atlas"),
        "<html><body><h1>Cat pictures</h1><p>Only cats here, "
        "every day, all sizes, no markets at all.</p></body></html>",
    )
    assert same >= 0.8 > 0.2 > other


@pytest.mark.integration
def test_fetch_verify_and_flag_unlisted_clone(key, store, lifespan_settings, socks_proxy, sim_market, clock) -> None:
    prober = Prober(store, lifespan_settings, socks_proxy.url, clock=clock)
    site = sim_market("Atlas")
    listed = sim_market("Atlas mirror")
    listed.page = site.page  # an official mirror serves the same pages
    clone = sim_market("Atlas clone")
    clone.page = listing_page("Atlas", extra="<p>Deposit to our new wallet!</p>")  # phishing copy
    unrelated = sim_market("Bazaar")
    socks_proxy.remove(listed.host)
    listed_host = onion_name("atlas-listed-mirror")
    socks_proxy.add(listed_host, ("127.0.0.1", listed.port))
    signed_list = f"Atlas official addresses\nhttp://{site.host}\nhttp://{listed_host}\n"
    site.files["/pgp.txt"] = ("text/plain", str(key.pubkey).encode())
    site.files["/mirrors.txt"] = ("text/plain", clearsign(key, signed_list).encode())
    site.files["/canary.txt"] = ("text/plain", clearsign(key, f"Canary of {day(clock() - DAY)}: all well.").encode())
    try:
        register_market(store, "Atlas", f"http://{site.host}/")
        verification = check_market_mirrors(prober, "atlas")
        assert verification.ok, verification.problems
        assert set(verification.signed_hosts) == {site.host, listed_host}
        assert {m.host for m in store.mirrors("atlas") if m.verified} == {site.host, listed_host}

        # a forum post announces "new links"; they are recorded as unverified discovered addresses
        post = f"Atlas is moving! new links: http://{clone.host}/ and {listed_host} (also try {unrelated.host.upper()})"
        assert add_discovered_mirrors(store, "atlas", post, source_url="http://forum/t/1") == [
            clone.host,
            unrelated.host,
        ]
        findings = {f.host: f for f in detect_clones(prober, "atlas")}
        assert set(findings) == {clone.host, unrelated.host}
        findings.update({f.host: f for f in detect_clones(prober, "atlas", [listed_host])})
        assert findings[listed_host].is_clone and findings[listed_host].listed and not findings[listed_host].phishing
        assert findings[clone.host].is_clone and not findings[clone.host].listed and findings[clone.host].phishing
        assert not findings[unrelated.host].is_clone and not findings[unrelated.host].phishing
        phishing = {m.host: m for m in store.mirrors("atlas") if m.phishing}
        assert set(phishing) == {clone.host} and "not in signed" in (phishing[clone.host].note or "")

        # the primary goes down: the probe tries the verified mirror, never the phishing clone
        socks_proxy.remove(site.host)
        clone.requests.clear()
        result = prober.probe("atlas")
        assert result.status.value == "up" and result.host == listed_host
        assert clone.requests == []

        # the market's key changes (a hijack or a phishing takeover): flagged, the pinned key wins
        socks_proxy.add(site.host, ("127.0.0.1", site.port))
        impostor = new_key("Impostor")
        site.files["/pgp.txt"] = ("text/plain", str(impostor.pubkey).encode())
        site.files["/mirrors.txt"] = ("text/plain", clearsign(impostor, f"http://{clone.host}\n").encode())
        site.files["/canary.txt"] = ("text/plain", clearsign(impostor, f"Canary {day(clock())}").encode())
        hijacked = check_market_mirrors(prober, "atlas")
        assert hijacked.key_changed and not hijacked.ok
        assert [m.host for m in store.mirrors("atlas") if m.phishing] == [clone.host]
        assert [c["ok"] for c in store.mirror_checks("atlas")] == [True, False]
    finally:
        socks_proxy.remove(listed_host)
