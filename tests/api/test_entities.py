"""Entity filters, entity pivots and the vendor-identity graph through the JSON API (embedded
store; the store contract suite runs the same field syntax on the engines)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.api.entitykit import HANDLE, KEY_ONE, KEY_ONE_NORMAL, KEY_TWO, WALLET, add_lions
from tests.api.testkit import ApiEnv


@pytest.fixture
def lions(api_env: ApiEnv) -> list:
    return add_lions(api_env.store)


def _ids(response) -> set[str]:
    assert response.status_code == 200, response.text
    return {hit["listing"]["id"] for hit in response.json()["hits"]}


def test_entity_parameters_filter(api_env: ApiEnv, lions: list) -> None:
    client = api_env.client(api_env.analyst)
    one, two, _, post = (item.id for item in lions)
    assert _ids(client.get("/api/search", params={"pgp": KEY_ONE.lower()})) == {one, two}
    assert _ids(client.get("/api/search", params={"pgp": KEY_ONE_NORMAL[-16:]})) == {one, two}
    assert _ids(client.get("/api/search", params={"contact": "telegram:" + HANDLE.upper()})) == {one, post}
    assert _ids(client.get("/api/search", params={"contact": "lion_alpha", "market": "dread"})) == {post}
    assert _ids(client.get("/api/search", params={"wallet": WALLET.upper()})) == {one}
    assert _ids(client.get("/api/search", params={"crypto": WALLET})) == {one}  # the alias
    assert _ids(client.get("/api/search", params={"pgp": KEY_ONE, "contact": HANDLE})) == {one}  # all must hold
    assert _ids(client.get("/api/search", params={"q": f'pgp:"{KEY_TWO}"'})) == {lions[2].id}
    assert _ids(client.get("/api/search", params={"q": "vendor:lion market:bravo"})) == {two}
    bad = client.get("/api/search", params={"pgp": "12345"})
    assert bad.status_code == 400 and "40 hex digits" in bad.json()["detail"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/search", {"pgpp": KEY_ONE}),
        ("/api/search", {"q": "x", "seller": "lion"}),
        ("/api/facets", {"wallett": "x"}),
        ("/api/histogram", {"vendorr": "x"}),
        ("/api/export", {"contacts": "x"}),
    ],
)
def test_unknown_parameters_are_refused(api_env: ApiEnv, path: str, params: dict) -> None:
    response = api_env.client(api_env.analyst).get(path, params=params)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "unknown query parameter" in detail and repr(next(iter(params.keys() - {"q"}))) in detail
    assert "pgp" in detail and "contact" in detail  # names the known ones


def test_unknown_field_in_q_is_refused_and_colons_in_text_are_not(api_env: ApiEnv, lions: list) -> None:
    client = api_env.client(api_env.analyst)
    refused = client.get("/api/search", params={"q": "seller:lion"})
    assert refused.status_code == 400 and "known fields: vendor:, pgp:, contact:" in refused.json()["detail"]
    assert client.get("/api/search", params={"q": "pills 10:30"}).status_code == 200
    assert client.get("/api/search", params={"q": "http://alpha.onion/x"}).status_code == 200


def test_entity_pivot_lists_listings_posts_dates_markets_and_cooccurring(api_env: ApiEnv, lions: list) -> None:
    client = api_env.client(api_env.analyst)
    response = client.get(f"/api/entities/pgp/{quote(KEY_ONE.lower())}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["value"] == KEY_ONE_NORMAL and body["total"] == 2
    assert {item["id"] for item in body["listings"]} == {lions[0].id, lions[1].id} and body["posts"] == []
    assert body["first_seen"].startswith("2026-10-03") and body["last_seen"].startswith("2026-10-10")
    assert [m["market"] for m in body["markets"]] == ["alpha", "bravo"]
    assert {(v["name"], v["market"]) for v in body["vendors"]} == {("Lion", "alpha"), ("Lion", "bravo")}
    seen_with = {(r["kind"], r["value"]): r["listings"] for r in body["cooccurring"]}
    assert seen_with[("vendor", "lion")] == 2
    assert seen_with[("contact", "telegram:lion_alpha")] == 1
    assert seen_with[("wallet", WALLET)] == 1
    assert ("pgp", KEY_TWO.replace(" ", "")) not in seen_with  # the other Lion's key is not beside it

    handle = client.get("/api/entities/contact/" + quote("telegram:@LION_ALPHA")).json()
    assert [item["id"] for item in handle["listings"]] == [lions[0].id]
    assert [item["id"] for item in handle["posts"]] == [lions[3].id]
    assert {m["market"] for m in handle["markets"]} == {"alpha", "dread"}

    vendor = client.get("/api/entities/vendor/LION").json()
    assert vendor["total"] == 3
    assert {(r["kind"], r["value"]) for r in vendor["cooccurring"] if r["kind"] == "pgp"} == {
        ("pgp", KEY_ONE_NORMAL),
        ("pgp", KEY_TWO.replace(" ", "")),
    }
    assert client.get("/api/entities/wallet/bc1qnobodynobodynobody0").status_code == 404
    assert client.get("/api/entities/pgp/xyz").status_code == 400
    assert client.get("/api/entities/shoe/x").status_code == 422


def test_listing_detail_links_its_entities(api_env: ApiEnv, lions: list) -> None:
    client = api_env.client(api_env.analyst)
    detail = client.get(f"/api/listings/{lions[0].id}").json()
    links = {(e["kind"], e["label"]): e["link"] for e in detail["entities"]}
    assert links[("pgp", KEY_ONE_NORMAL)] == f"/api/entities/pgp/{KEY_ONE_NORMAL}"
    assert links[("contact", "telegram: " + HANDLE)] == "/api/entities/contact/telegram%3Alion_alpha"
    assert links[("vendor", "Lion")] == "/api/entities/vendor/lion"
    assert client.get(links[("contact", "telegram: " + HANDLE)]).json()["total"] == 2


def test_same_name_is_not_merged_and_analyst_merge_is_audited_and_reversible(api_env: ApiEnv, lions: list) -> None:
    client = api_env.client(api_env.analyst)
    graph = client.get("/api/vendors/identity", params={"name": "Lion"}).json()
    # the forum poster shares Lion@alpha's Telegram handle: the same seller; Lion@charlie shares nothing
    assert graph["identities"] == [["Lion@alpha", "Lion@bravo", "poster_x@dread"], ["Lion@charlie"]]
    reasons = {(e["a"], e["b"]): e["reason"] for e in graph["edges"]}
    assert reasons[("Lion@alpha", "Lion@bravo")] == "shares PGP 7A1B2C3D… on 2 listings"
    assert reasons[("Lion@alpha", "poster_x@dread")] == "shares telegram @lion_alpha on 2 listings"
    assert reasons[("Lion@alpha", "Lion@charlie")] == "same name only"
    assert not any(e["strong"] for e in graph["edges"] if "Lion@charlie" in (e["a"], e["b"]))

    merged = client.post("/api/vendors/merge", json={"a": "Lion@charlie", "b": "Lion@alpha", "note": "same stealth"})
    assert merged.status_code == 201, merged.text
    graph = client.get("/api/vendors/identity", params={"name": "Lion", "market": "alpha"}).json()
    assert graph["identities"] == [["Lion@alpha", "Lion@bravo", "Lion@charlie", "poster_x@dread"]]
    assert any(e["kind"] == "merge" and "same stealth" in e["reason"] for e in graph["edges"])
    assert (
        client.post("/api/vendors/merge", json={"a": "Lion@alpha", "b": "Lion@charlie", "note": "x"}).status_code == 400
    )
    assert client.post("/api/vendors/merge", json={"a": "Lion@alpha", "b": "Lion@bravo"}).status_code == 400  # no note

    undone = client.post("/api/vendors/unmerge", json={"a": "Lion@alpha", "b": "Lion@charlie", "note": "wrong"})
    assert undone.status_code == 200 and undone.json() == {"reversed": 1}
    graph = client.get("/api/vendors/identity", params={"name": "Lion"}).json()
    assert len(graph["identities"]) == 2
    assert client.post("/api/vendors/unmerge", json={"a": "Lion@alpha", "b": "Lion@charlie"}).status_code == 404
    history = client.get("/api/vendors/merges", params={"alias": "Lion@alpha"}).json()
    assert history[0]["removed_by"] == "alice" and history[0]["note"] == "same stealth"
    actions = [e["action"] for e in api_env.client(api_env.admin).get("/api/audit", params={"text": "Lion@"}).json()]
    assert "vendor.merge" in actions and "vendor.unmerge" in actions
