"""The contact centre's endpoints: blocking a lost phone, notices, directory history, assisted
international calls (API), and Medborgarservice's page."""

from __future__ import annotations

from aiohttp import web

from switchboard.web.core import ADMIN, Endpoint, account, services
from switchboard.web.errors import InvalidField
from switchboard.web.features.calls.service import call_log
from switchboard.web.features.contact_centre import pages, service
from switchboard.web.features.contact_centre.schemas import (
    ASSISTED_BODY,
    BLOCKED_BODY,
    CONTACT,
    CONTACT_ADMIN,
)
from switchboard.web.http import bool_field, int_query, read_json, text_field


async def put_blocked(request: web.Request) -> web.StreamResponse:
    """PUT /api/admin/phones/{entry_id}/blocked {blocked, note?}."""
    svc = services(request)
    data = await read_json(request, svc.max_body)
    blocked = bool_field(data, "blocked")
    if blocked is None:
        raise InvalidField("blocked", "ange true (spärra) eller false (häv spärren)")
    note = text_field(data, "note", max_len=500)
    out = await service.set_blocked(
        svc, account(request), request.match_info["entry_id"], blocked, note
    )
    return web.json_response(out.as_json())


async def notices(request: web.Request) -> web.StreamResponse:
    """GET /api/contact-centre/notices: the outbox to the contact centre, newest first."""
    svc = services(request)
    found = await call_log(svc).notices(
        [service.CONTACT_CENTRE], int_query(request, "limit", 200, 1, 5000)
    )
    return web.json_response({"notices": [n.as_json() for n in found]})


async def directory_history(request: web.Request) -> web.StreamResponse:
    """GET /api/contact-centre/directory-history: newest first."""
    svc = services(request)
    found = await call_log(svc).directory_history(int_query(request, "limit", 500, 1, 10000))
    return web.json_response({"changes": [c.as_json() for c in found]})


async def post_assisted(request: web.Request) -> web.StreamResponse:
    """POST /api/contact-centre/assisted-calls {user, to}."""
    svc = services(request)
    data = await read_json(request, svc.max_body)
    out = await service.place_assisted(svc, account(request), data)
    return web.json_response(out.as_json(), status=201)


async def list_assisted(request: web.Request) -> web.StreamResponse:
    """GET /api/contact-centre/assisted-calls."""
    return web.json_response({"calls": await call_log(services(request)).assisted()})


def api_endpoints() -> list[Endpoint]:
    """Blocking (HAL-12), notices and history (HAL-13), assisted calls (ALV-26)."""
    return [
        Endpoint(
            "PUT",
            "/api/admin/phones/{entry_id}/blocked",
            put_blocked,
            ADMIN,
            "ALV-21/HAL-12: block a lost phone (administrators of its unit); notifies",
            body=BLOCKED_BODY,
        ),
        Endpoint(
            "GET",
            "/api/contact-centre/notices",
            notices,
            CONTACT_ADMIN,
            "HAL-12/HAL-13: notices to the contact centre, newest first",
        ),
        Endpoint(
            "GET",
            "/api/contact-centre/directory-history",
            directory_history,
            CONTACT_ADMIN,
            "HAL-13: directory changes, newest first",
        ),
        Endpoint(
            "GET",
            "/api/contact-centre/assisted-calls",
            list_assisted,
            CONTACT_ADMIN,
            "ALV-26: international calls placed for users",
        ),
        Endpoint(
            "POST",
            "/api/contact-centre/assisted-calls",
            post_assisted,
            CONTACT,
            "ALV-26: place an international call for a user (logged with both parties)",
            body=ASSISTED_BODY,
            ok=201,
        ),
    ]


def page_endpoints() -> list[Endpoint]:
    """Medborgarservice's page."""
    return [
        Endpoint(
            "GET",
            "/kontaktcenter",
            pages.contact_page,
            CONTACT_ADMIN,
            "Contact centre",
            "page",
        ),
        Endpoint(
            "POST",
            "/kontaktcenter/utlandssamtal",
            pages.contact_assisted,
            CONTACT,
            "Place an international call for a user",
            "page",
        ),
    ]
