"""The call log's endpoints: IT's query and CSV (ALV-18), threats and incidents (ALV-20)."""

from __future__ import annotations

from aiohttp import web

from switchboard.web.core import IT, STAFF, Endpoint, account, services
from switchboard.web.features.calls import pages, service
from switchboard.web.features.calls.schemas import CALL_PAGE_QUERY, CALL_QUERY, THREAT_BODY
from switchboard.web.http import read_json, text_field


async def calls(request: web.Request) -> web.StreamResponse:
    """GET /api/calls?since=&until=&number=&limit=&page=&per_page=: `calls` (this page, newest
    first), `total` (the calls of the filter, at most `limit`), `page` (as asked), `per_page`."""
    found, pg = await service.call_page(request)
    return web.json_response(
        {
            "calls": [c.as_json() for c in found],
            "total": pg.total,
            "page": pg.asked,
            "per_page": pg.per_page,
        }
    )


async def calls_csv(request: web.Request) -> web.StreamResponse:
    """GET /api/calls.csv: the same query as CSV."""
    text = await service.calls_csv(request)
    return web.Response(
        text=text,
        content_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="samtalslogg.csv"'},
    )


async def threat(request: web.Request) -> web.StreamResponse:
    """POST /api/calls/{call_id}/threat {note}: the recipient or IT (ALV-20)."""
    svc = services(request)
    data = await read_json(request, svc.max_body)
    note = text_field(data, "note", required=True, max_len=2000, multiline=True) or ""
    incident = await service.flag(svc, account(request), request.match_info["call_id"], note)
    return web.json_response(incident.as_json(), status=201)


async def incidents(request: web.Request) -> web.StreamResponse:
    """GET /api/incidents: newest first."""
    items = await service.incidents(services(request))
    return web.json_response({"incidents": [i.as_json() for i in items]})


async def my_calls(request: web.Request) -> web.StreamResponse:
    """GET /api/me/calls: the latest calls to my numbers, so I can flag a threat (ALV-20)."""
    calls = await service.calls_to(services(request), account(request))
    return web.json_response({"calls": [c.as_json() for c in calls]})


def api_endpoints() -> list[Endpoint]:
    """The call log's API."""
    return [
        Endpoint(
            "GET",
            "/api/calls",
            calls,
            IT,
            "Call log query, a page at a time (ALV-18)",
            query=CALL_PAGE_QUERY,
        ),
        Endpoint(
            "GET",
            "/api/calls.csv",
            calls_csv,
            IT,
            "Call log as CSV (ALV-18)",
            query=CALL_QUERY,
            produces="text/csv",
        ),
        Endpoint(
            "POST",
            "/api/calls/{call_id}/threat",
            threat,
            STAFF,
            "Flag a call as a threat (ALV-20): the person who received it, or IT",
            body=THREAT_BODY,
            ok=201,
        ),
        Endpoint("GET", "/api/incidents", incidents, IT, "Threat incidents"),
        Endpoint("GET", "/api/me/calls", my_calls, STAFF, "Calls to my numbers (ALV-20)"),
    ]


def page_endpoints() -> list[Endpoint]:
    """IT's page and my calls."""
    return [
        Endpoint("GET", "/it", pages.it_page, IT, "Call log", "page"),
        Endpoint("POST", "/it/samtal/{call_id}/hot", pages.it_threat, IT, "Flag a threat", "page"),
        Endpoint("GET", "/mina-samtal", pages.my_calls_page, STAFF, "My calls", "page"),
        Endpoint(
            "POST",
            "/mina-samtal/{call_id}/hot",
            pages.my_threat,
            STAFF,
            "Flag a call I received as a threat",
            "page",
        ),
    ]
