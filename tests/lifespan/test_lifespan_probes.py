"""Probes of simulated markets through the real SOCKS5 hop: classification, the immediate
re-probe, exponential back-off, and the state machine with its evidence."""

from __future__ import annotations

import pytest

from crawlers.simsites import SimulatedWorld
from dragnet.services.process import free_port
from dragnet.settings import use_settings
from lifespan.fetch import ProxyUnavailable
from lifespan.mirrors import check_market_mirrors
from lifespan.models import DownKind, MarketState, ProbeStatus
from lifespan.probes import Prober, probe_due_markets, probe_market
from lifespan.registry import register_market, seed_from_profiles
from lifespan.store import LifespanStore
from tests.lifespan.sim import listing_page, onion_name

pytestmark = pytest.mark.integration


@pytest.fixture
def prober(store, lifespan_settings, socks_proxy, clock) -> Prober:
    return Prober(store, lifespan_settings, socks_proxy.url, clock=clock)


def test_probe_classifies_what_the_market_serves(prober, store, sim_market, clock) -> None:
    market = sim_market("Classify")
    register_market(store, "Classify", f"http://{market.host}/")
    seen = {}
    for mode in ("up", "gate", "login", "withdrawals", "error"):
        market.mode = mode
        clock.advance(3600)
        seen[mode] = prober.probe("classify")
    assert seen["up"].status == ProbeStatus.UP and seen["up"].http_status == 200
    assert seen["up"].latency_ms is not None and seen["up"].latency_ms > 0
    assert seen["up"].title == "Classify Market"
    assert seen["gate"].status == ProbeStatus.GATE
    assert "ddos protection" in seen["gate"].evidence["gate_markers"]
    assert seen["login"].status == ProbeStatus.LOGIN
    assert seen["withdrawals"].status == ProbeStatus.UP
    assert seen["withdrawals"].evidence["withdrawals_disabled"]
    assert store.signals("classify", "withdrawals_disabled")
    assert seen["error"].status == ProbeStatus.DOWN
    assert seen["error"].down_kind == DownKind.HTTP_ERROR and seen["error"].http_status == 503
    # gate, login and up all count as "the market is alive": uptime 4 of 5 probes
    assert store.probe_counts("classify") == (4, 5)


def test_slow_market_is_degraded_then_recovers(store, lifespan_settings, socks_proxy, sim_market, clock) -> None:
    settings = lifespan_settings.model_copy(
        update={"lifespan": lifespan_settings.lifespan.model_copy(update={"degraded_latency_s": 0.25})}
    )
    prober = Prober(store, settings, socks_proxy.url, clock=clock)
    market = sim_market("Sluggish")
    register_market(store, "Sluggish", f"http://{market.host}/")
    assert prober.probe("sluggish").state == MarketState.ACTIVE
    market.delay_s = 0.4
    clock.advance(3600)
    slow = prober.probe("sluggish")
    assert slow.status == ProbeStatus.UP and slow.latency_ms >= 400 and slow.state == MarketState.DEGRADED
    assert "latency" in store.state_changes("sluggish")[-1].reason
    market.delay_s = 0.0
    clock.advance(3600)
    assert prober.probe("sluggish").state == MarketState.ACTIVE
    assert store.get_market("sluggish").consecutive_failures == 0


def test_down_kinds_descriptor_connection_timeout(prober, store, sim_market, socks_proxy, lifespan_settings) -> None:
    # an onion the proxy cannot resolve: Tor's "descriptor not found" (SOCKS reply 0x04)
    register_market(store, "Ghost", f"http://{onion_name('ghost')}/")
    ghost = prober.probe("ghost")
    assert ghost.status == ProbeStatus.DOWN and ghost.down_kind == DownKind.DESCRIPTOR_NOT_FOUND
    assert ghost.evidence["socks_reply"] == 4
    # a known onion whose server refuses: connection failure
    dead_host = onion_name("refusing")
    socks_proxy.add(dead_host, ("127.0.0.1", free_port()))
    try:
        register_market(store, "Refusing", f"http://{dead_host}/")
        refused = prober.probe("refusing")
    finally:
        socks_proxy.remove(dead_host)
    assert refused.status == ProbeStatus.DOWN and refused.down_kind == DownKind.CONNECTION_FAILED
    # a server slower than the probe timeout
    slow = sim_market("Slow")
    slow.delay_s = lifespan_settings.lifespan.probe_timeout_s + 0.5
    register_market(store, "Slow", f"http://{slow.host}/")
    timed_out = prober.probe("slow")
    assert timed_out.status == ProbeStatus.DOWN and timed_out.down_kind == DownKind.TIMEOUT


def test_newly_failed_site_is_reprobed_at_another_path(prober, store, sim_market, clock) -> None:
    market = sim_market("Flaky")
    register_market(store, "Flaky", f"http://{market.host}/")
    assert prober.probe("flaky").status == ProbeStatus.UP
    market.fail_next = 1  # the front page answers 503 once
    market.requests.clear()
    clock.advance(3600)
    result = prober.probe("flaky")
    assert market.requests == ["/", "/index.html"]
    assert result.reprobed and result.status == ProbeStatus.UP
    assert [a["status"] for a in result.attempts] == ["down", "up"]
    assert store.get_market("flaky").consecutive_failures == 0
    assert store.get_market("flaky").state == MarketState.ACTIVE  # one lost request is no outage


def test_backoff_state_changes_and_recovery(prober, store, sim_market, socks_proxy, clock, lifespan_settings) -> None:
    ls = lifespan_settings.lifespan
    market = sim_market("Phoenix")
    register_market(store, "Phoenix", f"http://{market.host}/")
    t0 = clock()
    first = prober.probe("phoenix")
    assert first.state == MarketState.ACTIVE and first.next_probe_at == t0 + ls.probe_interval_s
    socks_proxy.remove(market.host)  # descriptor gone

    delays = []
    results = []
    for _ in range(6):
        clock.t = store.get_market("phoenix").next_probe_at
        assert [m.market_id for m in store.due_markets(clock())] == ["phoenix"]
        r = prober.probe("phoenix")
        results.append(r)
        delays.append(r.next_probe_at - clock())
        assert store.due_markets(clock() + delays[-1] - 1) == []  # not due before its time
    # exponential back-off, capped
    assert delays == [3600, 7200, 14400, 28800, 57600, ls.backoff_max_s]
    # only the first failure was re-probed at once (at another path)
    assert [r.reprobed for r in results] == [True, False, False, False, False, False]
    assert len(results[0].attempts) == 2 and results[0].attempts[1]["url"].endswith("/index.html")
    assert all(r.down_kind == DownKind.DESCRIPTOR_NOT_FOUND for r in results)
    assert [r.state for r in results[:3]] == [MarketState.DEGRADED, MarketState.DEGRADED, MarketState.DOWN]
    failing_since = results[0].at

    socks_proxy.add(market.host, ("127.0.0.1", market.port))  # it comes back
    clock.advance(ls.backoff_max_s)
    back = prober.probe("phoenix")
    assert back.status == ProbeStatus.UP and back.state == MarketState.ACTIVE
    assert back.next_probe_at == clock() + ls.probe_interval_s

    changes = store.state_changes("phoenix")
    assert [(c.from_state, c.to_state) for c in changes] == [
        (MarketState.NEW, MarketState.ACTIVE),
        (MarketState.ACTIVE, MarketState.DEGRADED),
        (MarketState.DEGRADED, MarketState.DOWN),
        (MarketState.DOWN, MarketState.ACTIVE),
    ]
    assert changes[1].evidence["down_kind"] == "descriptor_not_found"
    assert changes[1].evidence["url"] == f"http://{market.host}/"
    assert changes[2].evidence["consecutive_failures"] == 3
    assert changes[3].evidence["outage_s"] == clock() - failing_since
    assert changes[3].evidence["previous_state"] == "down"
    m = store.get_market("phoenix")
    assert m.first_seen == t0 and m.last_seen == clock()
    assert store.probe_counts("phoenix") == (2, 8)


def test_seizure_banner_by_text_then_by_image_hash(prober, store, sim_market, clock) -> None:
    a = sim_market("Hydra")
    register_market(store, "Hydra", f"http://{a.host}/")
    prober.probe("hydra")
    a.mode = "seized"
    clock.advance(3600)
    seized = prober.probe("hydra")
    assert seized.status == ProbeStatus.SEIZED and seized.state == MarketState.SEIZED
    change = store.state_changes("hydra")[-1]
    assert change.to_state == MarketState.SEIZED and not change.suspected
    assert any("has been seized" in p for p in change.evidence["seizure_phrases"])
    assert "europol" in change.evidence["seizure_agencies"]
    banner = change.evidence["images"][0]
    assert len(banner["sha256"]) == 64 and banner["ahash"]
    assert seized.next_probe_at == clock() + prober.settings.lifespan.backoff_max_s

    # a second market shows only the banner image, no text: recognised by the learned hash
    b = sim_market("Wall")
    register_market(store, "Wall", f"http://{b.host}/")
    prober.probe("wall")
    b.mode = "image_only"
    clock.advance(3600)
    result = prober.probe("wall")
    assert result.status == ProbeStatus.SEIZED
    assert banner["sha256"] in result.evidence["image_matches"]
    # a normal market with a different image is not "seized", even when its news box reports
    # another market's seizure in the banner's own words
    c = sim_market("Normal")
    c.page = listing_page(
        "Normal",
        extra="<div class=news>News: Hydra has been seized by the BKA and "
        "Europol in a law enforcement action. Stay safe!</div>",
    )
    register_market(store, "Normal", f"http://{c.host}/")
    assert prober.probe("normal").status == ProbeStatus.UP


def test_exit_scam_is_suspected_until_confirmed_and_silence_retires(
    prober, store, sim_market, socks_proxy, clock, lifespan_settings
) -> None:
    ls = lifespan_settings.lifespan
    # withdrawals disabled, then a long outage: suspected exit scam
    w = sim_market("Wallstreet")
    register_market(store, "Wallstreet", f"http://{w.host}/")
    prober.probe("wallstreet")
    w.mode = "withdrawals"
    clock.advance(3600)
    prober.probe("wallstreet")
    socks_proxy.remove(w.host)
    for _ in range(3):
        clock.advance(3600)
        prober.probe("wallstreet")
    assert store.get_market("wallstreet").state == MarketState.DOWN
    clock.advance(ls.exit_scam_outage_s)
    r = prober.probe("wallstreet")
    assert r.state == MarketState.EXIT_SCAM
    change = store.state_changes("wallstreet")[-1]
    assert change.suspected and "withdrawals disabled" in change.reason
    assert change.evidence["withdrawals_disabled"][0]["kind"] == "withdrawals_disabled"
    assert store.get_market("wallstreet").suspected
    confirmed = store.confirm_last_change("wallstreet", "analyst-7", at=clock())
    assert confirmed is not None and not confirmed.suspected and confirmed.confirmed_by == "analyst-7"
    assert not store.get_market("wallstreet").suspected

    # complaints then outage: also a suspected exit scam
    e = sim_market("Empire")
    register_market(store, "Empire", f"http://{e.host}/")
    prober.probe("empire")
    for i in range(ls.exit_scam_min_complaints):
        store.add_signal("empire", "complaint", source="forum", detail=f"no payout {i}", at=clock() + i)
    socks_proxy.remove(e.host)
    for _ in range(3):
        clock.advance(3600)
        prober.probe("empire")
    clock.advance(ls.exit_scam_outage_s)
    assert prober.probe("empire").state == MarketState.EXIT_SCAM
    assert len(store.state_changes("empire")[-1].evidence["complaints"]) == ls.exit_scam_min_complaints

    # a quiet outage without signals: not a scam, retired (suspected) only after retire_after_s
    q = sim_market("Quiet")
    register_market(store, "Quiet", f"http://{q.host}/")
    prober.probe("quiet")
    socks_proxy.remove(q.host)
    for _ in range(3):
        clock.advance(3600)
        prober.probe("quiet")
    clock.advance(ls.exit_scam_outage_s)
    assert prober.probe("quiet").state == MarketState.DOWN
    clock.advance(ls.retire_after_s)
    assert prober.probe("quiet").state == MarketState.RETIRED
    assert store.state_changes("quiet")[-1].suspected
    # ...and back to active if it answers again
    socks_proxy.add(q.host, ("127.0.0.1", q.port))
    clock.advance(86400)
    assert prober.probe("quiet").state == MarketState.ACTIVE


def test_probe_due_markets_from_site_profiles(tmp_path, lifespan_settings, sim_market, socks_proxy) -> None:
    up = sim_market("Profiled")
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "profiled.yaml").write_text(
        f"name: profiled-market\ntitle: Profiled Market\nkind: market\nstart_urls:\n  - http://{up.host}/\n"
        f"mirrors:\n  - http://{onion_name('profiled-mirror')}/\n"
        "gate:\n  markers: ['wait for the rabbit']\n"
        "listing: {links: 'a.item::attr(href)', detail_url: '/item/'}\n"
        "fields: {title: {css: 'h1::text'}, price: {css: '.price::text', first: true}}\n",
        encoding="utf-8",
    )
    (profiles / "social.yaml").write_text(
        "name: feed\nkind: social\nstart_urls: ['http://127.0.0.1:1/feed']\n"
        "posts: {container: article, url: 'a::attr(href)', author: '.a::text', text: '.t::text'}\n",
        encoding="utf-8",
    )
    (profiles / "broken.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    settings = lifespan_settings.model_copy(
        update={
            "tor": lifespan_settings.tor.model_copy(update={"socks_url": socks_proxy.url}),
            "crawl": lifespan_settings.crawl.model_copy(update={"profiles_dir": profiles}),
        }
    )
    use_settings(settings)
    assert probe_due_markets() == 1  # the onion market only; the clearnet feed is no probe target
    assert probe_due_markets() == 0  # nothing due again within the interval
    with LifespanStore(settings=settings) as store:
        market = store.get_market("profiled-market")
        assert market is not None and market.state == MarketState.ACTIVE
        assert "wait for the rabbit" in market.markers["gate"]
        assert {m.host for m in store.mirrors("profiled-market")} == {up.host, onion_name("profiled-mirror")}
    result = probe_market("profiled-market")
    assert result.status == ProbeStatus.UP
    # one Tor circuit per market: the market id travels as the SOCKS user name
    assert "dragnet-probe:profiled-market" in socks_proxy.stats.credentials_by_host[up.host]


def test_probes_of_the_crawlers_simulated_world(store, lifespan_settings, socks_proxy, clock) -> None:
    """The crawler part's simulated markets, registered from its real site profiles."""

    with SimulatedWorld(listings_per_market=3, forum_posts=3, social_posts=3, proxy=socks_proxy) as world:
        markets = {m.market_id: m for m in seed_from_profiles(store, world.profiles_dir)}
        assert {"nightshade", "velvet"} <= set(markets) and not {"tavern", "chatter"} & set(markets)
        assert markets["nightshade"].name == "Nightshade Market"
        prober = Prober(store, lifespan_settings, socks_proxy.url, clock=clock)
        night = world.sites["nightshade"]
        first = prober.probe("nightshade")
        assert first.status == ProbeStatus.GATE and first.reachable  # its anti-DDoS page, HTTP 503
        assert any("checking your browser" in m for m in first.evidence["gate_markers"])
        assert prober.probe("velvet").status == ProbeStatus.GATE  # "Prove you are human"

        world.take_down(night.onion_host)  # the primary address dies; the profile's mirror lives
        clock.advance(3600)
        via_mirror = prober.probe("nightshade")
        assert via_mirror.reprobed and via_mirror.reachable
        assert via_mirror.host == night.onion_hosts[1]
        assert [a["down_kind"] for a in via_mirror.attempts[:2]] == ["descriptor_not_found"] * 2

        socks_proxy.add(night.onion_host, ("127.0.0.1", night.port))
        check = check_market_mirrors(prober, "nightshade")
        assert check.mirrors.signature_valid
        assert set(check.signed_hosts) == set(night.onion_hosts)
        assert check.problems == ["canary.txt: missing"]  # the simulated market publishes no canary


def test_probe_due_round_runs_markets_in_parallel_without_mixing_them(
    store, lifespan_settings, sim_market, socks_proxy, clock
) -> None:
    settings = lifespan_settings.model_copy(
        update={"lifespan": lifespan_settings.lifespan.model_copy(update={"probe_concurrency": 4})}
    )
    prober = Prober(store, settings, socks_proxy.url, clock=clock)
    sites = {name: sim_market(name) for name in ("P1", "P2", "P3", "P4", "P5")}
    sites["P2"].mode = "seized"
    sites["P3"].delay_s = 0.3
    for name, site in sites.items():
        register_market(store, name, f"http://{site.host}/")
    socks_proxy.remove(sites["P4"].host)
    assert prober.probe_due(seed_profiles=False) == 5
    states = {m.market_id: m.state for m in store.markets()}
    assert states == {
        "p1": MarketState.ACTIVE,
        "p2": MarketState.SEIZED,
        "p3": MarketState.ACTIVE,
        "p4": MarketState.NEW,
        "p5": MarketState.ACTIVE,
    }  # p4: one failure, not yet down
    for market_id in states:
        probes = store.probes(market_id)
        assert len(probes) == 1 and probes[0].market_id == market_id
        assert probes[0].host == sites[market_id.upper()].host
    assert prober.probe_due(seed_profiles=False) == 0


def test_tor_itself_down_is_not_a_market_outage(store, lifespan_settings, sim_market, clock) -> None:
    market = sim_market("Steady")
    register_market(store, "Steady", f"http://{market.host}/")
    dead_proxy = Prober(store, lifespan_settings, f"socks5h://127.0.0.1:{free_port()}", clock=clock)
    with pytest.raises(ProxyUnavailable):
        dead_proxy.probe("steady")
    assert dead_proxy.probe_due(seed_profiles=False) == 0
    m = store.get_market("steady")
    assert store.probes("steady") == [] and m.state == MarketState.NEW and m.consecutive_failures == 0
