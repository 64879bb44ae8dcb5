"""The presence resources: calendar sync (its partitions shared between nodes on PostgreSQL)
and the effective state over it, the manual redirects and the switches (`EffectiveHub`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from calendar_sync.changes import PresenceChange
from calendar_sync.service import CalendarSync, open_calendar_sync
from switchboard.app_keys import CALENDAR, CALENDAR_SHARE, CLOCK, CONFIG, HUB, OPTIONS, WEB
from switchboard.effective import EffectiveHub

log = logging.getLogger("switchboard.app")


async def presence_ctx(app: web.Application) -> AsyncIterator[None]:
    """Calendar sync and the effective state over it, the manual redirects and the switches.

    A calendar configuration that cannot start (e.g. missing credentials) stops the start-up
    with its error: a service that showed everyone available would be worse than none.
    """

    config = app[CONFIG]
    clock = app[CLOCK]
    options = app[OPTIONS]
    services = app.get(WEB)
    async with contextlib.AsyncExitStack() as stack:
        storage = config.storage
        shared = storage.engine == "postgresql" and bool(storage.dsn)
        buckets = options.calendar_buckets if shared else 1
        sync = await stack.enter_async_context(
            open_calendar_sync(config.org, config.calendar_sources, clock=clock, buckets=buckets)
        )
        if shared and storage.dsn:
            await _share_calendars(stack, app, sync, storage.dsn, storage.schema)
        store = services.store if services is not None else None
        hub = EffectiveHub(
            config.org,
            clock,
            calendar=lambda: sync.presence,
            manual=store.manual if store is not None else dict,
            switches=store.overrides if store is not None else dict,
        )
        if store is not None:
            store.watch(hub.notify)
        changes = sync.subscribe()
        stack.callback(changes.close)
        await sync.start()
        stack.push_async_callback(sync.stop)
        stack.enter_context(app[CALENDAR].holding(sync))
        try:
            await asyncio.wait_for(sync.loaded.wait(), options.first_load_s)
        except TimeoutError:
            log.warning(
                "calendars: not every calendar was read within %g s; starting with what is"
                " known (the rest follows as it arrives)",
                options.first_load_s,
            )
        hub.start()
        stack.enter_context(app[HUB].holding(hub))
        if services is not None:
            services.hub = hub
        stack.callback(hub.close)
        tasks = [
            asyncio.create_task(hub.run(), name="effective-state"),
            asyncio.create_task(_forward(changes, hub), name="calendar-to-effective"),
        ]
        for task in tasks:
            stack.push_async_callback(_cancel, task)
        yield


async def _forward(changes: AsyncIterator[PresenceChange], hub: EffectiveHub) -> None:
    """Calendar presence changes are inputs of the effective state."""
    async for change in changes:
        hub.notify(change.user_id)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _share_calendars(
    stack: contextlib.AsyncExitStack,
    app: web.Application,
    sync: CalendarSync,
    dsn: str,
    schema: str,
) -> None:
    """Several nodes: poll only the partitions this node leases, adopt the others' snapshots."""
    from storage.postgresql import PG_ERRORS
    from switchboard.calendar_leases import CalendarShare, LeaseTimings

    options = app[OPTIONS]
    timings: LeaseTimings = options.calendar_lease or {}
    share = CalendarShare(dsn, schema, options.node_id, **timings)
    try:
        await share.start(sync)
    except (*PG_ERRORS, RuntimeError) as exc:
        log.error("calendar leases not available, polling every calendar here: %s", exc)
        return
    stack.push_async_callback(share.stop)
    stack.enter_context(app[CALENDAR_SHARE].holding(share))
