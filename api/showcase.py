"""A small, predictable data set that puts something on every page of the analyst UI: listings
over two months (a histogram), a listing crawled twice with a new price and PGP key (a diff and a
flagged vendor), vendor aliases linked by a shared handle, a case with notes, notices waiting for
review, a saved search, and markets with probes and a suspected exit scam (lifespan pages).

Why one module: ``dragnet docs screenshots`` photographs these pages and the accessibility test
checks the same pages, so the documentation shows exactly what is checked.  Everything is
invented (``index.synthetic``); nothing here touches the network."""

from __future__ import annotations

from dataclasses import dataclass

from api import alerts, cases
from api.auth import KeyStore, Principal
from api.routes.entities import entity_url
from crawlers.runlog import CrawlRun, append_run
from dragnet.documents import Contact, Listing, Price
from dragnet.settings import DragnetSettings
from index.entities import entities_of
from index.store import ListingStore
from index.synthetic import BASE_TIME, corpus, make_listing
from lifespan.models import MarketState, ProbeResult, ProbeStatus, StateChange
from lifespan.store import LifespanStore
from takedown.service import FeedService

OLD_KEY = "AAAA BBBB CCCC DDDD EEEE FFFF 0000 1111 2222 3333"
NEW_KEY = "9999 8888 7777 6666 5555 4444 3333 2222 1111 0000"
CORPUS_SIZE = 60
# invented past markets for the survival curve: (days it lived, how it closed; None: still open)
HISTORY = (
    (120, "exit_scam"),
    (240, "seized"),
    (400, "retired"),
    (90, "exit_scam"),
    (610, None),
    (300, "seized"),
    (180, "hacked"),
    (520, None),
)


ERROR_PAGES = {"not-found": 404, "bad-request": 400}


@dataclass(frozen=True)
class Showcase:
    """What the pages need to be opened: keys of each role and the ids worth showing."""

    analyst_key: str
    operator_key: str
    admin_key: str
    changed_listing_id: str
    vendor_name: str
    vendor_market: str
    case_id: str
    market_id: str
    entity_path: str = "/entities/contact/none"  # the Wickr handle keyswap shares with its alias


def _version(pgp: str, ships_from: str, days: int, text: str, contacts: list[Contact], euros: float) -> Listing:
    """Listing 900 (keyswap's MDMA on alpha) as one crawl saw it."""
    return make_listing(
        900,
        vendor="keyswap",
        market="alpha",
        title="MDMA crystal 50g",
        drug=True,
        score=0.91,
        substance="stimulants",
        price_usd=None,
        pgp=pgp,
        ships_from=ships_from,
        days=days,
        text=text,
        contacts=contacts,
    ).model_copy(update={"price": Price(amount=euros, currency="EUR", usd=round(euros * 1.08, 2))})


def _changed_listing() -> tuple[Listing, Listing]:
    """One listing seen twice: €300.93 -> €361.18, Spain -> Germany, a new PGP key, a Wickr handle."""
    before = _version(OLD_KEY, "ES", 1, "premium mdma crystal shipped from Spain", [], 300.93)
    after = _version(
        NEW_KEY,
        "DE",
        4,
        "premium mdma crystal now shipped from Germany, contact on wickr",
        [Contact(kind="wickr", handle="keyswap_w")],
        361.18,
    )
    return before, after


def _lifespan(settings: DragnetSettings) -> str:
    """Two markets probed for a month; one went dark after a withdrawal freeze (suspected exit scam)."""
    start = BASE_TIME.timestamp()
    with LifespanStore(settings=settings) as store:
        for name, fails_after in (("Alpha Bazaar", None), ("Bravo Market", 20)):
            market = store.upsert_market(name, primary_host=f"{name.split()[0].lower()}x.onion")
            for day in range(30):
                up = fails_after is None or day < fails_after
                store.add_probe(
                    ProbeResult(
                        market_id=market.market_id,
                        url=f"http://{market.primary_host}/",
                        host=market.primary_host or "",
                        at=start + day * 86_400,
                        status=ProbeStatus.UP if up else ProbeStatus.DOWN,
                        latency_ms=800.0 + day * 10 if up else None,
                    )
                )
            last_up = start + ((fails_after or 30) - 1) * 86_400
            store.update_market(
                market.market_id,
                state=MarketState.ACTIVE if fails_after is None else MarketState.EXIT_SCAM,
                state_since=start if fails_after is None else start + fails_after * 86_400,
                suspected=fails_after is not None,
                first_seen=start,
                last_seen=last_up,
                first_probe_at=start,
                last_probe_at=start + 29 * 86_400,
                consecutive_failures=0 if fails_after is None else 30 - fails_after,
            )
            store.add_state_change(
                StateChange(
                    market_id=market.market_id,
                    at=start,
                    from_state=MarketState.NEW,
                    to_state=MarketState.ACTIVE,
                    reason="first probe reached the market",
                )
            )
            if fails_after is not None:
                store.add_state_change(
                    StateChange(
                        market_id=market.market_id,
                        at=start + fails_after * 86_400,
                        from_state=MarketState.ACTIVE,
                        to_state=MarketState.EXIT_SCAM,
                        reason="withdrawals frozen, then unreachable",
                        suspected=True,
                    )
                )
                dark = market.market_id
        for number, (days, closure) in enumerate(HISTORY):
            start_at = start - (800 - 60 * number) * 86_400
            end_at = start_at + days * 86_400 if closure else None
            store.add_history(f"Archive market {number + 1}", start_at, end_at, closure, "showcase")
    return dark


def _crawl_runs(settings: DragnetSettings) -> None:
    """Two crawls of alpha (the newer one paused at a gate) and one of bravo."""
    for site, start, pages, listings, errors, pauses in (
        ("alpha", 0.0, 412, 380, 3, 0),
        ("bravo", 3600.0, 95, 0, 41, 0),
        ("alpha", 86400.0, 37, 12, 0, 1),
    ):
        at = BASE_TIME.timestamp() + start
        append_run(
            settings.paths.crawl_runs_file,
            CrawlRun(site, at, at + 1800.0, pages, listings, errors, pauses, "finished"),
        )


def seed(settings: DragnetSettings, store: ListingStore) -> Showcase:
    """Fill ``store`` and the embedded stores of ``settings`` (keys, cases, notices, lifespan)."""
    keys = KeyStore(settings)
    analyst_key = keys.create_key("alice", "analyst")
    analyst = keys.authenticate(analyst_key)
    assert isinstance(analyst, Principal)
    before, after = _changed_listing()
    aliases = [
        make_listing(201, vendor="plug_alpha", market="alpha", contacts=[Contact(kind="telegram", handle="@plug")]),
        make_listing(202, vendor="plug_bravo", market="bravo", contacts=[Contact(kind="telegram", handle="plug")]),
    ]
    # the changed listing's vendor: more listings over two months, and an alias on bravo that
    # shares its Wickr handle (the vendor page's alias table and timeline)
    keyswap = [
        make_listing(
            910 + n,
            vendor="keyswap",
            market="alpha",
            substance="stimulants",
            days=6 * n,
            title=f"MDMA crystal {5 * (n + 1)}g",
            drug=True,
        )
        for n in range(9)
    ] + [
        make_listing(
            930,
            vendor="key_swap",
            market="bravo",
            title="MDMA crystal 100g",
            drug=True,
            substance="stimulants",
            contacts=[Contact(kind="wickr", handle="keyswap_w")],
        )
    ]
    reported = make_listing(
        203, market="charlie", drug=True, score=0.93, contacts=[Contact(kind="telegram", handle="@stealth_shop")]
    )
    store.upsert(corpus(CORPUS_SIZE) + aliases + keyswap + [reported, before])
    store.upsert([after])
    store.refresh()
    case = cases.create_case(settings, analyst, "Alpha MDMA vendors", "Vendors shipping MDMA from the EU")
    cases.add_listings(settings, analyst, case.id, [after.id] + [listing.id for listing in aliases])
    cases.add_note(settings, analyst, case.id, "keyswap moved from Spain to Germany and changed PGP key")
    cases.set_tags(settings, analyst, case.id, ["mdma", "eu"])
    FeedService(settings).ingest(aliases + [reported], by="analyst:alice", auto_approve=False)
    alerts.create_saved_search(
        settings, store, analyst, "Alpha opioids", {"q": ["oxycodone"], "market": ["alpha"]}, None
    )
    market_id = _lifespan(settings)
    _crawl_runs(settings)
    return Showcase(
        analyst_key=analyst_key,
        operator_key=keys.create_key("olga", "operator"),
        admin_key=keys.create_key("root", "admin"),
        changed_listing_id=after.id,
        vendor_name="keyswap",
        vendor_market="alpha",
        case_id=case.id,
        market_id=market_id,
        entity_path=entity_url(*next((e.kind, e.value) for e in entities_of(after) if e.kind == "contact")),
    )


def pages(show: Showcase) -> dict[str, tuple[str, str]]:
    """Every page of the UI behind the sign-in as name -> (role that opens it, path); the error
    pages (named in ``ERROR_PAGES``, with their status) last."""
    return {
        "search": ("analyst", "/search"),
        "search-histogram": ("analyst", "/search?q=stealth&split=market&interval=week"),
        "listing-diff": ("analyst", f"/listings/{show.changed_listing_id}"),
        "vendor": ("analyst", f"/vendor?name={show.vendor_name}&market={show.vendor_market}"),
        "entity": ("analyst", show.entity_path),
        "saved": ("analyst", "/saved"),
        "cases": ("analyst", "/cases"),
        "case": ("analyst", f"/cases/{show.case_id}"),
        "review": ("analyst", "/review"),
        "operator": ("operator", "/operator"),
        "lifespan": ("analyst", "/lifespan"),
        "lifespan-market": ("analyst", f"/lifespan/markets/{show.market_id}/page"),
        "audit": ("admin", "/audit"),
        "keys": ("admin", "/keys"),
        "takedown-figures": ("operator", "/feeds/metrics.html"),
        "crawls": ("operator", "/operator/crawls"),
        "not-found": ("analyst", "/listings/no-such-listing"),
        "bad-request": ("analyst", "/search?markt=alpha"),  # a misspelt filter: the 400 page
    }
