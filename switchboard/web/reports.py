"""API handlers of the live reports: service level (HAL-03/05, admin and IT), unused
subscriptions (ALV-25) and blocked attempts (HAL-14) for managers and administrators."""

from __future__ import annotations

from aiohttp import web

from switchboard.web import manager_reports, service_level
from switchboard.web.core import account, services
from switchboard.web.http import int_query


async def live_service_level(request: web.Request) -> web.StreamResponse:
    """GET /api/reports/service-level: today so far, per hour, unit and kind of number."""
    return web.json_response(await service_level.live(services(request)))


async def unused_subscriptions(request: web.Request) -> web.StreamResponse:
    """GET /api/reports/unused-subscriptions?year=: ALV-25."""
    year = int_query(request, "year", 0, 0, 9999) or None
    out = await manager_reports.unused(services(request), account(request), year)
    return web.json_response(out)


async def blocked_attempts(request: web.Request) -> web.StreamResponse:
    """GET /api/reports/blocked-attempts?days=: HAL-14."""
    days = int_query(request, "days", 30, 1, 366)
    out = await manager_reports.blocked_attempts(services(request), account(request), days)
    return web.json_response(out)
