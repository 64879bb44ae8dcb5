"""The reports' endpoints: service level today (HAL-03/05, admin and IT), unused subscriptions
(ALV-25) and blocked attempts (HAL-14) for managers and administrators; their pages."""

from __future__ import annotations

from aiohttp import web

from switchboard.web.auth import Role
from switchboard.web.core import STAFF, Endpoint, account, services
from switchboard.web.features.reports import pages, service, service_level
from switchboard.web.http import int_query

ADMIN_IT = frozenset({Role.ADMIN, Role.IT})


async def live_service_level(request: web.Request) -> web.StreamResponse:
    """GET /api/reports/service-level: today so far, per hour, unit and kind of number."""
    return web.json_response(await service_level.live(services(request)))


async def unused_subscriptions(request: web.Request) -> web.StreamResponse:
    """GET /api/reports/unused-subscriptions?year=: ALV-25."""
    year = int_query(request, "year", 0, 0, 9999) or None
    out = await service.unused(services(request), account(request), year)
    return web.json_response(out.as_json())


async def blocked_attempts(request: web.Request) -> web.StreamResponse:
    """GET /api/reports/blocked-attempts?days=: HAL-14."""
    days = int_query(request, "days", 30, 1, 366)
    out = await service.blocked_attempts(services(request), account(request), days)
    return web.json_response(out.as_json())


def api_endpoints() -> list[Endpoint]:
    """The reports' API."""
    return [
        Endpoint(
            "GET",
            "/api/reports/service-level",
            live_service_level,
            ADMIN_IT,
            "HAL-03/HAL-05 live: today's answered share per hour, unit and kind; coverage warnings",
        ),
        Endpoint(
            "GET",
            "/api/reports/unused-subscriptions",
            unused_subscriptions,
            STAFF,
            "ALV-25: unused subscriptions and the year's count per unit (managers, admins)",
            query={"year": "the year of the count per unit (default this year)"},
        ),
        Endpoint(
            "GET",
            "/api/reports/blocked-attempts",
            blocked_attempts,
            STAFF,
            "HAL-14: blocked premium-rate and international attempts (managers, admins)",
            query={"days": "how many days back (default 30)"},
        ),
    ]


def page_endpoints() -> list[Endpoint]:
    """Service level and the manager's overview."""
    return [
        Endpoint("GET", "/rapporter", pages.reports_page, ADMIN_IT, "Service level", "page"),
        Endpoint("GET", "/chef", pages.manager_page, STAFF, "Manager's reports", "page"),
    ]
