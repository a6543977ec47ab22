"""Platform feedback with a DSA Art. 17 statement of reasons, and the ``need_more_info`` exchange,
through the real API, the real notice store and the real feed formats."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import jsonschema
import pytest
import stix2
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from pydantic import SecretStr
from stix2validator import ValidationOptions, validate_string
from typer.testing import CliRunner

from api.app import create_app
from api.audit import search_audit
from api.auth import KeyStore
from dragnet.cli import app as cli_app
from dragnet.documents import utcnow
from dragnet.settings import DragnetSettings, use_settings
from takedown import formats
from takedown.delivery import deliver_pending
from takedown.service import FeedService
from tests.takedown.helpers import FakePlatform, make_hit

ADMIN = "bootstrap-admin-key-for-tests-only-0123456789"


def statement(**changes: Any) -> dict[str, Any]:
    """A complete statement of reasons as a platform sends it."""
    base: dict[str, Any] = {
        "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
        "territorial_scope": ["DE", "fr", "AT"],
        "automated_detection": False,
        "automated_decision": "AUTOMATED_DECISION_PARTIALLY",
        "application_date": (utcnow() - timedelta(days=1)).date().isoformat(),
        "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
        "illegal_content_legal_ground": "BtMG § 29(1) (Germany): trading in narcotics",
        "decision_facts": "The post offers alprazolam bars for sale with a price and a <b>contact</b>.",
        "redress": ["INTERNAL_COMPLAINT_HANDLING", "JUDICIAL_REDRESS"],
        "redress_details": "Appeal within 6 months at https://fakegram.test/appeals",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


@pytest.fixture
def api(feed_settings: DragnetSettings, fake_platform: FakePlatform) -> Iterator[dict[str, Any]]:
    settings = feed_settings.model_copy(
        update={"api": feed_settings.api.model_copy(update={"bootstrap_admin_key": SecretStr(ADMIN)})}
    )
    use_settings(settings)
    keys = KeyStore(settings)
    client = TestClient(create_app(settings))
    env = {
        "settings": settings,
        "client": client,
        "fake": fake_platform,
        "platform": {"X-API-Key": keys.create_key("Fakegram T&S", "platform:fakegram")},
        "analyst": {"X-API-Key": keys.create_key("Ann Analyst", "analyst")},
        "admin": {"X-API-Key": ADMIN},
    }
    try:
        yield env
    finally:
        client.close()


def _released(api: dict[str, Any], post: str, text: str = "xanax bars 2mg, 50 for $120") -> str:
    service = FeedService(api["settings"])
    [nid] = [
        n
        for n in service.ingest([make_hit(f"https://fakegram.test/p/{post}", text)], bundles=False).created
        if n.startswith("dn-") and service.get(n).platform == "fakegram"
    ]
    r = api["client"].post(
        f"/feeds/fakegram/notices/{nid}/review", headers=api["analyst"], json={"decision": "approve"}
    )
    assert r.status_code == 200, r.text
    return nid


def _feedback(api: dict[str, Any], nid: str, body: dict[str, Any]) -> Any:
    return api["client"].post(f"/feeds/fakegram/notices/{nid}/feedback", headers=api["platform"], json=body)


def test_statement_of_reasons_round_trips_through_feedback_history_and_every_feed_format(
    api: dict[str, Any],
) -> None:
    client = api["client"]
    nid = _released(api, "A1")
    sent = statement()
    r = _feedback(api, nid, {"kind": "removed", "note": "gone", "statement_of_reasons": sent})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "removed"

    notice = client.get(f"/feeds/fakegram/notices/{nid}", headers=api["platform"]).json()
    got = notice["statement_of_reasons"]
    # every field as sent, normalised: country codes upper-case and sorted, enumerations sorted
    assert got == {
        **sent,
        "territorial_scope": ["AT", "DE", "FR"],
        "redress": ["INTERNAL_COMPLAINT_HANDLING", "JUDICIAL_REDRESS"],
        "decision_visibility_other": None,
        "decision_account": None,
        "incompatible_content_ground": None,
    }
    # ... and in the history, on the step the platform's answer made
    last = notice["history"][-1]
    assert (last["status"], last["by"], last["note"]) == ("removed", "platform:fakegram:Fakegram T&S", "gone")
    assert last["statement_of_reasons"] == got
    assert all(h["statement_of_reasons"] is None for h in notice["history"][:-1])

    # the served notice validates, every field kept, against the schema the feed publishes (v2)
    schema = client.get("/feeds/schema").json()
    assert schema["x-schema-version"] == 2
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    page = client.get("/feeds/fakegram", headers=api["admin"]).json()["notices"]
    nd = [
        json.loads(x)
        for x in client.get("/feeds/fakegram", params={"format": "ndjson"}, headers=api["admin"]).text.splitlines()
    ]
    listed = client.get("/feeds/fakegram/notices", headers=api["analyst"]).json()["notices"]
    for served in [notice, *page, *nd, *listed]:
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(served)]
        assert errors == [], errors
    assert [n["statement_of_reasons"] for n in page if n["id"] == nid] == [got]
    sor_schema = schema["$defs"]["StatementOfReasons"]["properties"]
    assert "DECISION_VISIBILITY_CONTENT_REMOVED" in json.dumps(sor_schema["decision_visibility"])
    assert sor_schema["automated_decision"]["enum"] == [
        "AUTOMATED_DECISION_FULLY",
        "AUTOMATED_DECISION_PARTIALLY",
        "AUTOMATED_DECISION_NOT_AUTOMATED",
    ]

    # CSV: one column per field
    rows = list(
        csv.DictReader(io.StringIO(client.get("/feeds/fakegram", params={"format": "csv"}, headers=api["admin"]).text))
    )
    [row] = [x for x in rows if x["id"] == nid]
    assert row["decision_visibility"] == "DECISION_VISIBILITY_CONTENT_REMOVED"
    assert row["territorial_scope"] == "AT;DE;FR"
    assert (row["automated_detection"], row["automated_decision"]) == ("False", "AUTOMATED_DECISION_PARTIALLY")
    assert row["application_date"] == sent["application_date"]
    assert row["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert row["decision_legal_or_contractual_ground"] == sent["illegal_content_legal_ground"]
    assert row["decision_facts"] == sent["decision_facts"]
    assert row["redress"] == "INTERNAL_COMPLAINT_HANDLING;JUDICIAL_REDRESS"

    # STIX: in the property extension, and the bundle still passes the strict validator
    stix = client.get("/feeds/fakegram", params={"format": "stix"}, headers=api["admin"]).text
    bundle = stix2.parse(stix)
    [ind] = [o for o in bundle.objects if o.type == "indicator"]
    assert ind.extensions[formats.EXTENSION_ID]["statement_of_reasons"]["territorial_scope"] == ["AT", "DE", "FR"]
    result = validate_string(stix, ValidationOptions(version="2.1", strict=True))
    assert result.is_valid and not result.warnings, [str(m) for m in (*result.errors, *result.warnings)]

    # the contractual ground works the same way
    other = _released(api, "A2")
    r = _feedback(
        api,
        other,
        {
            "kind": "true_positive",
            "statement_of_reasons": statement(
                decision_ground="DECISION_GROUND_INCOMPATIBLE_CONTENT",
                illegal_content_legal_ground=None,
                incompatible_content_ground="Community Guidelines 4.2: regulated goods",
                decision_visibility=["DECISION_VISIBILITY_OTHER", "DECISION_VISIBILITY_CONTENT_DEMOTED"],
                decision_visibility_other="hidden from search",
                automated_detection=True,
                automated_decision="AUTOMATED_DECISION_FULLY",
            ),
        },
    )
    assert r.status_code == 200, r.text
    sor = client.get(f"/feeds/fakegram/notices/{other}", headers=api["analyst"]).json()["statement_of_reasons"]
    assert sor["incompatible_content_ground"] == "Community Guidelines 4.2: regulated goods"
    assert sor["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_DEMOTED", "DECISION_VISIBILITY_OTHER"]
    assert (sor["automated_detection"], sor["automated_decision"]) == (True, "AUTOMATED_DECISION_FULLY")
    figures = client.get("/feeds/metrics", headers=api["analyst"]).json()["platforms"]["fakegram"]
    assert figures["with_statement_of_reasons"] == 2


TOMORROW_PLUS = (utcnow() + timedelta(days=3)).date().isoformat()


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"decision_visibility": []}, "decision_visibility"),
        ({"decision_visibility": ["DECISION_VISIBILITY_HIDDEN"]}, "decision_visibility"),
        ({"decision_visibility": ["DECISION_VISIBILITY_OTHER"]}, "decision_visibility_other"),
        ({"decision_visibility_other": "x" * 501}, "decision_visibility_other"),
        ({"decision_account": "DECISION_ACCOUNT_BANNED"}, "decision_account"),
        ({"territorial_scope": []}, "territorial_scope"),
        ({"territorial_scope": ["DE", "XX"]}, "ISO 3166-1"),
        ({"territorial_scope": ["EU"]}, "ISO 3166-1"),
        ({"territorial_scope": ["DEU"]}, "ISO 3166-1"),
        ({"territorial_scope": "DE"}, "territorial_scope"),
        ({"automated_detection": "sometimes"}, "automated_detection"),
        ({"automated_decision": "AUTOMATED_DECISION_MOSTLY"}, "automated_decision"),
        ({"automated_decision": None}, "automated_decision"),
        ({"application_date": TOMORROW_PLUS}, "future"),
        ({"application_date": "07/12/2026"}, "application_date"),
        ({"decision_ground": "DECISION_GROUND_BECAUSE"}, "decision_ground"),
        ({"illegal_content_legal_ground": None}, "illegal_content_legal_ground"),
        ({"illegal_content_legal_ground": "x" * 501}, "illegal_content_legal_ground"),
        (
            {"decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT", "illegal_content_legal_ground": None},
            "incompatible_content_ground",
        ),
        ({"incompatible_content_ground": "x" * 501}, "incompatible_content_ground"),
        ({"decision_facts": ""}, "decision_facts"),
        ({"decision_facts": "x" * 5001}, "decision_facts"),
        ({"redress": []}, "redress"),
        ({"redress": ["PRAYER"]}, "redress"),
        ({"redress_details": "x" * 1001}, "redress_details"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_each_statement_field_is_validated(api: dict[str, Any], changes: dict[str, Any], why: str) -> None:
    nid = _released(api, "V1")
    body = statement(**changes)
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
    r = _feedback(api, nid, {"kind": "removed", "statement_of_reasons": body})
    assert r.status_code == 422, r.text
    assert why in r.text
    # nothing was recorded
    notice = FeedService(api["settings"]).get(nid)
    assert notice.status == "approved" and notice.statement_of_reasons is None


def test_need_more_info_round_trip(api: dict[str, Any]) -> None:
    client, fake, settings = api["client"], api["fake"], api["settings"]
    nid = _released(api, "Q1")
    r = client.put(
        "/feeds/fakegram/webhook", headers=api["platform"], json={"url": f"http://127.0.0.1:{fake.port}/hook"}
    )
    fake.secret = r.json()["secret"]
    assert deliver_pending("fakegram", settings) == 1
    cursor = client.get("/feeds/fakegram", headers=api["platform"]).json()["next_cursor"]

    def counted(status: str) -> float:
        return (
            REGISTRY.get_sample_value("dragnet_feed_transitions_total", {"platform": "fakegram", "status": status})
            or 0.0
        )

    asked_before, sent_before = counted("need_more_info"), counted("sent")
    question = "Which <b>account</b> posted it first? We see two copies."
    r = _feedback(api, nid, {"kind": "need_more_info", "question": question})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["feedback"]) == ("need_more_info", "need_more_info")
    notice = client.get(f"/feeds/fakegram/notices/{nid}", headers=api["analyst"]).json()
    assert notice["info_requests"][0]["question"] == question and notice["info_requests"][0]["answer"] is None
    assert notice["history"][-1]["status"] == "need_more_info" and notice["history"][-1]["note"] == question
    # the platform's own question is not echoed back to it
    assert client.get("/feeds/fakegram", params={"since": cursor}, headers=api["platform"]).json()["notices"] == []
    figures = client.get("/feeds/metrics", headers=api["analyst"]).json()["platforms"]["fakegram"]
    assert (figures["more_info_requested"], figures["more_info_open"]) == (1, 1)

    # a second question before the answer, and an answer to nothing, are refused
    again = _feedback(api, nid, {"kind": "need_more_info", "question": "and?"})
    assert again.status_code == 409 and "already waits" in again.json()["detail"]

    answer = "The account @plug_uk posted it first (2026-11-02); the other is a repost."
    r = client.post(f"/feeds/fakegram/notices/{nid}/answer", headers=api["analyst"], json={"answer": answer})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "sent"
    assert (counted("need_more_info"), counted("sent")) == (asked_before + 1, sent_before + 1)
    # back to the platform: in its pull feed from its cursor, and pushed to its webhook, with the answer
    [served] = client.get("/feeds/fakegram", params={"since": cursor}, headers=api["platform"]).json()["notices"]
    assert served["id"] == nid and served["status"] == "sent"
    assert served["info_requests"][-1]["answer"] == answer
    assert served["info_requests"][-1]["answered_by"] == "analyst:Ann Analyst"
    assert deliver_pending("fakegram", settings) == 1
    assert fake.events[-1]["notice"]["info_requests"][-1]["answer"] == answer
    assert [h["status"] for h in served["history"]][-3:] == ["sent", "need_more_info", "sent"]
    figures = client.get("/feeds/metrics", headers=api["analyst"]).json()["platforms"]["fakegram"]
    assert (figures["more_info_requested"], figures["more_info_open"]) == (1, 0)
    assert {e.action for e in search_audit(text=nid, settings=settings)} >= {"feeds.feedback", "feeds.answer"}

    # the platform then decides, with its statement of reasons
    r = _feedback(api, nid, {"kind": "removed", "statement_of_reasons": statement()})
    assert r.status_code == 200 and r.json()["status"] == "removed"


def test_illegal_need_more_info_transitions_are_refused(api: dict[str, Any]) -> None:
    client = api["client"]
    nid = _released(api, "T1")
    # the body must match the kind: 422 with a clear message
    r = _feedback(api, nid, {"kind": "need_more_info"})
    assert r.status_code == 422 and "question is required with kind need_more_info" in r.text
    r = _feedback(api, nid, {"kind": "removed", "question": "why?"})
    assert r.status_code == 422 and "question" in r.text
    r = _feedback(api, nid, {"kind": "need_more_info", "question": "q", "statement_of_reasons": statement()})
    assert r.status_code == 422 and "statement_of_reasons" in r.text
    r = _feedback(api, nid, {"kind": "need_more_info", "question": "x" * 4001})
    assert r.status_code == 422
    # no question waits: an analyst's answer is refused
    r = client.post(f"/feeds/fakegram/notices/{nid}/answer", headers=api["analyst"], json={"answer": "hello"})
    assert r.status_code == 409 and "no question of the platform waits" in r.json()["detail"]
    # a notice still in review cannot be asked about, and a closed one cannot be reopened by a question
    service = FeedService(api["settings"])
    [fresh] = [n for n in service.ingest([make_hit("https://fakegram.test/p/T2", "oxy 80s")], bundles=False).created]
    r = _feedback(api, fresh, {"kind": "need_more_info", "question": "what is it?"})
    assert r.status_code == 404  # never released: the platform cannot know it
    assert _feedback(api, nid, {"kind": "removed"}).status_code == 200
    r = _feedback(api, nid, {"kind": "need_more_info", "question": "one more thing"})
    assert r.status_code == 409 and "is already removed" in r.json()["detail"]
    # only analysts answer; a platform key cannot
    r = client.post(f"/feeds/fakegram/notices/{nid}/answer", headers=api["platform"], json={"answer": "x"})
    assert r.status_code == 403
    # the CLI answers too, and refuses the same way
    runner = CliRunner()
    out = runner.invoke(cli_app, ["feeds", "answer", nid, "late answer", "--by", "ann"])
    assert out.exit_code == 1 and "no question of the platform waits" in out.output
    other = _released(api, "T3")
    assert _feedback(api, other, {"kind": "need_more_info", "question": "who\nis it?"}).status_code == 200
    waiting = client.get("/feeds/fakegram/notices", params={"status": "need_more_info"}, headers=api["analyst"])
    assert [n["id"] for n in waiting.json()["notices"]] == [other]
    bogus = client.get("/feeds/fakegram/notices", params={"status": "need_info"}, headers=api["analyst"])
    assert bogus.status_code == 422
    listed = runner.invoke(cli_app, ["feeds", "questions", "fakegram"])
    assert listed.exit_code == 0 and listed.output.startswith(f"{other}\tfakegram\t")
    assert listed.output.rstrip().endswith("who is it?")
    out = runner.invoke(cli_app, ["feeds", "answer", other, "the seller @x", "--by", "ann"])
    assert out.exit_code == 0, out.output
    assert out.output.strip() == f"{other} sent"
    answered = service.get(other)
    assert (
        answered.info_requests[-1].answer == "the seller @x" and answered.info_requests[-1].answered_by == "analyst:ann"
    )
