"""``GET /metrics``: the API process's Prometheus metrics (requests by route template and status
class, scan and intake posts, the takedown feed counters this process increments).

Operator data, so it takes an operator (or admin) key like the operator page: Prometheus sends
one as ``Authorization: Bearer`` (``credentials_file`` in ``docker/prometheus/prometheus.yml``).
A key, not a second listener: the API already has one place that decides who reads what, and
its keys expire, rotate and leave a trail in the audit log."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from api import telemetry
from api.auth import Principal
from api.deps import require_roles, settings_of
from api.openapi import AUTH, PROMETHEUS_TEXT, TEXT, answers, body_types
from takedown import telemetry as feed_telemetry
from takedown.registry import load_registry

router = APIRouter(tags=["operator"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={**answers(*AUTH), **body_types("Prometheus text exposition format 0.0.4", {PROMETHEUS_TEXT: TEXT})},
)
def get_metrics(request: Request, principal: Principal = Depends(require_roles("operator"))) -> Response:
    """Counters of this API process in the Prometheus text format; every series known in
    advance is present from the first scrape, at zero."""
    if not getattr(request.app.state, "metrics_primed", False):
        telemetry.prime(request.app)
        feed_telemetry.prime(load_registry(settings_of(request)).names())
        request.app.state.metrics_primed = True
    return Response(telemetry.exposition(), media_type=telemetry.CONTENT_TYPE)
