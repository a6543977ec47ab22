"""/openapi.json as served: a valid OpenAPI document (openapi-spec-validator), every route that
wants a key says so (security, 401, 403), and non-JSON answers declare their media types."""

from __future__ import annotations

import re
from typing import Any

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from api.app import ROUTERS, create_app
from tests.api.testkit import ApiEnv

KEYED = [{"ApiKeyAuth": []}, {"BearerAuth": []}]


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def _requires_key(route: APIRoute) -> bool:
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if dep.call is not None and getattr(dep.call, "__name__", "").startswith("require_"):
            return True
        stack.extend(dep.dependencies)
    return False


def test_openapi_document_is_valid_and_declares_security(api_env: ApiEnv) -> None:
    app = create_app(api_env.settings, store=api_env.store)
    client = TestClient(app)
    spec = client.get("/openapi.json").json()
    validate(spec)  # raises OpenAPIValidationError on any violation of the OpenAPI 3.1 schema
    operations = _operations(spec)
    assert len(operations) >= 35

    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": schemes["ApiKeyAuth"]["description"],
    }
    assert schemes["BearerAuth"]["type"] == "http" and schemes["BearerAuth"]["scheme"] == "bearer"

    # from the code: every route behind require_roles declares both schemes, 401 and 403
    keyed = 0
    routes = [route for router in ROUTERS for route in router.routes]
    for route in routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods:
            op = spec["paths"][route.path_format][method.lower()]
            if _requires_key(route):
                keyed += 1
                assert op.get("security") == KEYED, (method, route.path)
                assert {"401", "403"} <= set(op["responses"]), (method, route.path)
            else:
                assert "security" not in op, (method, route.path)
    assert keyed >= 35

    # from the outside: whatever answers 401 to a request without a key declares security
    for path, method, op in operations:
        url = re.sub(r"\{[^}]+\}", "x", path)
        answer = client.request(method.upper(), url)
        if answer.status_code == 401:
            assert op.get("security") == KEYED and "401" in op["responses"], (method, path)
        else:
            assert "security" not in op, (method, path, answer.status_code)


def test_openapi_media_types_of_non_json_answers(api_env: ApiEnv) -> None:
    spec = TestClient(create_app(api_env.settings, store=api_env.store)).get("/openapi.json").json()

    def ok_types(path: str, method: str = "get") -> set[str]:
        op = spec["paths"][path][method]
        return set(op["responses"][next(c for c in op["responses"] if c.startswith("2"))].get("content", {}))

    assert ok_types("/feeds/{platform}") == {
        "application/json",
        "application/x-ndjson",
        "text/csv; charset=utf-8",
        "application/stix+json;version=2.1",
    }
    assert ok_types("/api/export") == {"text/csv; charset=utf-8", "application/x-ndjson"}
    assert ok_types("/feeds/metrics.svg") == {"image/svg+xml", "image/png"}
    assert ok_types("/feeds/{platform}/notices/{notice_id}/evidence") == {"application/wacz+zip"}
    assert ok_types("/feeds/{platform}/notices/{notice_id}/letter") == {"text/plain"}
    assert ok_types("/api/listings/{listing_id}/warc") == {"application/warc"}
    assert ok_types("/api/listings/{listing_id}/screenshot") == {"image/png"}
    # the error answers the routes give are documented where they give them
    feed = spec["paths"]["/feeds/{platform}"]["get"]["responses"]
    assert {"401", "403", "404", "422"} <= set(feed)
    assert {"400", "503"} <= set(spec["paths"]["/api/search"]["get"]["responses"])
    assert "413" in spec["paths"]["/feeds/{platform}/webhook"]["put"]["responses"]
