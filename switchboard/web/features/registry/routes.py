"""The registrar's endpoints: the queue, a record, its audio and audit trail, classification
and the exports (API and pages)."""

from __future__ import annotations

import json

from aiohttp import web

from switchboard.web.core import REGISTRAR, STAFF, Endpoint, account, services
from switchboard.web.errors import InvalidField
from switchboard.web.features.registry import pages, service
from switchboard.web.features.registry.schemas import (
    CLASSIFY_BODY,
    EXPORT_FORMATS,
    record_view,
)
from switchboard.web.http import date_query, int_query, read_json, record_ref


async def queue(request: web.Request) -> web.StreamResponse:
    """GET /api/registry/queue?view=&outcome=&from=&to=&sort=&q=&page=&per_page=: `queue`
    (this page), `total` (all that match), `page`, `per_page`, `view`, `sort`."""
    return web.json_response((await service.queue_page(request)).as_json())


async def record(request: web.Request) -> web.StreamResponse:
    """GET /api/registry/records/{ref}."""
    svc = services(request)
    rec = await service.register_of(svc).get(record_ref(request.match_info["ref"]))
    return web.json_response(record_view(rec, svc.config.org.timezone))


async def audit(request: web.Request) -> web.StreamResponse:
    """GET /api/registry/records/{ref}/audit."""
    svc = services(request)
    events = await service.audit_trail(svc, record_ref(request.match_info["ref"]))
    return web.json_response(
        {"events": [ev.as_json() for ev in events]}, dumps=lambda v: json.dumps(v, default=str)
    )


async def audio(request: web.Request) -> web.StreamResponse:
    """GET /api/registry/records/{ref}/audio: owner, delegates and registrars only; audited."""
    svc = services(request)
    ref = record_ref(request.match_info["ref"])
    rec, path = await service.register_of(svc).play(ref, account(request).user_id, svc.now())
    ctype = (
        "audio/wav" if rec.audio_format.lower() in ("wav", "wav49") else "application/octet-stream"
    )
    return web.FileResponse(
        path,
        headers={
            "Content-Type": ctype,
            "Cache-Control": "no-store",
            "Content-Disposition": f'inline; filename="{rec.id}.{rec.audio_format}"',
        },
    )


async def classify(request: web.Request) -> web.StreamResponse:
    """POST /api/registry/records/{ref}/classification {classification, summary, case_ref}."""
    svc = services(request)
    ref = record_ref(request.match_info["ref"])
    data = await read_json(request, svc.max_body)
    rec = await service.classify_record(svc, ref, account(request).user_id, data)
    return web.json_response(record_view(rec, svc.config.org.timezone))


async def export(request: web.Request) -> web.StreamResponse:
    """GET /api/registry/export?format=json|csv|xml|excel|xlsx&year=&from=&to= (local dates,
    both included). `excel` is CSV for Swedish Excel (`;`, UTF-8 with BOM), `xlsx` a workbook."""
    svc = services(request)
    fmt = request.query.get("format", "json")
    if fmt not in EXPORT_FORMATS:
        raise InvalidField("format", "välj json, csv, xml, excel eller xlsx")
    year = int_query(request, "year", 0, 0, 9999) or None
    first, last = date_query(request, "from"), date_query(request, "to")
    if first is not None and last is not None and last < first:
        raise InvalidField("to", "slutdatumet ligger före startdatumet")
    out = await service.export(svc, fmt, year, first, last)
    return web.Response(
        body=out.body,
        content_type=out.content_type,
        charset=None if out.binary else "utf-8",
        headers={"Content-Disposition": f'attachment; filename="{out.name}"'},
    )


def api_endpoints() -> list[Endpoint]:
    """The register's API."""
    return [
        Endpoint(
            "GET",
            "/api/registry/queue",
            queue,
            REGISTRAR,
            "The registrar's lists: the queue (default), classified, hidden, disposed, all",
            query={
                "view": "waiting (default), classified, hidden, disposed or all",
                "outcome": "a classification (not with waiting)",
                "from": "arrived on or after this local date (YYYY-MM-DD)",
                "to": "arrived on or before this local date (YYYY-MM-DD)",
                "sort": "oldest (longest waiting first, default) or newest",
                "q": "registration number, caller, mailbox owner, case or summary",
                "page": "from 1",
                "per_page": "1-500 (default 50)",
            },
        ),
        Endpoint("GET", "/api/registry/records/{ref}", record, REGISTRAR, "One record"),
        Endpoint(
            "GET",
            "/api/registry/records/{ref}/audio",
            audio,
            STAFF,
            "The audio, streamed; owner, delegates and registrars only; every playback audited",
            produces="audio/wav",
        ),
        Endpoint(
            "POST",
            "/api/registry/records/{ref}/classification",
            classify,
            REGISTRAR,
            "Classify a record",
            body=CLASSIFY_BODY,
        ),
        Endpoint(
            "GET",
            "/api/registry/records/{ref}/audit",
            audit,
            REGISTRAR,
            "A record's audit trail",
        ),
        Endpoint(
            "GET",
            "/api/registry/export",
            export,
            REGISTRAR,
            "Export the register",
            query={"format": "json, csv or xml", "year": "registration year"},
        ),
    ]


def page_endpoints() -> list[Endpoint]:
    """The registrar's pages."""
    return [
        Endpoint("GET", "/registrator", pages.registrar_page, REGISTRAR, "Registrar queue", "page"),
        Endpoint(
            "GET", "/registrator/{ref}", pages.record_page, REGISTRAR, "Record review", "page"
        ),
        Endpoint(
            "POST", "/registrator/{ref}", pages.record_classify, REGISTRAR, "Classify", "page"
        ),
    ]
