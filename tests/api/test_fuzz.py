"""Fuzzing as a standing guard: schema-driven requests to every route of the live app, as every
role and as nobody, must never answer 5xx; hostile bodies are refused before they are read."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings

from api.app import create_app
from tests.api.testkit import ApiEnv

CASES_PER_ROUTE = 6


def test_no_route_answers_5xx_to_generated_requests_for_any_role(api_env: ApiEnv) -> None:
    app = create_app(api_env.settings, store=api_env.store)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    roles: dict[str, dict[str, str]] = {
        "anonymous": {},
        "analyst": {"X-API-Key": api_env.analyst},
        "platform": {"X-API-Key": api_env.platform},
        "operator": {"X-API-Key": api_env.operator},
        "admin": {"X-API-Key": api_env.admin},
    }
    failures: list[tuple[Any, ...]] = []
    ran = 0
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30  # the whole API, not a corner of it

    def fuzz(operation: Any, role: str, headers: dict[str, str]) -> None:
        @given(case=operation.as_strategy())
        @hsettings(max_examples=CASES_PER_ROUTE, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def one(case: Any) -> None:
            nonlocal ran
            ran += 1
            response = case.call(headers=headers)
            if response.status_code >= 500:
                failures.append((role, case.method, case.formatted_path, case.query, response.status_code))

        one()

    for operation in operations:
        for role, headers in roles.items():
            fuzz(operation, role, headers)
    assert ran >= len(operations) * len(roles) * 2
    print(f"{ran} generated requests over {len(operations)} operations and {len(roles)} roles")
    assert not failures, failures[:10]


@pytest.fixture
def client(api_env: ApiEnv) -> Any:
    return api_env.client()


def test_an_anonymous_body_is_refused_unread_and_a_large_one_from_anybody(api_env: ApiEnv) -> None:
    client = api_env.client()
    huge = b"x" * (api_env.settings.api.max_body_bytes + 1)
    anonymous = client.post("/api/saved-searches", content=huge, headers={"content-type": "application/json"})
    assert anonymous.status_code == 401
    keyed = api_env.client(api_env.analyst)
    too_big = keyed.post("/api/saved-searches", content=huge, headers={"content-type": "application/json"})
    assert too_big.status_code == 413

    def chunks() -> Any:  # no Content-Length: the length is counted as the body streams in
        for _ in range(40):
            yield b"y" * 65536

    streamed = keyed.post("/api/saved-searches", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert keyed.post("/api/saved-searches", json={"name": "small", "params": {}}).status_code == 201


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "x", "params": {}, "surprise": 1}',
        b'{"name": NaN, "params": {}}',
        b'{"name": "x", "params": {}, "webhook_url": 1e999}',
    ],
)
def test_unknown_fields_and_non_numbers_in_bodies_are_4xx(api_env: ApiEnv, raw: bytes) -> None:
    response = api_env.client(api_env.analyst).post(
        "/api/saved-searches", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text


def test_the_login_form_needs_no_key_but_is_capped(live_server: str, api_env: ApiEnv) -> None:
    with httpx.Client(base_url=live_server) as http:
        bad = http.post("/login", data={"key": "nope"})
        assert bad.status_code in (401, 403, 200, 303) and bad.status_code < 500
        huge = http.post("/login", content=b"k=" + b"a" * (api_env.settings.api.max_body_bytes + 10))
        assert huge.status_code == 413
