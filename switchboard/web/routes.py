"""The endpoint table and `setup_web`: every route, middleware and page added to an app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

from aiohttp import web

from routing.models import AbsenceReason
from switchboard.http_settings import http_settings
from switchboard.web import api, contact_centre, openapi, pages, policy_routes, threats
from switchboard.web import inbox as inbox_routes
from switchboard.web.auth import LoginLimiter, SessionCodec
from switchboard.web.core import (
    ADMIN,
    IT,
    PUBLIC,
    REGISTRAR,
    SERVICES,
    STAFF,
    STATE,
    Endpoint,
    WebState,
    services,
    state,
)
from switchboard.web.middleware import auth_middleware, error_middleware
from switchboard.web.oidc import OidcClient, StateCodec
from switchboard.web.services import WebServices
from voicemail.models import Classification

log = logging.getLogger("switchboard.web")
_STR = {"type": "string"}
_BOOL = {"type": "boolean"}
MANUAL_BODY = {
    "type": "object",
    "required": ["reason"],
    "properties": {
        "reason": {"type": "string", "enum": [r.value for r in AbsenceReason]},
        "until": {
            "type": "string",
            "description": "ALV-02: required end, local time if no offset; or 'further-notice'"
            " (tills vidare: ends at administration.manual_redirect_max_days)",
        },
        "until_further_notice": {"type": "boolean", "description": "same as 'further-notice'"},
        "text": {"type": "string", "maxLength": 200},
    },
}
SWITCH_NAMES = ("voicemail", "mobile_follows_calendar", "international_unlocked")
CALL_QUERY = {
    "since": "ISO 8601 time (local without offset)",
    "until": "ISO 8601 time (local without offset)",
    "number": "digits that must occur in the caller, called or dialled number",
    "limit": "at most this many calls (default 1000)",
}


async def openapi_json(request: web.Request) -> web.StreamResponse:
    """GET /api/openapi.json."""
    doc = openapi.document(
        state(request).table, f"switchboard – {services(request).config.org.name}"
    )
    return web.json_response(doc)


def endpoints(include_healthz: bool = True) -> list[Endpoint]:
    """Every endpoint: API, operations and pages, with the roles allowed on each."""
    eps = [
        Endpoint(
            "GET",
            "/metrics",
            api.metrics_text,
            PUBLIC,
            "Prometheus metrics",
            "ops",
            produces="text/plain",
        ),
        Endpoint("GET", "/api/openapi.json", openapi_json, PUBLIC, "This document", "ops"),
        Endpoint(
            "POST",
            "/api/login",
            api.login,
            PUBLIC,
            "Sign in: a bearer token and the session cookie",
            body={
                "type": "object",
                "required": ["user", "password"],
                "properties": {"user": _STR, "password": _STR},
            },
        ),
        Endpoint("POST", "/api/logout", api.logout, STAFF, "Sign out"),
        Endpoint("GET", "/api/me", api.me, STAFF, "The signed-in account, roles and CSRF token"),
        Endpoint(
            "GET",
            "/api/directory",
            api.directory,
            STAFF,
            "Directory search: public number (extension) and live availability",
            query={
                "q": "words in name, title, unit or keywords",
                "unit": "unit",
                "title": "title",
                "keyword": "keyword",
            },
        ),
        Endpoint(
            "GET",
            "/api/presence/events",
            api.presence_events,
            STAFF,
            "Server-sent events: one `presence` event per changed directory row",
            produces="text/event-stream",
        ),
        Endpoint(
            "GET",
            "/api/users/{user_id}/availability",
            api.availability,
            STAFF,
            "A user's availability",
        ),
        Endpoint(
            "PUT",
            "/api/users/{user_id}/manual-redirect",
            api.put_manual,
            STAFF,
            "Set a manual redirect (oneself; administrators for anyone)",
            body=MANUAL_BODY,
        ),
        Endpoint(
            "DELETE",
            "/api/users/{user_id}/manual-redirect",
            api.delete_manual,
            STAFF,
            "Clear a manual redirect (oneself; administrators for anyone)",
        ),
        Endpoint(
            "GET", "/api/registry/queue", api.queue, REGISTRAR, "Records awaiting classification"
        ),
        Endpoint("GET", "/api/registry/records/{ref}", api.record, REGISTRAR, "One record"),
        Endpoint(
            "GET",
            "/api/registry/records/{ref}/audio",
            api.audio,
            STAFF,
            "The audio, streamed; owner, delegates and registrars only; every playback audited",
            produces="audio/wav",
        ),
        Endpoint(
            "POST",
            "/api/registry/records/{ref}/classification",
            api.classify,
            REGISTRAR,
            "Classify a record",
            body={
                "type": "object",
                "required": ["classification", "summary"],
                "properties": {
                    "classification": {"type": "string", "enum": [c.value for c in Classification]},
                    "summary": _STR,
                    "case_reference": _STR,
                },
            },
        ),
        Endpoint(
            "GET",
            "/api/registry/records/{ref}/audit",
            api.audit,
            REGISTRAR,
            "A record's audit trail",
        ),
        Endpoint(
            "GET",
            "/api/registry/export",
            api.export,
            REGISTRAR,
            "Export the register",
            query={"format": "json, csv or xml", "year": "registration year"},
        ),
        Endpoint(
            "GET",
            "/api/admin/switches",
            api.get_switches,
            ADMIN,
            "Voicemail switch and per-user switches",
        ),
        Endpoint(
            "PUT",
            "/api/admin/voicemail",
            api.put_voicemail_switch,
            ADMIN,
            "Voicemail on/off for every extension user (ALV-12)",
            body={"type": "object", "required": ["enabled"], "properties": {"enabled": _BOOL}},
        ),
        Endpoint(
            "PUT",
            "/api/admin/users/{user_id}/switches",
            api.put_user_switches,
            ADMIN,
            "Per-user voicemail, mobile follows calendar, international unlock",
            body={"type": "object", "properties": {n: _BOOL for n in SWITCH_NAMES}},
        ),
        Endpoint("GET", "/api/calls", api.calls, IT, "Call log query (ALV-18)", query=CALL_QUERY),
        Endpoint(
            "GET",
            "/api/calls.csv",
            api.calls_csv,
            IT,
            "Call log as CSV (ALV-18)",
            query=CALL_QUERY,
            produces="text/csv",
        ),
        Endpoint(
            "POST",
            "/api/calls/{call_id}/threat",
            threats.threat,
            STAFF,
            "Flag a call as a threat (ALV-20): the person who received it, or IT",
            body={"type": "object", "required": ["note"], "properties": {"note": _STR}},
            ok=201,
        ),
        Endpoint("GET", "/api/incidents", api.incidents, IT, "Threat incidents"),
        Endpoint("GET", "/api/me/calls", threats.my_calls, STAFF, "Calls to my numbers (ALV-20)"),
        *policy_routes.endpoints(),
        # pages
        Endpoint("GET", "/login", pages.login_page, PUBLIC, "Login", "page"),
        Endpoint("POST", "/login", pages.login_post, PUBLIC, "Login", "page"),
        Endpoint(
            "GET",
            "/login/oidc",
            pages.oidc_start,
            PUBLIC,
            "Sign in through the identity provider (OpenID Connect, code + PKCE)",
            "page",
            query={"next": "a path on this site to return to"},
        ),
        Endpoint(
            "GET",
            "/login/oidc/callback",
            pages.oidc_callback,
            PUBLIC,
            "Where the identity provider returns (code and state)",
            "page",
        ),
        Endpoint("POST", "/logout", pages.logout_post, STAFF, "Logout", "page"),
        Endpoint("GET", "/", pages.board_page, STAFF, "Availability board", "page"),
        Endpoint("GET", "/min-tillganglighet", pages.my_page, STAFF, "My availability", "page"),
        Endpoint("POST", "/min-tillganglighet", pages.my_set, STAFF, "Set my redirect", "page"),
        Endpoint(
            "POST", "/min-tillganglighet/rensa", pages.my_clear, STAFF, "Clear my redirect", "page"
        ),
        Endpoint("GET", "/registrator", pages.registrar_page, REGISTRAR, "Registrar queue", "page"),
        Endpoint(
            "GET", "/registrator/{ref}", pages.record_page, REGISTRAR, "Record review", "page"
        ),
        Endpoint(
            "POST", "/registrator/{ref}", pages.record_classify, REGISTRAR, "Classify", "page"
        ),
        Endpoint("GET", "/admin", pages.admin_page, ADMIN, "Administration", "page"),
        Endpoint(
            "POST", "/admin/rostbrevlada", pages.admin_voicemail, ADMIN, "Voicemail switch", "page"
        ),
        Endpoint(
            "POST", "/admin/anvandare/{user_id}", pages.admin_user, ADMIN, "User switches", "page"
        ),
        Endpoint("GET", "/it", pages.it_page, IT, "Call log", "page"),
        Endpoint("POST", "/it/samtal/{call_id}/hot", pages.it_threat, IT, "Flag a threat", "page"),
    ]
    eps += inbox_routes.endpoints()  # Mina röstmeddelanden (issue 17)
    if include_healthz:
        eps.insert(0, Endpoint("GET", "/healthz", api.healthz, PUBLIC, "Liveness", "ops"))
    return eps


def _has_route(app: web.Application, method: str, path: str) -> bool:
    for resource in app.router.resources():
        if resource.canonical == path:
            return any(r.method == method for r in resource)
    return False


def setup_web(app: web.Application, services: WebServices) -> None:
    """Add every API route, page and the two middlewares to `app` (the composition root's).

    The store must be opened by the caller (or use `web_store_ctx`). A /healthz the app already
    has is kept.
    """
    secret = services.session_secret or secrets.token_bytes(32)
    codec = SessionCodec(secret, services.session_ttl)
    http = http_settings(services.config)
    services.secure_cookies = services.secure_cookies or http.secure_cookies
    st = WebState(codec, LoginLimiter(services.store), services.store.hub)
    if http.oidc is not None:
        st.oidc = OidcClient(http.oidc, used=services.store)
        st.oidc_states = StateCodec(secret)
        app.on_cleanup.append(_close_oidc)
    app[SERVICES] = services
    app[STATE] = st
    app.middlewares.append(error_middleware)
    app.middlewares.append(auth_middleware)
    for ep in endpoints(include_healthz=not _has_route(app, "GET", "/healthz")):
        route = app.router.add_route(ep.method, ep.path, ep.handler)
        st.endpoints[route] = ep
        st.table.append(ep)
    app.cleanup_ctx.append(_pump_state_changes)
    app.cleanup_ctx.append(_directory_history)
    app.on_shutdown.append(_close_streams)


async def _directory_history(app: web.Application) -> AsyncIterator[None]:
    """HAL-13: on every (re)load, the directory's changes into the history (the call log is
    opened by the contexts appended before this one)."""
    try:
        await contact_centre.record_directory_change(app[SERVICES])
    except Exception:  # the history must never stop the service from starting
        log.exception("directory history not updated")
    yield


async def _close_oidc(app: web.Application) -> None:
    client = app[STATE].oidc
    if client is not None:
        await client.close()


async def _close_streams(app: web.Application) -> None:
    app[STATE].hub.close_all()


async def _pump_state_changes(app: web.Application) -> AsyncIterator[None]:
    """Forward the effective state's changes (calendar, time, other nodes) to the board."""
    svc = app[SERVICES]
    if svc.hub is None:
        yield
        return
    changes = svc.hub.subscribe()

    async def pump() -> None:
        async for change in changes:
            app[STATE].hub.publish(change.user_id)

    task = asyncio.create_task(pump())
    try:
        yield
    finally:
        changes.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def web_store_ctx(app: web.Application) -> AsyncIterator[None]:
    """A cleanup context that opens the web store (and the register, if any) and closes them."""
    svc = app[SERVICES]
    await svc.store.open()
    try:
        yield
    finally:
        await svc.store.close()
