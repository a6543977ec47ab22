"""Issue #20 (items 4 and 6): seizure needs corroboration, confirmed closures are sticky, signals
are scoped to the current episode, mirror/key/canary failures raise signals, ``dragnet probe``
runs markets in parallel, analyst confirm/reject/undo of a given transition, a capped back-off
for dead markets, and the importer's ``--as-of``, column check and ``hacked`` closure type.

All against the simulated markets behind the real SOCKS5 hop and real stores."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from api.app import create_app
from api.auth import KeyStore
from dragnet.cli import app as cli_app
from dragnet.settings import LifespanSettings, use_settings
from lifespan.analytics import life_records, report
from lifespan.importer import import_csv, parse_date
from lifespan.mirrors import check_market_mirrors
from lifespan.models import MarketState, ProbeStatus, StateChange
from lifespan.probes import Prober
from lifespan.registry import register_market
from lifespan.state import next_probe_delay
from lifespan.store import LifespanStore
from tests.lifespan.sim import listing_page
from tests.lifespan.test_lifespan_mirrors import DAY, clearsign, day, new_key

pytestmark = pytest.mark.integration


@pytest.fixture
def prober(store, lifespan_settings, socks_proxy, clock) -> Prober:
    return Prober(store, lifespan_settings, socks_proxy.url, clock=clock)


def solid_png(colour: tuple[int, int, int], size: tuple[int, int] = (200, 100)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


SEIZURE_WITH_BACKGROUND = (
    "<html><head><title>Seized</title></head><body><img src='/bg.png'>"
    "<h1>THIS HIDDEN SITE HAS BEEN SEIZED</h1><p>by the Federal Bureau of Investigation as part of "
    "a law enforcement action.</p><img src='/banner.png'></body></html>"
)


# -- 1: an image match alone does not decide a seizure ---------------------------------------------
def test_grey_placeholder_matching_a_learned_solid_background_is_not_a_seizure(prober, store, sim_market, clock):
    seized = sim_market("Solidbg")
    seized.page = SEIZURE_WITH_BACKGROUND
    seized.files["/bg.png"] = ("image/png", solid_png((10, 20, 60)))
    register_market(store, "Solidbg", f"http://{seized.host}/")
    assert prober.probe("solidbg").status == ProbeStatus.SEIZED  # by its text; learns its images

    healthy = sim_market("Greyshop")
    healthy.page = listing_page("Greyshop", extra="<img src='/placeholder.png'>")
    healthy.files["/placeholder.png"] = ("image/png", solid_png((128, 128, 128), (64, 64)))
    register_market(store, "Greyshop", f"http://{healthy.host}/")
    clock.advance(3600)
    result = prober.probe("greyshop")
    assert result.status == ProbeStatus.UP and result.state == MarketState.ACTIVE
    # a page that is nothing but the grey square is no seizure either: the square carries no structure
    healthy.page = "<html><head><title>Notice</title></head><body><img src='/placeholder.png'></body></html>"
    clock.advance(3600)
    assert prober.probe("greyshop").status == ProbeStatus.UP
    assert store.get_market("greyshop").state == MarketState.ACTIVE


def test_image_only_seizure_is_suspected_and_undone_when_the_market_answers(prober, store, sim_market, clock):
    text = sim_market("Texted")
    text.mode = "seized"
    register_market(store, "Texted", f"http://{text.host}/")
    assert prober.probe("texted").state == MarketState.SEIZED
    assert not store.state_changes("texted")[-1].suspected  # banner text and agency: corroborated

    wall = sim_market("Imagewall")
    register_market(store, "Imagewall", f"http://{wall.host}/")
    prober.probe("imagewall")
    wall.mode = "image_only"
    clock.advance(3600)
    assert prober.probe("imagewall").status == ProbeStatus.SEIZED
    change = store.state_changes("imagewall")[-1]
    assert change.to_state == MarketState.SEIZED and change.suspected  # the image alone: for an analyst
    wall.mode = "up"
    clock.advance(3600)
    assert prober.probe("imagewall").state == MarketState.ACTIVE
    assert store.state_changes("imagewall")[-1].evidence["previous_state"] == "seized"


# -- 2: a confirmed closure is sticky ------------------------------------------------------------------
def _exit_scam(prober, store, sim_market, socks_proxy, clock, ls, name: str):
    site = sim_market(name)
    mid = name.lower()
    register_market(store, name, f"http://{site.host}/")
    prober.probe(mid)
    site.mode = "withdrawals"
    clock.advance(3600)
    prober.probe(mid)
    socks_proxy.remove(site.host)
    for _ in range(3):
        clock.advance(3600)
        prober.probe(mid)
    clock.advance(ls.exit_scam_outage_s)
    assert prober.probe(mid).state == MarketState.EXIT_SCAM
    return site, mid


def test_confirmed_exit_scam_stays_closed_when_the_address_answers(
    prober, store, sim_market, socks_proxy, clock, lifespan_settings
):
    site, mid = _exit_scam(prober, store, sim_market, socks_proxy, clock, lifespan_settings.lifespan, "Sticky")
    store.confirm_last_change(mid, "analyst-7", at=clock())
    last_seen = store.get_market(mid).last_seen
    site.mode = "up"
    socks_proxy.add(site.host, ("127.0.0.1", site.port))
    clock.advance(86400)
    result = prober.probe(mid)
    assert result.status == ProbeStatus.UP and result.state == MarketState.EXIT_SCAM
    assert store.state_changes(mid)[-1].to_state == MarketState.EXIT_SCAM
    answered = store.signals(mid, "answered_after_closure")
    assert len(answered) == 1 and answered[0]["at"] == clock() and "exit_scam" in answered[0]["detail"]
    record = next(r for r in life_records(store, now=clock()) if r.market_id == mid)
    assert record.closed and record.closure_type == "exit_scam" and record.end <= last_seen
    assert next(r for r in life_records(store, now=clock(), confirmed_only=True) if r.market_id == mid).closed


# -- 3: signals belong to the episode in which they were seen --------------------------------------------
def test_withdrawal_freeze_before_a_recovery_does_not_make_the_next_outage_a_scam(
    prober, store, sim_market, socks_proxy, clock, lifespan_settings
):
    ls = lifespan_settings.lifespan
    site = sim_market("Episodes")
    register_market(store, "Episodes", f"http://{site.host}/")
    prober.probe("episodes")
    site.mode = "withdrawals"
    clock.advance(3600)
    prober.probe("episodes")
    assert store.signals("episodes", "withdrawals_disabled")
    socks_proxy.remove(site.host)
    for _ in range(3):
        clock.advance(3600)
        prober.probe("episodes")
    assert store.get_market("episodes").state == MarketState.DOWN
    site.mode = "up"  # back, withdrawals working again
    socks_proxy.add(site.host, ("127.0.0.1", site.port))
    clock.advance(3600)
    assert prober.probe("episodes").state == MarketState.ACTIVE
    socks_proxy.remove(site.host)  # an ordinary outage later
    for _ in range(3):
        clock.advance(3600)
        prober.probe("episodes")
    clock.advance(ls.exit_scam_outage_s)
    assert prober.probe("episodes").state == MarketState.DOWN
    assert all(c.to_state != MarketState.EXIT_SCAM for c in store.state_changes("episodes"))


# -- 4: failing mirror checks, key changes and stale canaries raise signals ----------------------------------
def test_mirror_failure_key_change_and_stale_canary_raise_signals(prober, store, sim_market, clock):
    key = new_key("Signals")
    site = sim_market("Signalled")

    def publish(k, canary_age_days: float = 1) -> None:
        site.files["/pgp.txt"] = ("text/plain", str(k.pubkey).encode())
        site.files["/mirrors.txt"] = ("text/plain", clearsign(k, f"http://{site.host}\n").encode())
        site.files["/canary.txt"] = (
            "text/plain",
            clearsign(k, f"Canary of {day(clock() - canary_age_days * DAY)}: all well.").encode(),
        )

    register_market(store, "Signalled", f"http://{site.host}/")
    publish(key)
    assert check_market_mirrors(prober, "signalled").ok
    assert store.signals("signalled") == []
    publish(key, canary_age_days=30)
    clock.advance(3600)
    assert not check_market_mirrors(prober, "signalled").ok
    assert [s["kind"] for s in store.signals("signalled")] == ["canary_stale"]
    publish(new_key("Hijacker"))
    clock.advance(3600)
    check_market_mirrors(prober, "signalled")
    assert store.signals("signalled")[-1]["kind"] == "key_changed"
    publish(key)
    site.files.pop("/mirrors.txt")  # the site's ordinary page answers instead: no signed list
    clock.advance(3600)
    check_market_mirrors(prober, "signalled")
    last = store.signals("signalled")[-1]
    assert last["kind"] == "mirror_check_failed" and "mirrors.txt" in last["detail"]
    assert last["at"] == clock()


# -- 5: dragnet probe runs markets concurrently ----------------------------------------------------------------
def test_cli_probe_runs_markets_concurrently(settings, tmp_path, sim_market, socks_proxy) -> None:
    use_settings(
        settings.model_copy(
            update={
                "tor": settings.tor.model_copy(update={"socks_url": socks_proxy.url}),
                "crawl": settings.crawl.model_copy(update={"profiles_dir": tmp_path / "none"}),
            }
        )
    )
    sites = [sim_market(f"Slowpoke {i}") for i in range(4)]
    for site in sites:
        site.delay_s = 1.0
    args = ["probe", "--json"]
    for i, site in enumerate(sites):
        args += ["--add", f"Slowpoke {i}=http://{site.host}/"]
    args += [f"slowpoke-{i}" for i in range(4)]
    started = time.monotonic()
    result = CliRunner().invoke(cli_app, args)
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [x["market_id"] for x in lines] == [f"slowpoke-{i}" for i in range(4)]  # same order, same results
    assert all(x["status"] == "up" and x["state"] == "active" for x in lines)
    assert elapsed < 3.0, elapsed  # one after another would take more than 4 s


# -- 6: analyst actions on a specific transition ---------------------------------------------------------------
def test_reject_confirm_and_undo_a_specific_transition(prober, store, sim_market, clock) -> None:
    site = sim_market("Reviewed")
    register_market(store, "Reviewed", f"http://{site.host}/")
    prober.probe("reviewed")
    site.mode = "seized"
    clock.advance(3600)
    assert prober.probe("reviewed").state == MarketState.SEIZED
    first, seizure = store.state_changes("reviewed")
    assert first.id is not None and seizure.id is not None
    # confirm a specific, earlier transition (not merely "the last one")
    confirmed = store.confirm_change("reviewed", first.id, "ana", why="first probe checked by hand", at=clock())
    assert confirmed.confirmed_by == "ana" and store.state_changes("reviewed")[-1].confirmed_by is None
    # reject the seizure: the market is back in its previous state, probed on the normal schedule
    store.reject_change("reviewed", seizure.id, "ana", why="parody page", at=clock() + 1)
    market = store.get_market("reviewed")
    assert market.state == MarketState.ACTIVE and market.next_probe_at <= clock() + 3600 + 1
    revert = store.state_changes("reviewed")[-1]
    assert (revert.from_state, revert.to_state) == (MarketState.SEIZED, MarketState.ACTIVE)
    assert revert.evidence["rejected_change"] == seizure.id and "parody page" in revert.reason
    # a rejected seizure teaches no banner hashes
    assert prober.known_seizure_images() == []
    # undo the rejection: the seizure stands again
    store.undo_action("reviewed", seizure.id, "bob", why="it was real", at=clock() + 2)
    assert store.get_market("reviewed").state == MarketState.SEIZED
    actions = store.analyst_actions("reviewed")
    assert [(a["action"], a["change_id"], a["analyst"], a["why"]) for a in actions] == [
        ("confirm", first.id, "ana", "first probe checked by hand"),
        ("reject", seizure.id, "ana", "parody page"),
        ("undo", seizure.id, "bob", "it was real"),
    ]
    assert [a["at"] for a in actions] == [clock(), clock() + 1, clock() + 2]
    with pytest.raises(ValueError):
        store.reject_change("reviewed", first.id, "ana", why="not the latest")  # only the current state's


def test_api_and_cli_review_actions_and_transitions_view(settings) -> None:
    with LifespanStore(settings=settings) as store:
        store.upsert_market("Watched", primary_host="x.onion")
        ids = [
            store.add_state_change(
                StateChange(market_id="watched", at=1.7e9 + i, from_state=a, to_state=b, reason=r, suspected=s)
            )
            for i, (a, b, r, s) in enumerate(
                [
                    (MarketState.NEW, MarketState.ACTIVE, "first reachable probe", False),
                    (MarketState.ACTIVE, MarketState.DOWN, "3 consecutive failed probes", False),
                    (MarketState.DOWN, MarketState.EXIT_SCAM, "suspected exit scam", True),
                ]
            )
        ]
        store.update_market("watched", state=MarketState.EXIT_SCAM, state_since=1.7e9 + 2, suspected=True)
        store.add_signal("watched", "key_changed", source="x.onion", detail="pinned A, served B", at=1.7e9 + 3)
    keys = KeyStore(settings)
    analyst = keys.create_key("ana", "analyst")
    platform = keys.create_key("plat", "platform:examplechat")
    client = TestClient(create_app(settings))
    base = f"/lifespan/markets/watched/changes/{ids[2]}"
    assert client.post(f"{base}/reject", params={"why": "x"}, headers={"X-API-Key": platform}).status_code == 403
    rejected = client.post(f"{base}/reject", params={"why": "it came back"}, headers={"X-API-Key": analyst})
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["market"]["state"] == "down"
    undone = client.post(f"{base}/undo", params={"why": "mistake"}, headers={"X-API-Key": analyst})
    assert undone.status_code == 200 and undone.json()["market"]["state"] == "exit_scam"
    ok = client.post(f"{base}/confirm", params={"why": "forum proof"}, headers={"X-API-Key": analyst})
    assert ok.status_code == 200 and ok.json()["change"]["confirmed_by"] == "ana"
    missing = client.post("/lifespan/markets/watched/changes/99999/confirm", headers={"X-API-Key": analyst})
    assert missing.status_code == 404
    detail = client.get("/lifespan/markets/watched", headers={"X-API-Key": analyst}).json()
    assert [a["action"] for a in detail["actions"]] == ["reject", "undo", "confirm"]
    assert detail["state_changes"][2]["id"] == ids[2]

    use_settings(settings)
    runner = CliRunner()
    out = runner.invoke(cli_app, ["lifespan", "transitions", "watched"])
    assert out.exit_code == 0, out.output
    assert f"#{ids[2]}" in out.output and "suspected exit scam" in out.output and "confirmed by ana" in out.output
    assert "key_changed" in out.output and "pinned A, served B" in out.output  # signals are listed too
    cli_reject = runner.invoke(
        cli_app, ["lifespan", "reject", "watched", "--change", str(ids[2]), "--analyst", "bob", "--why", "relaunch"]
    )
    assert cli_reject.exit_code == 0, cli_reject.output
    as_json = runner.invoke(cli_app, ["lifespan", "transitions", "watched", "--json"])
    data = json.loads(as_json.stdout)
    assert data["market"]["state"] == "down" and data["actions"][-1]["analyst"] == "bob"
    assert runner.invoke(cli_app, ["lifespan", "transitions", "nope"]).exit_code == 1


# -- 7: back-off for dead markets -----------------------------------------------------------------------------
def test_default_backoff_for_dead_markets_is_capped_at_a_day() -> None:
    defaults = LifespanSettings()
    for state in (MarketState.DOWN, MarketState.SEIZED, MarketState.EXIT_SCAM, MarketState.RETIRED):
        assert next_probe_delay(defaults, 30, state) <= 24 * 3600, state
    assert next_probe_delay(defaults, 0, MarketState.ACTIVE) == defaults.probe_interval_s


# -- 8: importer -------------------------------------------------------------------------------------------
def test_import_as_of_censors_open_markets_at_that_date(settings, tmp_path) -> None:
    csv_file = tmp_path / "open.csv"
    csv_file.write_text(
        "name,start,end,closure_type\nStill Open,2020-01-01,,\nClosed,2020-01-01,2020-03-01,seized\n",
        encoding="utf-8",
    )
    use_settings(settings)
    runner = CliRunner()
    out = runner.invoke(cli_app, ["lifespan", "import", str(csv_file)])
    assert out.exit_code == 0, out.output
    assert "2020-03-01" in out.output  # the default as-of date: the table's newest, stated
    with LifespanStore(settings=settings) as store:
        rec = {r.name: r for r in life_records(store, now=parse_date("2024-01-01"))}
    assert not rec["Still Open"].closed and round(rec["Still Open"].days) == 60
    out = runner.invoke(cli_app, ["lifespan", "import", str(csv_file), "--as-of", "2020-07-01", "--source", "b"])
    assert out.exit_code == 0, out.output and "2020-07-01" in out.output
    with LifespanStore(settings=settings) as store:
        days = sorted(round(r.days) for r in life_records(store) if r.name == "Still Open")
    assert 182 in days


def test_import_refuses_unknown_columns_and_names_the_expected_ones(settings, tmp_path) -> None:
    csv_file = tmp_path / "typo.csv"
    csv_file.write_text("name,start,ended,closure_type\nA,2020-01-01,2020-02-01,seized\n", encoding="utf-8")
    with LifespanStore(settings=settings) as store:
        result = import_csv(store, csv_file)
        assert result.imported == 0 and store.history() == []
    assert "ended" in result.errors[0] and "closure_type" in result.errors[0] and "end" in result.errors[0]
    use_settings(settings)
    help_text = CliRunner().invoke(cli_app, ["lifespan", "import", "--help"]).output
    assert "closure_type" in help_text and "notes" in help_text and "--as-of" in help_text


def test_hacked_is_a_closure_type_of_its_own(store, tmp_path: Path) -> None:
    csv_file = tmp_path / "hacked.csv"
    csv_file.write_text(
        "name,start,end,closure_type\nBreached,2020-01-01,2020-02-01,hacked\nPwned,2020-01-01,2020-03-01,hack\n"
        "Quiet,2020-01-01,2020-04-01,retired\n",
        encoding="utf-8",
    )
    assert import_csv(store, csv_file).imported == 3
    types = {r.name: r.closure_type for r in life_records(store)}
    assert types == {"Breached": "hacked", "Pwned": "hacked", "Quiet": "retired"}
    rep = report(store)
    assert rep["survival"]["incidence"]["hacked"]["events"] == 2
    assert rep["survival"]["incidence"]["retired"]["events"] == 1
