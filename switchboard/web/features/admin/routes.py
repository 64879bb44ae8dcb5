"""The administrator's endpoints: the switches read and changed (API and pages)."""

from __future__ import annotations

from aiohttp import web

from switchboard.web.core import ADMIN, Endpoint, account, services
from switchboard.web.errors import InvalidField
from switchboard.web.features.admin import blocking, bulk, history, pages, service
from switchboard.web.features.admin.schemas import SWITCHES_BODY, VOICEMAIL_BODY
from switchboard.web.http import bool_field, int_query, read_json


async def get_switches(request: web.Request) -> web.StreamResponse:
    """GET /api/admin/switches."""
    return web.json_response(service.switches(services(request)).as_json())


async def put_voicemail_switch(request: web.Request) -> web.StreamResponse:
    """PUT /api/admin/voicemail {enabled}: voicemail for every extension user (ALV-12)."""
    svc = services(request)
    data = await read_json(request, svc.max_body)
    enabled = bool_field(data, "enabled")
    if enabled is None:
        raise InvalidField("enabled", "is required (true or false)")
    service.require_whole_organisation(account(request))  # HAL-12
    await service.set_voicemail_for_all(svc, enabled, account(request).user_id)
    return web.json_response(service.switches(svc).as_json())


async def put_user_switches(request: web.Request) -> web.StreamResponse:
    """PUT /api/admin/users/{user_id}/switches {voicemail?, mobile_follows_calendar?, ...}."""
    svc = services(request)
    data = await read_json(request, svc.max_body)
    await service.change_user_switches(svc, account(request), request.match_info["user_id"], data)
    return web.json_response(service.switches(svc).as_json())


async def get_switch_changes(request: web.Request) -> web.StreamResponse:
    """GET /api/admin/switch-changes?page=&limit=: the switches' audit, newest first."""
    svc = services(request)
    limit = int_query(request, "limit", 50, 1, 500)
    page = int_query(request, "page", 1, 1, 1_000_000)
    total, changes = await service.history(svc, account(request), limit, (page - 1) * limit)
    tz = svc.config.org.timezone
    directory = svc.config.directory
    return web.json_response(
        {
            "total": total,
            "page": page,
            "limit": limit,
            "changes": [history.describe(c, directory, tz) for c in changes],
        }
    )


def api_endpoints() -> list[Endpoint]:
    """The administrator's API."""
    return [
        Endpoint(
            "GET",
            "/api/admin/switches",
            get_switches,
            ADMIN,
            "Voicemail switch and per-user switches",
        ),
        Endpoint(
            "PUT",
            "/api/admin/voicemail",
            put_voicemail_switch,
            ADMIN,
            "Voicemail on/off for every extension user (ALV-12)",
            body=VOICEMAIL_BODY,
        ),
        Endpoint(
            "PUT",
            "/api/admin/users/{user_id}/switches",
            put_user_switches,
            ADMIN,
            "Per-user voicemail, mobile follows calendar, international unlock",
            body=SWITCHES_BODY,
        ),
        Endpoint(
            "GET",
            "/api/admin/switch-changes",
            get_switch_changes,
            ADMIN,
            "The switches' audit: who changed what, when, before -> after (newest first)",
        ),
    ]


def page_endpoints() -> list[Endpoint]:
    """The administrator's pages."""
    return [
        Endpoint("GET", "/admin", pages.admin_page, ADMIN, "Administration", "page"),
        Endpoint(
            "POST", "/admin/rostbrevlada", pages.admin_voicemail, ADMIN, "Voicemail switch", "page"
        ),
        Endpoint(
            "POST", "/admin/anvandare/{user_id}", pages.admin_user, ADMIN, "User switches", "page"
        ),
        Endpoint(
            "POST", "/admin/flera", bulk.admin_bulk, ADMIN, "One switch for many users", "page"
        ),
        Endpoint("POST", "/admin/sparr", blocking.admin_block, ADMIN, "Block a lost phone", "page"),
    ]
