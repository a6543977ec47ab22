"""Clone detection: onion sites that copy a market's pages (FreshOnions-style text similarity).

Phishing clones of a market proxy or copy its front page under another address to steal logins
and deposits.  A candidate whose page text is near-identical to the market's (word-shingle Jaccard
at or above ``lifespan.clone_similarity``) is a clone; a clone whose address the market's valid
signed ``mirrors.txt`` lists is a mirror, anything else is flagged as likely phishing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from lifespan.content import analyse_html, jaccard, shingles, simhash, simhash_similarity
from lifespan.fetch import FetchError

if TYPE_CHECKING:
    from lifespan.probes import Prober


@dataclass
class CloneFinding:
    host: str
    similarity: float  # word 3-shingle Jaccard with the market's page
    simhash_similarity: float
    is_clone: bool
    listed: bool  # in the market's valid signed mirrors.txt
    phishing: bool
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_pages(reference_html: str, candidate_html: str) -> tuple[float, float]:
    """(shingle Jaccard, simhash similarity) of two pages' visible text."""
    a = analyse_html(reference_html).text
    b = analyse_html(candidate_html).text
    return jaccard(shingles(a), shingles(b)), simhash_similarity(simhash(a), simhash(b))


def signed_hosts(prober: Prober, market_id: str) -> set[str] | None:
    """Hosts of the market's latest valid signed mirror list, or ``None`` when there is none."""
    checks = [
        c
        for c in prober.store.mirror_checks(market_id)
        if c.get("mirrors", {}).get("signature_valid") and not c.get("key_changed")
    ]
    if not checks:
        return None
    return set(checks[-1].get("signed_hosts", []))


def detect_clones(prober: Prober, market_id: str, candidates: list[str] | None = None) -> list[CloneFinding]:
    """Fetch the market's page and each candidate's through Tor; record clones as mirrors
    (listed) or phishing (unlisted).  Without a valid signed list nothing can be called listed,
    so every clone is flagged, which is the safe side for analysts."""
    store = prober.store
    market = store.get_market(market_id)
    if market is None or not market.primary_host:
        raise KeyError(f"unknown market {market_id!r} or no address")
    if candidates is None:  # the market's discovered addresses that nobody has vouched for yet
        candidates = [m.host for m in store.mirrors(market_id) if m.source == "discovered" and not m.verified]
    path = market.start_path or "/"
    reference = prober.fetch(f"http://{market.primary_host}{path}", market_id).text()
    listed_hosts = signed_hosts(prober, market_id) or set()
    threshold = prober.settings.lifespan.clone_similarity
    now = prober.clock()
    findings: list[CloneFinding] = []
    for host in dict.fromkeys(h.lower() for h in candidates):
        if host == market.primary_host:
            continue
        try:
            page = prober.fetch(f"http://{host}{path}", market_id).text()
        except FetchError as exc:
            findings.append(CloneFinding(host, 0.0, 0.0, False, host in listed_hosts, False, error=str(exc)[:200]))
            continue
        jac, sim = compare_pages(reference, page)
        is_clone = jac >= threshold
        listed = host in listed_hosts
        finding = CloneFinding(host, round(jac, 4), round(sim, 4), is_clone, listed, is_clone and not listed)
        findings.append(finding)
        if is_clone:
            store.add_mirror(
                market_id,
                host,
                "signed" if listed else "clone",
                verified=listed,
                phishing=finding.phishing,
                at=now,
                note=None if listed else f"clone (similarity {jac:.2f}) not in signed mirrors.txt",
            )
    return findings
