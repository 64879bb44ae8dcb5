"""The endpoint table and `setup_web`: every feature's routes and pages, and the two
middlewares, added to an app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

from aiohttp import web

from switchboard.web import templating
from switchboard.web.auth import LoginLimiter, SessionCodec
from switchboard.web.core import SERVICES, STATE, Endpoint, WebState
from switchboard.web.features.admin import routes as admin
from switchboard.web.features.calls import routes as calls
from switchboard.web.features.contact_centre import routes as contact_centre
from switchboard.web.features.contact_centre.service import record_directory_change
from switchboard.web.features.directory import routes as directory
from switchboard.web.features.inbox import routes as inbox
from switchboard.web.features.ops import routes as ops
from switchboard.web.features.registry import routes as registry
from switchboard.web.features.reports import routes as reports
from switchboard.web.features.session import routes as session
from switchboard.web.middleware import auth_middleware, error_middleware
from switchboard.web.oidc import OidcClient
from switchboard.web.oidc_login import StateCodec
from switchboard.web.services import WebServices

log = logging.getLogger("switchboard.web")


def endpoints(include_healthz: bool = True) -> list[Endpoint]:
    """Every endpoint: API, operations and pages, with the roles allowed on each."""
    eps = [
        *ops.api_endpoints(),
        *session.api_endpoints(),
        *directory.api_endpoints(),
        *registry.api_endpoints(),
        *admin.api_endpoints(),
        *calls.api_endpoints(),
        *reports.api_endpoints(),
        *contact_centre.api_endpoints(),
        *inbox.api_endpoints(),  # Mina röstmeddelanden (issue 17)
        # pages
        *session.page_endpoints(),
        *directory.page_endpoints(),
        *registry.page_endpoints(),
        *admin.page_endpoints(),
        *calls.page_endpoints(),
        *reports.page_endpoints(),
        *contact_centre.page_endpoints(),
        *inbox.page_endpoints(),
    ]
    if include_healthz:
        eps.insert(0, ops.HEALTHZ)
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
    http = services.config.http
    services.secure_cookies = services.secure_cookies or http.secure_cookies
    st = WebState(codec, LoginLimiter(services.store), services.store.hub)
    if http.oidc is not None:
        st.oidc = OidcClient(http.oidc, used=services.store)
        st.oidc_states = StateCodec(secret)
        app.on_cleanup.append(_close_oidc)
    app[SERVICES] = services
    app[STATE] = st
    templating.setup(app)
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
        await record_directory_change(app[SERVICES])
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
