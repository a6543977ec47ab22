"""Cases, notices asked for from listings and bulk review over the API (TestClient, embedded store,
real notice store and evidence bundles): what is stored, exported and audited, and who may do it."""

from __future__ import annotations

import csv
import hashlib
import io
from io import BytesIO

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from api import audit
from dragnet.documents import Contact, CryptoAddress, Snapshot
from index.synthetic import make_listing
from tests.api.testkit import ApiEnv

PGP = "0123456789ABCDEF0123456789ABCDEF01234567"
WALLET = "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"


def _evidence_listing(api_env: ApiEnv) -> tuple[str, bytes]:
    """A listing whose page is archived in a WARC file, with contacts, a wallet, a PGP key and a
    text that would be a formula in a spreadsheet; returns its id and its WARC record's bytes."""
    settings = api_env.settings
    settings.paths.warc_dir.mkdir(parents=True, exist_ok=True)
    warc_file = settings.paths.warc_dir / "case-test.warc.gz"
    with warc_file.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        record = writer.create_warc_record(
            "http://alpha.onion/listing/600",
            "response",
            payload=BytesIO(b"<html><h1>archived listing</h1></html>"),
            http_headers=StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1"),
        )
        writer.write_record(record)
    listing = make_listing(
        600,
        title='=HYPERLINK("http://evil.example","click")',
        text="-2+3 cmd; =1+1 oxycodone 30mg, wickr me",
        vendor="case_vendor",
        pgp=PGP,
        contacts=[Contact(kind="telegram", handle="@case_plug"), Contact(kind="wickr", handle="case_wickr")],
        crypto=[CryptoAddress(chain="btc", address=WALLET)],
        snapshot=Snapshot(warc_file=str(warc_file), record_id=record.rec_headers.get_header("WARC-Record-ID")),
    )
    api_env.store.upsert([listing])
    api_env.store.refresh()
    raw = api_env.client(api_env.analyst).get(f"/api/listings/{listing.id}/warc").content
    assert raw  # the record is served
    return listing.id, raw


def test_case_listings_notes_tags_export_and_trail(api_env: ApiEnv) -> None:
    client = api_env.client(api_env.analyst)
    listing_id, warc_bytes = _evidence_listing(api_env)
    other = make_listing(3).id
    created = client.post("/api/cases", json={"name": "Operation Case", "description": "alpha market plugs"})
    assert created.status_code == 201
    case = created.json()
    assert case["status"] == "open" and case["created_by"] == "alice (analyst)" and case["id"].startswith("case-")

    added = client.post(f"/api/cases/{case['id']}/listings", json={"listing_ids": [listing_id, other, "nope"]})
    assert added.status_code == 200
    assert added.json() == {"added": [listing_id, other], "already_in_case": [], "unknown": ["nope"]}
    again = client.post(f"/api/cases/{case['id']}/listings", json={"listing_ids": [other]}).json()
    assert again["added"] == [] and again["already_in_case"] == [other]
    note = client.post(f"/api/cases/{case['id']}/notes", json={"text": "same Telegram handle as last month"})
    assert note.status_code == 201 and note.json()["author"] == "alice (analyst)"
    tags = client.put(f"/api/cases/{case['id']}/tags", json={"tags": ["opioids", "alpha", "opioids", " "]})
    assert tags.json() == {"tags": ["alpha", "opioids"]}
    assert client.put(f"/api/cases/{case['id']}/tags", json={"tags": ["<script>"]}).status_code == 400
    assert client.delete(f"/api/cases/{case['id']}/listings/{other}").status_code == 204
    assert client.delete(f"/api/cases/{case['id']}/listings/{other}").status_code == 404

    got = client.get(f"/api/cases/{case['id']}").json()
    assert [entry["listing_id"] for entry in got["listings"]] == [listing_id]
    assert got["tags"] == ["alpha", "opioids"] and got["listing_count"] == 1
    assert [e["action"] for e in got["events"]] == [
        "create",
        "add_listing",
        "add_listing",
        "add_note",
        "set_tags",
        "remove_listing",
    ]
    assert "unknown query parameter" in client.get("/api/cases", params={"state": "open"}).json()["detail"]
    assert client.get(f"/api/cases/{case['id']}/export", params={"fmt": "csv"}).status_code == 400
    listed = client.get("/api/cases", params={"status": "open"}).json()
    assert [c["id"] for c in listed] == [case["id"]]

    # JSON export: text, entities, evidence hashes tied to the archived record, and the trail
    document = client.get(f"/api/cases/{case['id']}/export", params={"format": "json"}).json()
    [item] = document["listings"]
    listing = api_env.store.get(listing_id)
    assert listing is not None
    assert item["text"] == listing.text and item["title"] == listing.title and item["market"] == listing.market
    assert item["vendor"] == "case_vendor" and item["added_by"] == "alice (analyst)"
    assert item["entities"] == {
        "contacts": ["telegram:@case_plug", "wickr:case_wickr"],
        "wallets": [f"btc:{WALLET}"],
        "pgp_fingerprints": [PGP],
    }
    assert item["evidence"]["content_sha256"] == listing.content_sha256
    assert item["evidence"]["warc_record_sha256"] == hashlib.sha256(warc_bytes).hexdigest()
    assert item["evidence"]["warc_link"] == f"/api/listings/{listing_id}/warc"
    trail = document["audit_trail"]
    assert {(e["action"], e["listing_id"], e["who"]) for e in trail} >= {
        ("add_listing", listing_id, "alice (analyst)"),
        ("add_listing", other, "alice (analyst)"),
        ("remove_listing", other, "alice (analyst)"),
    }
    assert document["notes"][0]["text"] == "same Telegram handle as last month"

    # CSV export: the same content, every cell formula-safe
    response = client.get(f"/api/cases/{case['id']}/export", params={"format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    [row] = [r for r in rows if r["record"] == "listing"]
    assert row["title"].startswith("'=HYPERLINK")  # neutralised, not live
    assert row["text"].startswith("'-2+3") and "; '=1+1" in row["text"]
    assert row["contacts"] == "telegram:@case_plug;wickr:case_wickr"
    assert row["wallets"] == f"btc:{WALLET}" and row["pgp_fingerprints"] == PGP
    assert row["warc_record_sha256"] == hashlib.sha256(warc_bytes).hexdigest()
    assert row["content_sha256"] == listing.content_sha256
    events = [r for r in rows if r["record"] == "event"]
    assert ("add_listing", listing_id, "alice (analyst)") in {(e["action"], e["listing_id"], e["who"]) for e in events}
    assert [r["detail"] for r in rows if r["record"] == "note"] == ["same Telegram handle as last month"]
    for line in response.text.splitlines()[1:]:
        for cell in next(csv.reader([line])):
            assert not cell.startswith(("=", "+", "-", "@")), cell

    # closed: kept, read-only
    assert client.post(f"/api/cases/{case['id']}/close").json()["status"] == "closed"
    assert client.post(f"/api/cases/{case['id']}/listings", json={"listing_ids": [other]}).status_code == 409
    assert client.post(f"/api/cases/{case['id']}/notes", json={"text": "late"}).status_code == 409
    assert client.get("/api/cases/case-0000000000000000").status_code == 404

    # every change reached the audit log, with who and what
    actions = {e.action: e for e in audit.search_audit(who="alice", limit=500, settings=api_env.settings)}
    for action in ("case.create", "case.add_listings", "case.note", "case.tags", "case.remove_listing", "case.close"):
        assert action in actions, action
        assert f"case={case['id']}" in actions[action].query
    assert listing_id in actions["case.add_listings"].query
    assert "case.export" in actions


def test_search_csv_export_carries_text_contacts_wallets_and_pgp_keys(api_env: ApiEnv) -> None:
    listing_id, _ = _evidence_listing(api_env)
    client = api_env.client(api_env.analyst)
    response = client.get("/api/export", params={"vendor": "case_vendor", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.text)))
    [row] = [r for r in rows if r["id"] == listing_id]
    assert row["text"] == "'-2+3 cmd; '=1+1 oxycodone 30mg, wickr me"
    assert row["contacts"] == "telegram:@case_plug;wickr:case_wickr"
    assert row["wallets"] == f"btc:{WALLET}"
    assert row["pgp_keys"] == PGP


def _reportable(api_env: ApiEnv, numbers: range) -> list[str]:
    """Drug-sale listings on a market that name a Telegram account (reportable to Telegram)."""
    listings = [
        make_listing(n, drug=True, score=0.5 + (n % 10) / 20, contacts=[Contact(kind="telegram", handle=f"@plug_{n}")])
        for n in numbers
    ]
    api_env.store.upsert(listings)
    api_env.store.refresh()
    return [listing.id for listing in listings]


def test_notices_from_listings_and_bulk_review_with_reasons(api_env: ApiEnv) -> None:
    client = api_env.client(api_env.analyst)
    ids = _reportable(api_env, range(810, 814))
    not_a_sale = make_listing(815, drug=False, contacts=[Contact(kind="telegram", handle="@nosale")])
    api_env.store.upsert([not_a_sale])
    api_env.store.refresh()
    made = client.post("/api/notices", json={"listing_ids": ids + [not_a_sale.id, "missing"]})
    assert made.status_code == 201
    outcome = {o["listing_id"]: o for o in made.json()}
    assert all(len(outcome[i]["created"]) == 1 and outcome[i]["refused"] is None for i in ids)
    assert outcome[not_a_sale.id]["refused"] == "not classified as a drug sale"
    assert outcome["missing"]["refused"] == "no such listing"
    again = client.post("/api/notices", json={"listing_ids": ids[:1]}).json()
    assert again[0]["created"] == [] and again[0]["existing"] == outcome[ids[0]]["created"]

    queue = client.get("/api/review/queue").json()["notices"]
    notice_ids = [n["id"] for n in queue]
    assert sorted(notice_ids) == sorted(outcome[i]["created"][0] for i in ids)
    assert all(n["status"] == "new" and n["platform"] == "telegram" for n in queue)
    margins = [abs(n["verdict"]["score"] - n["verdict"]["threshold"]) for n in queue]
    assert margins == sorted(margins)  # least certain first
    assert client.get("/api/review/queue", params={"bogus": "1"}).status_code == 400

    # a rejection needs a reason; approvals and rejections go through in bulk
    no_reason = client.post("/api/review/decisions", json={"notice_ids": notice_ids[:2], "decision": "reject"})
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["detail"]
    approved = client.post(
        "/api/review/decisions",
        json={"notice_ids": notice_ids[:2], "decision": "approve", "reason": "clear sale, named handle"},
    ).json()
    assert [(o["notice_id"], o["ok"], o["status"]) for o in approved] == [(i, True, "approved") for i in notice_ids[:2]]
    rejected = client.post(
        "/api/review/decisions",
        json={"notice_ids": notice_ids[2:] + [notice_ids[0], "dn-unknown"], "decision": "reject", "reason": "parody"},
    ).json()
    assert [o["ok"] for o in rejected] == [True, True, True, False]  # an approved notice may still be rejected
    assert rejected[-1]["error"] == "no such notice"
    assert client.get("/api/review/queue").json()["notices"] == []
    notice = client.get(f"/feeds/telegram/notices/{notice_ids[1]}").json()
    assert notice["status"] == "approved"
    assert (
        notice["history"][-1]["by"] == "analyst:alice" and notice["history"][-1]["note"] == "clear sale, named handle"
    )

    entries = audit.search_audit(who="alice", limit=500, settings=api_env.settings)
    approvals = [e for e in entries if e.action == "review.approve"]
    assert {e.query for e in approvals} == {f"notice={i} reason=clear sale, named handle" for i in notice_ids[:2]}
    assert sum(1 for e in entries if e.action == "review.reject" and "reason=parody" in e.query) == 4
    assert any(e.action == "notices.create" and ids[0] in e.query for e in entries)


def test_operator_without_analyst_rights_is_refused(api_env: ApiEnv) -> None:
    ids = _reportable(api_env, range(820, 821))
    case = api_env.client(api_env.analyst).post("/api/cases", json={"name": "c"}).json()
    for key in (api_env.operator, api_env.platform):
        client = api_env.client(key)
        assert client.post("/api/cases", json={"name": "x"}).status_code == 403
        assert client.get("/api/cases").status_code == 403
        assert client.get(f"/api/cases/{case['id']}/export").status_code == 403
        assert client.post("/api/notices", json={"listing_ids": ids}).status_code == 403
        assert client.get("/api/review/queue").status_code == 403
        decision = {"notice_ids": ["dn-x"], "decision": "approve"}
        assert client.post("/api/review/decisions", json=decision).status_code == 403
    assert api_env.client().get("/api/cases").status_code == 401
    # the pages too: an operator signed in gets a 403 page, not the queue
    operator = api_env.client()
    operator.post("/login", data={"key": api_env.operator}, follow_redirects=False)
    assert operator.get("/review").status_code == 403
    assert operator.get("/cases").status_code == 403
    assert operator.post("/review/decide", data={"notice_id": "x", "decision": "approve"}).status_code == 403
