"""The feeds API against a fake platform on loopback: webhooks it verifies, a pull client that
walks the cursor, feedback, removal confirmed by re-crawl through the SOCKS5 hop, STIX, metrics,
and platform isolation."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import jsonschema
import pytest
import stix2
from fastapi.testclient import TestClient
from pydantic import SecretStr
from stix2patterns.validator import validate as validate_pattern
from stix2validator import ValidationOptions, validate_string

from api.app import create_app
from api.auth import KeyStore
from dragnet.settings import DragnetSettings, use_settings
from takedown import formats
from takedown.delivery import WebhookURLError, check_webhook_url, deliver_pending
from takedown.evidence import verify_bundle
from takedown.metrics import ImpactMetrics, PlatformFigures, TrustedFlaggerReport, render_html
from takedown.service import FeedService
from tests.takedown.helpers import FakePlatform, make_hit

ADMIN = "bootstrap-admin-key-for-tests-only-0123456789"


@pytest.fixture
def world(feed_settings: DragnetSettings, fake_platform: FakePlatform, socks_proxy) -> Iterator[dict]:
    socks_proxy.add("fakegram.test", ("127.0.0.1", fake_platform.port))
    socks_proxy.add("otherapp.test", ("127.0.0.1", fake_platform.port))
    settings = feed_settings.model_copy(
        update={
            "feeds": feed_settings.feeds.model_copy(update={"recrawl_proxy_url": socks_proxy.url}),
            "api": feed_settings.api.model_copy(update={"bootstrap_admin_key": SecretStr(ADMIN)}),
        }
    )
    use_settings(settings)
    keys = KeyStore(settings)
    world = {
        "settings": settings,
        "fake": fake_platform,
        "proxy": socks_proxy,
        "client": TestClient(create_app(settings)),
        "fakegram": {"X-API-Key": keys.create_key("Fakegram T&S", "platform:fakegram")},
        "otherapp": {"X-API-Key": keys.create_key("Other App T&S", "platform:otherapp")},
        "analyst": {"X-API-Key": keys.create_key("Ann Analyst", "analyst")},
        "operator": {"X-API-Key": keys.create_key("Op", "operator")},
        "admin": {"X-API-Key": ADMIN},
    }
    try:
        yield world
    finally:
        socks_proxy.remove("fakegram.test")
        socks_proxy.remove("otherapp.test")
        world["client"].close()


def _ingest_posts(world: dict, platform: str, posts: dict[str, str]) -> dict[str, str]:
    fake: FakePlatform = world["fake"]
    fake.posts.update(posts)
    hits = [make_hit(f"http://{platform}.test/p/{pid}", text) for pid, text in posts.items()]
    FeedService(world["settings"]).ingest(hits)
    out = {}
    for pid in posts:
        [notice] = [
            n for n in FeedService(world["settings"]).store.all(platform) if n.target.native_ids["post_id"] == pid
        ]
        out[pid] = notice.id
    return out


def _approve(world: dict, platform: str, notice_id: str) -> None:
    r = world["client"].post(
        f"/feeds/{platform}/notices/{notice_id}/review", headers=world["analyst"], json={"decision": "approve"}
    )
    assert r.status_code == 200, r.text


def _walk(
    client: TestClient, platform: str, headers: dict, cursor: str = "0", limit: int = 2
) -> tuple[list[dict], str]:
    """The platform's pull client: follow next_cursor until has_more is false."""
    seen: list[dict] = []
    for _ in range(1000):
        r = client.get(f"/feeds/{platform}", params={"since": cursor, "limit": limit}, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        seen.extend(page["notices"])
        assert r.headers["X-Next-Cursor"] == page["next_cursor"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return seen, cursor
    raise AssertionError("cursor never ended")


@pytest.mark.integration
def test_whole_lifecycle_with_a_fake_platform(world: dict) -> None:
    client, fake, settings = world["client"], world["fake"], world["settings"]
    ids = _ingest_posts(
        world,
        "fakegram",
        {
            "P1": "xanax bars 2mg, 50 pills for $120 🔌",
            "P2": "selling oxy 80s, dm me",
            "P3": "mdma pills 200mg shipped",
        },
    )
    # nothing reaches the platform before an analyst approves
    assert _walk(client, "fakegram", world["fakegram"])[0] == []
    queue = client.get("/feeds/fakegram/notices", params={"status": "new"}, headers=world["analyst"]).json()["notices"]
    assert {n["id"] for n in queue} == set(ids.values())
    for nid in ids.values():
        _approve(world, "fakegram", nid)

    # push: the platform registers its webhook and gets the secret once
    r = client.put(
        "/feeds/fakegram/webhook", headers=world["fakegram"], json={"url": f"http://127.0.0.1:{fake.port}/hook"}
    )
    assert r.status_code == 200, r.text
    fake.secret = r.json()["secret"]
    fake.fail_next = 1  # the first POST meets a 503: retried with back-off
    assert deliver_pending("fakegram", settings) == 3
    assert [v[0] for v in fake.verdicts] == [503, 200, 200, 200]
    assert [e["notice"]["id"] for e in fake.events] == [ids["P1"], ids["P2"], ids["P3"]]
    assert all(e["event"] == "notice.upsert" for e in fake.events)
    log = client.get("/feeds/fakegram/deliveries", headers=world["fakegram"]).json()["deliveries"]
    assert [(d["attempt"], d["status_code"], d["ok"]) for d in log[::-1][:2]] == [(1, 503, False), (2, 200, True)]
    assert deliver_pending("fakegram", settings) == 0  # nothing pending: no repeats

    # the receiver refuses a replayed request, a stale timestamp and a bad signature
    captured = fake.captured[-1]
    hook = f"http://127.0.0.1:{fake.port}/hook"
    replay = httpx.post(
        hook,
        content=captured.body,
        headers={
            k: v for k, v in captured.headers.items() if k.startswith(("x-dragnet", "idempotency", "content-type"))
        },
    )
    assert replay.status_code == 409 and replay.json()["result"] == "replay"

    old = str(int(time.time()) - settings.feeds.webhook_replay_window_s - 60)
    stale_sig = "v1=" + hmac.new(fake.secret.encode(), old.encode() + b"." + captured.body, hashlib.sha256).hexdigest()
    stale = httpx.post(
        hook, content=captured.body, headers={"X-Dragnet-Timestamp": old, "X-Dragnet-Signature": stale_sig}
    )
    assert stale.status_code == 401 and stale.json()["result"] == "stale timestamp"
    forged = httpx.post(
        hook,
        content=captured.body.replace(b"fakegram", b"fakegrAm"),
        headers={k: v for k, v in captured.headers.items() if k.startswith("x-dragnet")},
    )
    assert forged.status_code == 401 and forged.json()["result"] == "bad signature"
    assert len(fake.events) == 3

    # pull: the same notices, in order, each once
    seen, cursor = _walk(client, "fakegram", world["fakegram"])
    assert [n["id"] for n in seen] == [ids["P1"], ids["P2"], ids["P3"]]
    assert all(n["status"] == "sent" for n in seen)

    # platform feedback: P2 is a false positive, P1 is confirmed
    r = client.post(
        f"/feeds/fakegram/notices/{ids['P2']}/feedback",
        headers=world["fakegram"],
        json={"kind": "false_positive", "note": "cooking forum joke"},
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected" and r.json()["feedback"] == "false_positive"
    r = client.post(
        f"/feeds/fakegram/notices/{ids['P1']}/feedback", headers=world["fakegram"], json={"kind": "true_positive"}
    )
    assert r.json()["status"] == "acknowledged"

    # P1 disappears behind a "post removed" page, P3 stays; the re-crawl goes through the SOCKS5 hop
    fake.removed["P1"] = "page"
    before = world["proxy"].stats.by_host["fakegram.test"]
    results = dict(FeedService(settings).confirm_removals("fakegram"))
    assert results[ids["P1"]].outcome == "gone" and results[ids["P3"]].outcome == "present"
    assert ids["P2"] not in results  # rejected notices are not re-crawled
    assert world["proxy"].stats.by_host["fakegram.test"] >= before + 2
    p1 = client.get(f"/feeds/fakegram/notices/{ids['P1']}", headers=world["fakegram"]).json()
    assert p1["status"] == "removed"
    assert [(h["status"], h["by"].split(":")[0]) for h in p1["history"]] == [
        ("new", "dragnet"),
        ("approved", "analyst"),
        ("sent", "webhook"),
        ("acknowledged", "platform"),
        ("removed", "recrawl"),
    ]

    # an analyst withdraws P3: a tombstone
    r = client.post(
        f"/feeds/fakegram/notices/{ids['P3']}/withdraw", headers=world["analyst"], json={"reason": "duplicate report"}
    )
    assert r.json()["should_delete"] is True

    # the pull client continues from its cursor: the confirmed removal and the tombstone, nothing else
    more, cursor2 = _walk(client, "fakegram", world["fakegram"], cursor)
    assert [(n["id"], n["status"], n["should_delete"]) for n in more] == [
        (ids["P1"], "removed", False),
        (ids["P3"], "rejected", True),
    ]
    assert _walk(client, "fakegram", world["fakegram"], cursor2)[0] == []
    # and the webhook gets the same changes
    assert deliver_pending("fakegram", settings) == 2
    assert [e["event"] for e in fake.events[3:]] == ["notice.upsert", "notice.delete"]

    # the impact figures
    m = client.get("/feeds/metrics", headers=world["analyst"]).json()
    fg = m["platforms"]["fakegram"]
    assert (fg["sent"], fg["removed"], fg["removed_confirmed_by_recrawl"], fg["false_positive"]) == (3, 1, 1, 1)
    assert fg["removal_rate"] == pytest.approx(1 / 3, abs=1e-3) and fg["false_positive_rate"] == pytest.approx(
        1 / 3, abs=1e-3
    )
    assert sum(m["removed_per_month"].values()) == 1 and m["time_to_removal_hours"]["count"] == 1
    tf = m["trusted_flagger_report"]
    assert tf["by_provider"] == {"fakegram": 3} and tf["by_content_type"] == {"post": 3}
    assert tf["by_outcome"]["removed"] == 1 and tf["by_outcome"]["declined (false positive)"] == 1
    page = client.get("/feeds/metrics.html", headers=world["analyst"])
    assert page.status_code == 200 and "fakegram" in page.text and "Trusted-flagger report" in page.text
    svg = client.get("/feeds/metrics.svg", headers=world["analyst"])
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content

    # the evidence bundle the platform can fetch verifies

    ev = client.get(f"/feeds/fakegram/notices/{ids['P1']}/evidence", headers=world["fakegram"])
    assert ev.status_code == 200 and hashlib.sha256(ev.content).hexdigest() == p1["proof"]["bundle_sha256"]
    bundle = settings.paths.data_dir / "downloaded.wacz"
    bundle.write_bytes(ev.content)
    assert verify_bundle(bundle).ok
    # ... and it is signed by the key the deployment publishes (no key of the platform needed to fetch it)
    public = client.get("/feeds/signing-key")
    assert public.status_code == 200
    assert verify_bundle(bundle, trusted_public_key=public.text.strip(), require_signature=True).ok


@pytest.mark.integration
def test_removal_by_404_and_410(world: dict) -> None:
    ids = _ingest_posts(
        world, "fakegram", {"G1": "xanax bars for sale", "G2": "oxy 80s for sale", "G3": "weed 1oz $200"}
    )
    service = FeedService(world["settings"])
    for nid in ids.values():
        _approve(world, "fakegram", nid)
    _walk(world["client"], "fakegram", world["fakegram"])  # pulled: sent
    world["fake"].removed.update({"G1": "404", "G2": "410"})
    results = dict(service.confirm_removals("fakegram"))
    assert (results[ids["G1"]].status_code, results[ids["G2"]].status_code) == (404, 410)
    assert [service.get(ids[p]).status for p in ("G1", "G2", "G3")] == ["removed", "removed", "sent"]
    # G3 was just checked: not again before feeds.recheck_interval_s
    assert service.confirm_removals("fakegram") == []
    # an unreachable platform is not proof of removal
    world["proxy"].remove("fakegram.test")
    results = dict(service.confirm_removals("fakegram", force=True))
    assert results[ids["G3"]].outcome == "unknown" and service.get(ids["G3"]).status == "sent"


@pytest.mark.integration
def test_pull_cursor_has_no_gaps_or_repeats_while_notices_keep_coming(world: dict) -> None:
    client = world["client"]
    service = FeedService(world["settings"])
    hits = [make_hit(f"http://fakegram.test/p/C{i}", f"xanax bars lot {i}") for i in range(12)]
    created = service.ingest(hits, bundles=False).created
    cursor, seen = "0", []
    for i, nid in enumerate(created):
        service.review(nid, "approve", by="analyst:ann")
        if i % 3 == 2:  # the client polls between approvals
            page, cursor = _walk(client, "fakegram", world["fakegram"], cursor, limit=2)
            seen.extend(page)
        if i == 5:
            service.withdraw(created[0], by="analyst:ann", reason="wrong")
    page, cursor = _walk(client, "fakegram", world["fakegram"], cursor, limit=2)
    seen.extend(page)
    versions = [(n["id"], n["version"]) for n in seen]
    assert len(versions) == len(set(versions))  # no repeats
    assert {n["id"] for n in seen} == set(created)  # no gaps
    assert [n["seq"] for n in seen] == sorted(n["seq"] for n in seen)
    tomb = [n for n in seen if n["id"] == created[0]]
    assert [t["should_delete"] for t in tomb] == [False, True]


@pytest.mark.integration
def test_feed_formats_and_stix_bundle_validates(world: dict) -> None:
    client = world["client"]
    ids = _ingest_posts(world, "fakegram", {"S1": "xanax bars 2mg", "S2": '=HYPERLINK("http://evil") oxy 80s'})
    for nid in ids.values():
        _approve(world, "fakegram", nid)
    FeedService(world["settings"]).withdraw(ids["S2"], by="analyst:ann", reason="test")
    r = client.get("/feeds/fakegram", params={"format": "stix"}, headers=world["admin"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/stix+json")
    bundle = stix2.parse(r.text)  # no allow_custom: Dragnet's fields are in a property extension
    assert bundle.type == "bundle"
    indicators = [o for o in bundle.objects if o.type == "indicator"]
    ext = {i.id: i.extensions[formats.EXTENSION_ID] for i in indicators}
    assert {e["notice_id"] for e in ext.values()} == set(ids.values())
    (ext_def,) = [o for o in bundle.objects if o.type == "extension-definition"]
    assert ext_def.id == formats.EXTENSION_ID and ext_def.extension_types == ["property-extension"]
    for ind in indicators:
        assert validate_pattern(ind.pattern, stix_version="2.1") is True
        assert ind.spec_version == "2.1" and ind.object_marking_refs == [stix2.TLP_AMBER.id]
        assert ind.created_by_ref in {o.id for o in bundle.objects if o.type == "identity"}
        assert 0 <= ind.confidence <= 100
        assert ext[ind.id]["law"]["dsa_category"] == "STATEMENT_CATEGORY_UNSAFE_AND_ILLEGAL_PRODUCTS"
        assert ext[ind.id]["extension_type"] == "property-extension"
        assert not any(k.startswith("x_") for k in json.loads(ind.serialize()))
        assert all("url" not in ref or "hashes" in ref for ref in ind.get("external_references", []))
    assert {ext[i.id]["notice_id"]: i.revoked for i in indicators} == {ids["S1"]: False, ids["S2"]: True}
    # each object also validates on its own (no custom properties left to allow)
    for obj in json.loads(r.text)["objects"]:
        stix2.parse(obj, version="2.1")
    # the OASIS validator in strict mode: no errors, no warnings on the bundle as served
    results = validate_string(r.text, ValidationOptions(version="2.1", strict=True))
    assert results.object_id == bundle.id  # one result for the bundle, covering every object in it
    problems = [str(m) for m in (*results.errors, *results.warnings)]
    assert results.is_valid and problems == [], problems
    assert len(bundle.objects) == 5  # identity, extension definition, 2 indicators, TLP marking

    # every notice the feed serves validates, as served, against the schema the feed publishes
    schema = client.get("/feeds/schema").json()
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    jsonschema.Draft202012Validator.check_schema(schema)
    served = client.get("/feeds/fakegram", headers=world["admin"]).json()["notices"]
    nd = client.get("/feeds/fakegram", params={"format": "ndjson"}, headers=world["admin"])
    lines = [json.loads(x) for x in nd.text.splitlines()]
    assert len(served) == len(lines) == 2 and all("seq" in n for n in served + lines)
    listed = client.get("/feeds/fakegram/notices", headers=world["analyst"]).json()["notices"]
    single = [client.get(f"/feeds/fakegram/notices/{nid}", headers=world["admin"]).json() for nid in ids.values()]
    assert len(listed) == len(single) == 2
    for notice in served + lines + listed + single:
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(notice)]
        assert errors == [], errors
    assert {x["id"] for x in lines} == set(ids.values())
    cs = client.get("/feeds/fakegram", params={"format": "csv"}, headers=world["admin"])
    rows = list(csv.DictReader(io.StringIO(cs.text)))
    assert {r["id"] for r in rows} == set(ids.values())
    assert not any(v.startswith("=") for row in rows for v in row.values())  # no formula injection
    # the admin looked; nothing was recorded as sent
    assert FeedService(world["settings"]).get(ids["S1"]).status == "approved"


@pytest.mark.integration
def test_platform_keys_are_isolated(world: dict) -> None:
    client = world["client"]
    a, b = world["fakegram"], world["otherapp"]
    ids_a = _ingest_posts(world, "fakegram", {"A1": "xanax bars"})
    ids_b = _ingest_posts(world, "otherapp", {"B1": "oxy 80s for sale"})
    _approve(world, "fakegram", ids_a["A1"])
    _approve(world, "otherapp", ids_b["B1"])
    nb = ids_b["B1"]
    assert client.get("/feeds/otherapp", headers=a).status_code == 403
    assert client.get("/feeds/otherapp", params={"format": "stix"}, headers=a).status_code == 403
    assert client.get(f"/feeds/otherapp/notices/{nb}", headers=a).status_code == 403
    assert client.get(f"/feeds/fakegram/notices/{nb}", headers=a).status_code == 404
    assert client.get(f"/feeds/fakegram/notices/{nb}/evidence", headers=a).status_code == 404
    assert client.get(f"/feeds/fakegram/notices/{nb}/letter", headers=a).status_code == 404
    own = client.get(f"/feeds/fakegram/notices/{ids_a['A1']}/letter", headers=a)
    assert own.status_code == 200 and own.headers["content-type"].startswith("text/plain") and "Art. 16" in own.text
    for path in (f"/feeds/otherapp/notices/{nb}/feedback", f"/feeds/fakegram/notices/{nb}/feedback"):
        assert client.post(path, headers=a, json={"kind": "false_positive"}).status_code in (403, 404)
    assert client.put("/feeds/otherapp/webhook", headers=a, json={"url": "http://127.0.0.1:9/x"}).status_code == 403
    assert client.get("/feeds/otherapp/deliveries", headers=a).status_code == 403
    # platforms do not review, withdraw or read metrics; no key at all is 401
    assert (
        client.post(f"/feeds/fakegram/notices/{ids_a['A1']}/review", headers=a, json={"decision": "reject"}).status_code
        == 403
    )
    assert (
        client.post(f"/feeds/fakegram/notices/{ids_a['A1']}/withdraw", headers=a, json={"reason": "x"}).status_code
        == 403
    )
    assert client.get("/feeds/metrics", headers=a).status_code == 403
    assert client.get("/feeds/fakegram").status_code == 401
    assert client.get("/feeds/fakegram", headers={"X-API-Key": "dn_0000000000000000_" + "x" * 40}).status_code == 401
    # analysts review but do not pull feeds or send platform feedback
    assert client.get("/feeds/fakegram", headers=world["analyst"]).status_code == 403
    assert (
        client.post(
            f"/feeds/fakegram/notices/{ids_a['A1']}/feedback", headers=world["analyst"], json={"kind": "removed"}
        ).status_code
        == 403
    )
    # B's notice is untouched, and B sees it
    notice = FeedService(world["settings"]).get(nb)
    assert notice.status == "approved" and notice.feedback is None
    seen, _ = _walk(client, "otherapp", b)
    assert [n["id"] for n in seen] == [nb]
    assert [n["id"] for n in _walk(client, "fakegram", a)[0]] == [ids_a["A1"]]
    # an unknown platform is 404 for an admin, and a new notice is invisible to its platform
    assert client.get("/feeds/nosuch", headers=world["admin"]).status_code == 404
    [hidden] = (
        FeedService(world["settings"]).ingest([make_hit("http://fakegram.test/p/NEW", "xanax")], bundles=False).created
    )
    assert client.get(f"/feeds/fakegram/notices/{hidden}", headers=a).status_code == 404


def test_webhook_urls_to_private_addresses_are_refused_by_default(settings: DragnetSettings) -> None:
    for url in ("http://127.0.0.1:8080/hook", "http://10.0.0.5/hook", "ftp://example.org/x", "http://[::1]/x"):
        with pytest.raises(WebhookURLError):
            check_webhook_url(url, settings)


def test_metrics_page_escapes_everything() -> None:
    evil = "<script>alert(1)</script>"
    m = ImpactMetrics(
        generated_at=datetime.now(UTC),
        removed_per_month={evil: 1},
        time_to_removal_hours={"count": 0, "p50": None, "p90": None, "max": None},
        platforms={evil: PlatformFigures(notices=1)},
        trusted_flagger_report=TrustedFlaggerReport(
            year=2026,
            notices=1,
            by_provider={evil: 1},
            by_content_type={},
            by_category={},
            by_outcome={evil: 1},
            median_hours_to_action=None,
        ),
    )
    page = render_html(m, plot_url='x.svg" onerror="alert(1)')
    assert "<script>" not in page and "&lt;script&gt;" in page and 'onerror="' not in page


@pytest.mark.integration
def test_first_sync_by_date(world: dict) -> None:
    client = world["client"]
    service = FeedService(world["settings"])
    ids = service.ingest(
        [make_hit(f"http://fakegram.test/p/T{i}", f"xanax bars {i}") for i in range(4)], bundles=False
    ).created
    for nid in ids[:2]:
        service.review(nid, "approve", by="analyst:ann")
    time.sleep(0.05)
    middle = datetime.now(UTC)
    time.sleep(0.05)
    for nid in ids[2:]:
        service.review(nid, "approve", by="analyst:ann")
    r = client.get("/feeds/fakegram", params={"since": middle.isoformat()}, headers=world["admin"])
    assert [n["id"] for n in r.json()["notices"]] == ids[2:]
    future = (middle + timedelta(days=1)).isoformat()
    assert client.get("/feeds/fakegram", params={"since": future}, headers=world["admin"]).json()["notices"] == []
    for bad in ("-1", "yesterday", "2026-11-29T00:00:00"):
        assert client.get("/feeds/fakegram", params={"since": bad}, headers=world["admin"]).status_code == 422
