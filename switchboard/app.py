"""The composition root: `create_app(config)` wires calendar sync, the telephone adapter and the
HTTP server; long-lived resources are aiohttp cleanup contexts. Domain packages never import it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from routing.models import ManualRedirect, PresenceBook
from switchboard.config import Config
from switchboard.telephony.config import TelephonySettings, parse_telephony
from switchboard.telephony.service import TelephonyService
from switchboard.telephony.simulated import SimulatedAsterisk

log = logging.getLogger(__name__)

CONFIG = web.AppKey("config", Config)
TELEPHONY = web.AppKey("telephony", TelephonyService)
PRESENCE = web.AppKey("presence", dict)  # {"book": Callable[[], PresenceBook]}


def telephony_settings(config: Config) -> TelephonySettings:
    """The parsed `telephony:` section (the loader's, or parsed here if it has not)."""
    parsed = config.settings.get("telephony")
    if isinstance(parsed, TelephonySettings):
        return parsed
    settings, _ = parse_telephony(config.sections.get("telephony"))
    return settings


def _now() -> datetime:
    return datetime.now(UTC)


async def _presence_ctx(app: web.Application) -> AsyncIterator[None]:
    """Calendar sync when the calendar feature is present; an empty book otherwise."""
    config = app[CONFIG]
    manual: dict[str, ManualRedirect] = {}
    state: dict[str, Any] = {"book": lambda: PresenceBook({}, manual), "changes": None}
    app[PRESENCE] = state
    async with contextlib.AsyncExitStack() as stack:
        try:
            from calendar_sync.service import open_calendar_sync
            from calendar_sync.sources import CalendarSourcesSettings

            raw = config.settings.get("calendar_sources")
            sources = raw if isinstance(raw, CalendarSourcesSettings) else CalendarSourcesSettings()
            sync = await stack.enter_async_context(open_calendar_sync(config.org, sources))
            sub = sync.subscribe()
            stack.callback(sub.close)
            await sync.start()
            stack.push_async_callback(sync.stop)
            state["book"] = lambda: sync.book(manual)
            state["changes"] = sub
        except Exception as exc:  # the service still routes calls without calendars
            log.error("calendar sync not started: %s", exc)
        yield


async def _telephony_ctx(app: web.Application) -> AsyncIterator[None]:
    """The telephone platform connection (simulated by default), mirror and call control."""
    config = app[CONFIG]
    state = app[PRESENCE]
    book: Callable[[], PresenceBook] = state["book"]
    svc = TelephonyService(
        config.org,
        telephony_settings(config),
        lambda: book(),
        _now,
        changes=state["changes"],
        data_dir=Path(config.org.data_dir),
    )
    await svc.start()
    app[TELEPHONY] = svc
    try:
        yield
    finally:
        await svc.stop()  # calls in progress are handed back to the dialplan


async def healthz(request: web.Request) -> web.Response:
    """Liveness and the telephone link's state."""
    svc = request.app[TELEPHONY]
    sup = svc.supervisor
    body: Mapping[str, object] = {
        "status": "ok",
        "organisation": request.app[CONFIG].org.id,
        "platform": svc.settings.platform,
        "ami_connected": bool(sup and sup.connected),
        "calls_in_progress": svc.controller.active,
    }
    return web.json_response(body)


def create_app(config: Config, *, simulated: SimulatedAsterisk | None = None) -> web.Application:
    """The one composition root shared by `switchboard run` and the tests."""
    app = web.Application()
    app[CONFIG] = config
    app.cleanup_ctx.append(_presence_ctx)
    app.cleanup_ctx.append(_telephony_ctx)
    app.router.add_get("/healthz", healthz)
    _ = simulated
    return app
