"""Operations' endpoints: /healthz, /metrics and /api/openapi.json."""

from __future__ import annotations

from aiohttp import web

from switchboard.web.core import PUBLIC, Endpoint, services, state
from switchboard.web.features.ops import schemas, service


async def healthz(request: web.Request) -> web.StreamResponse:
    """GET /healthz: liveness."""
    return web.json_response(service.health(services(request)).as_json())


async def openapi_json(request: web.Request) -> web.StreamResponse:
    """GET /api/openapi.json."""
    doc = schemas.document(
        state(request).table, f"switchboard – {services(request).config.org.name}"
    )
    return web.json_response(doc)


HEALTHZ = Endpoint("GET", "/healthz", healthz, PUBLIC, "Liveness", "ops")


def api_endpoints() -> list[Endpoint]:
    """Metrics and this API's document (/healthz is `HEALTHZ`: the app may have its own).
    Each call makes its own metrics registry: one per app."""
    metrics = service.OpsMetrics()

    async def metrics_text(request: web.Request) -> web.StreamResponse:
        """GET /metrics: Prometheus text format."""
        text = await metrics.render(services(request), state(request).hub.subscribers)
        return web.Response(
            body=text.encode(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    return [
        Endpoint(
            "GET",
            "/metrics",
            metrics_text,
            PUBLIC,
            "Prometheus metrics",
            "ops",
            produces="text/plain",
        ),
        Endpoint("GET", "/api/openapi.json", openapi_json, PUBLIC, "This document", "ops"),
    ]
