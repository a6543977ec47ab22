"""The analyst API through FastAPI's TestClient on the embedded store (one test on OpenSearch)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from io import BytesIO

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from api import audit
from api.auth import KeyStore
from dragnet.documents import Snapshot
from dragnet.outbound import verify_signature
from index.factory import open_store
from index.synthetic import make_listing
from tests.api.testkit import XSS_TITLE, ApiEnv, fill


def test_search_highlights_facets_paging_and_audit(api_env: ApiEnv) -> None:
    client = api_env.client(api_env.analyst)
    first = client.get("/api/search", params={"q": "oxycodone", "size": 5}).json()
    everything = api_env.store.count()
    assert 0 < first["total"] < everything
    assert all("oxycodone" in (h["listing"]["title"] + h["listing"]["text"]).lower() for h in first["hits"])
    xss = [
        h
        for h in first["hits"] + client.get("/api/search", params={"q": "oxycodone", "size": 100}).json()["hits"]
        if h["listing"]["vendor"]["name"] == "xss_vendor" and "script" in h["listing"]["title"]
    ][0]
    assert xss["listing"]["title"] == XSS_TITLE  # the document keeps the raw text...
    assert "<script>" not in xss["highlights"]["title"][0] and "&lt;script&gt;" in xss["highlights"]["title"][0]
    assert "<mark>oxycodone</mark>" in xss["highlights"]["title"][0]  # ...highlights are escaped, then marked
    assert {b["value"] for b in first["facets"]["market"]} <= {"alpha", "bravo", "charlie"}
    seen = [h["listing"]["id"] for h in first["hits"]]
    token = first["next_page"]
    while token:
        page = client.get("/api/search", params={"q": "oxycodone", "size": 5, "after": token}).json()
        seen += [h["listing"]["id"] for h in page["hits"]]
        token = page["next_page"]
    assert len(seen) == len(set(seen)) == first["total"]
    narrowed = client.get("/api/search", params=[("q", "oxycodone"), ("market", "alpha")]).json()
    assert narrowed["total"] == sum(b["count"] for b in first["facets"]["market"] if b["value"] == "alpha")
    entries = audit.search_audit(text="oxycodone", settings=api_env.settings)
    assert entries[0].who == "alice" and entries[0].action == "search" and "market=alpha" in entries[0].query
    assert entries[0].result_count == narrowed["total"]
    hist = client.get("/api/histogram", params={"interval": "month"}).json()
    assert sum(b["count"] for b in hist) == everything


@pytest.mark.parametrize(
    "path",
    [
        "/api/search?q=x",
        "/api/facets",
        "/api/export",
        "/api/vendors?name=vendor1",
        "/api/saved-searches",
        "/api/histogram",
    ],
)
def test_keys_and_roles(api_env: ApiEnv, path: str) -> None:
    assert api_env.client().get(path).status_code == 401
    assert api_env.client("dn_0123456789abcdef_" + "x" * 43).get(path).status_code == 401
    assert api_env.client("not-a-key").get(path).status_code == 401
    assert api_env.client(api_env.platform).get(path).status_code == 403  # a platform key cannot search
    assert api_env.client(api_env.operator).get(path).status_code == 403
    assert api_env.client(api_env.analyst).get(path).status_code == 200
    assert api_env.client(api_env.admin).get(path).status_code == 200


def test_audit_log_is_for_admins_and_searchable(api_env: ApiEnv) -> None:
    api_env.client(api_env.analyst).get("/api/search", params={"q": "ketamine"})
    api_env.client(api_env.analyst).get("/api/export", params={"q": "kush", "format": "csv"})
    assert api_env.client(api_env.analyst).get("/api/audit").status_code == 403
    assert api_env.client(api_env.platform).get("/api/audit").status_code == 403
    admin = api_env.client(api_env.admin)
    entries = admin.get("/api/audit", params={"text": "ketamine"}).json()
    assert [(e["who"], e["action"]) for e in entries] == [("alice", "search")]
    exports = admin.get("/api/audit", params={"action": "export"}).json()
    assert exports[0]["who"] == "alice" and "kush" in exports[0]["query"] and exports[0]["result_count"] >= 1


@pytest.mark.parametrize("text", ['{"query": {"match_all": {}}}', '{"script": {"source": "x"}}'])
def test_dsl_in_the_query_box_is_refused_with_a_message(api_env: ApiEnv, text: str) -> None:
    response = api_env.client(api_env.analyst).get("/api/search", params={"q": text})
    assert response.status_code == 400
    assert "plain text" in response.json()["detail"]


@pytest.mark.parametrize("text", ["*:*", "title:* OR _exists_:vendor", "oxy~99 AND (x OR", "/.*/"])
def test_lucene_abuse_is_text_or_refused(api_env: ApiEnv, text: str) -> None:
    response = api_env.client(api_env.analyst).get("/api/search", params={"q": text})
    if response.status_code == 400:
        assert "no words" in response.json()["detail"]
    else:
        assert response.status_code == 200 and response.json()["total"] < api_env.store.count()


def test_listing_with_evidence_links(api_env: ApiEnv) -> None:
    settings = api_env.settings
    settings.paths.warc_dir.mkdir(parents=True, exist_ok=True)
    warc_file = settings.paths.warc_dir / "alpha-test.warc.gz"
    page = b"<html><h1>Evidence page</h1></html>"
    with warc_file.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        other = writer.create_warc_record(
            "http://x.onion/other",
            "response",
            payload=BytesIO(b"other"),
            http_headers=StatusAndHeaders("200 OK", [], protocol="HTTP/1.1"),
        )
        writer.write_record(other)
        record = writer.create_warc_record(
            "http://x.onion/listing/500",
            "response",
            payload=BytesIO(page),
            http_headers=StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1"),
        )
        writer.write_record(record)
    record_id = record.rec_headers.get_header("WARC-Record-ID")
    png = b"\x89PNG\r\n\x1a\n" + b"synthetic screenshot bytes"
    sha = hashlib.sha256(png).hexdigest()
    (settings.paths.evidence_dir / "screenshots").mkdir(parents=True, exist_ok=True)
    (settings.paths.evidence_dir / "screenshots" / f"{sha}.png").write_bytes(png)
    listing = make_listing(
        500,
        text="edited text: a second version",
        days=2,
        snapshot=Snapshot(warc_file=str(warc_file), record_id=record_id),
        screenshot_sha256=sha,
    )
    api_env.store.upsert([make_listing(500, days=1), listing])
    client = api_env.client(api_env.analyst)
    detail = client.get(f"/api/listings/{listing.id}").json()
    assert [v["version"] for v in detail["history"]] == [1, 2]
    assert detail["evidence"]["warc_record_id"] == record_id
    assert detail["evidence"]["screenshot_sha256"] == sha
    raw = client.get(detail["evidence"]["warc_record"]).content
    records = [
        (r.rec_headers.get_header("WARC-Record-ID"), r.content_stream().read()) for r in ArchiveIterator(BytesIO(raw))
    ]
    assert records == [(record_id, page)]  # exactly the archived record, byte for byte
    assert client.get(detail["evidence"]["screenshot"]).content == png
    (settings.paths.evidence_dir / "screenshots" / f"{sha}.png").write_bytes(png + b"tampered")
    assert client.get(f"/api/listings/{listing.id}/screenshot").status_code == 404
    assert client.get("/api/listings/nope").status_code == 404
    # a snapshot path that points outside the WARC directory is never followed
    escape = make_listing(501, snapshot=Snapshot(warc_file="/etc/passwd", record_id="x"))
    api_env.store.upsert([escape])
    assert client.get(f"/api/listings/{escape.id}").json()["evidence"]["warc_record"] is None
    assert client.get(f"/api/listings/{escape.id}/warc").status_code == 404


def test_vendor_entity_api(api_env: ApiEnv) -> None:
    entity = (
        api_env.client(api_env.analyst).get("/api/vendors", params={"name": "xss_vendor", "market": "alpha"}).json()
    )
    assert {(a["name"], a["market"]) for a in entity["aliases"]} == {("xss_vendor", "alpha"), ("other_name", "bravo")}
    assert entity["identifiers"] == ["contact:telegram:tele_dealer"]
    assert len(entity["listings"]) == 3


def test_exports_csv_and_ndjson(api_env: ApiEnv) -> None:
    api_env.store.upsert([make_listing(300, title='=HYPERLINK("http://evil.example","click")', market="alpha")])
    client = api_env.client(api_env.analyst)
    expected = api_env.store.count(__import__("index.store", fromlist=["SearchQuery"]).SearchQuery(market=["alpha"]))
    nd = client.get("/api/export", params={"market": "alpha", "format": "ndjson"})
    assert nd.headers["content-type"].startswith("application/x-ndjson")
    docs = [json.loads(line) for line in nd.text.splitlines()]
    assert len(docs) == expected and all(d["market"] == "alpha" for d in docs)
    out = client.get("/api/export", params={"market": "alpha", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(out.text)))
    assert len(rows) == expected
    evil = [r for r in rows if "HYPERLINK" in r["title"]][0]
    assert evil["title"].startswith("'=")  # never a live spreadsheet formula


def test_saved_search_alerts_reach_the_webhook(api_env: ApiEnv, webhook) -> None:
    client = api_env.client(api_env.analyst)
    body = {"name": "alpha oxy", "params": {"q": ["oxycodone"], "market": ["alpha"]}, "webhook_url": webhook.url}
    refused = client.post("/api/saved-searches", json=body)
    assert refused.status_code == 400 and "non-public" in refused.text  # loopback is private by default
    api_env.settings.feeds.webhook_allow_private = True  # the receiver is on loopback: the operator allows it
    created = client.post("/api/saved-searches", json=body)
    assert created.status_code == 201
    saved_id = created.json()["id"]
    secret = created.json()["webhook_secret"]
    assert secret and client.get("/api/saved-searches").json()[0]["webhook_secret"] is None  # shown once
    assert client.post(f"/api/saved-searches/{saved_id}/check").json()["new"] == 0  # baseline: nothing new
    fresh = make_listing(600, title="new oxycodone 80mg batch", market="alpha")
    elsewhere = make_listing(601, title="oxycodone on another market", market="bravo")
    api_env.store.upsert([fresh, elsewhere])
    api_env.store.refresh()
    webhook.status = 500  # the receiver is down: the alert stays pending
    outcome = client.post(f"/api/saved-searches/{saved_id}/check").json()
    expected = {"saved_search_id": saved_id, "new": 1, "delivered": False, "error": "the webhook refused the alert"}
    assert outcome == expected
    webhook.status = 200
    outcome = client.post(f"/api/saved-searches/{saved_id}/check").json()
    assert outcome["new"] == 1 and outcome["delivered"]
    payload = webhook.wait_for(1)[0]
    headers, raw = webhook.raw[0]
    assert verify_signature(secret, headers["X-Dragnet-Timestamp"], raw, headers["X-Dragnet-Signature"], window_s=60)
    assert payload["saved_search"]["name"] == "alpha oxy"
    assert [item["id"] for item in payload["listings"]] == [fresh.id]
    assert payload["listings"][0]["link"].endswith(f"/listings/{fresh.id}")
    assert client.post(f"/api/saved-searches/{saved_id}/check").json()["new"] == 0
    other = api_env.client(api_env.admin).get("/api/saved-searches").json()
    assert [s["id"] for s in other] == [saved_id]
    assert (
        client.post(
            "/api/saved-searches", json={"name": "x", "params": {}, "webhook_url": "file:///etc/passwd"}
        ).status_code
        == 400
    )
    assert client.post("/api/saved-searches", json={"name": "x", "params": {"q": ['{"query": 1}']}}).status_code == 400


def test_ui_escapes_scraped_text_and_gates_pages(api_env: ApiEnv) -> None:
    anonymous = api_env.client()
    response = anonymous.get("/search?q=oxycodone", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
    client = api_env.client()
    login = client.post("/login", data={"key": api_env.analyst, "next": "/search?q=oxycodone"}, follow_redirects=False)
    assert login.status_code == 303 and "httponly" in login.headers["set-cookie"].lower()
    assert "samesite=strict" in login.headers["set-cookie"].lower()
    page = client.get("/search?q=oxycodone")
    assert page.status_code == 200 and "default-src 'none'" in page.headers["content-security-policy"]
    assert "<script>window.__pwned" not in page.text and 'onerror="window' not in page.text
    assert "&lt;script&gt;window.__pwned" in page.text
    xss = make_listing(200, title=XSS_TITLE, vendor="xss_vendor", market="alpha")
    detail = client.get(f"/listings/{xss.id}")
    assert "<script>window.__pwned" not in detail.text and "<iframe" not in detail.text
    assert "&lt;iframe" in detail.text
    bad = client.get("/search", params={"q": '{"query": {"match_all": {}}}'})
    assert bad.status_code == 200 and "plain text" in bad.text
    platform = api_env.client()
    platform.post("/login", data={"key": api_env.platform}, follow_redirects=False)
    assert platform.get("/search").status_code == 403
    raw_key_cookie = api_env.client()
    raw_key_cookie.cookies.set("dragnet_key", api_env.analyst)  # a key is no session
    assert raw_key_cookie.get("/search", follow_redirects=False).status_code == 303
    assert client.get("/audit").status_code == 403
    assert client.post("/login", data={"key": "wrong"}).status_code == 401
    assert (
        client.post("/login", data={"key": api_env.analyst, "next": "//evil.example/"}, follow_redirects=False).headers[
            "location"
        ]
        == "/search"
    )


@pytest.mark.integration
def test_search_api_on_opensearch(settings, opensearch_node) -> None:
    engine = settings.model_copy(
        update={
            "search": settings.search.model_copy(
                update={
                    "backend": "opensearch",
                    "url": opensearch_node.url,
                    "index_prefix": f"t{uuid.uuid4().hex[:10]}",
                }
            )
        }
    )
    store = open_store(engine)
    try:
        fill(store)
        env = ApiEnv(engine, store, KeyStore(engine).create_key("a", "analyst"), "", "", "")
        result = env.client(env.analyst).get("/api/search", params={"q": "oxycodone", "market": "alpha"}).json()
        assert result["total"] >= 2
        xss = [h for h in result["hits"] if h["listing"]["title"] == XSS_TITLE][0]
        assert (
            "&lt;script&gt;" in xss["highlights"]["title"][0]
            and "<mark>oxycodone</mark>" in xss["highlights"]["title"][0]
        )
        assert env.client(env.analyst).get("/api/search", params={"q": '{"query": 1}'}).status_code == 400
    finally:
        store.drop()
        store.close()
