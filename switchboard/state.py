"""The effective state read from an organisation folder, for the commands that do not run the
service (`route`, `presence`, `call`, the web alone): the calendar presence from the ICS files,
and the manual redirects and administrators' switches from the same store the running service
writes. Combined by `routing.effective.effective_state`, like everywhere else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from calendar_sync.snapshot import BlockCache, Window, presence_book, read_ics_calendars
from routing.absence import ManualRedirect, PresenceBook
from routing.effective import EffectiveState, Switches, effective_state
from switchboard.config import Config, normaliser

log = logging.getLogger(__name__)


def presence_at(config: Config, now: datetime) -> PresenceBook:
    """Presence of every user from the ICS calendars, around `now` (cached by content hash)."""
    window = Window.around(now, config.org.timezone)
    cache_path = Path(config.org.data_dir) / "cache" / "ics-blocks.json"
    cache = BlockCache(cache_path)
    reads = read_ics_calendars(config.directory.users, window, config.org.timezone, cache)
    try:
        cache.save(keep={r.digest for r in reads.values() if r.digest})
    except OSError as exc:
        log.warning("calendar cache not saved: %s", exc)
    return presence_book(reads, config.rules, normaliser(config), fetched_at=now)


async def stored_inputs(config: Config) -> tuple[Mapping[str, ManualRedirect], Switches]:
    """The manual redirects and switches the service's web store holds (none if it has none)."""
    from switchboard.web.store import DB_NAME, WebStore

    settings = config.storage
    if settings.engine != "postgresql":
        path = Path(config.org.data_dir) / "web" / DB_NAME
        if not await asyncio.to_thread(path.exists):
            return {}, Switches()
    store = WebStore.for_storage(settings, config.org.data_dir)
    await store.open()
    try:
        return store.manual(), store.switches()
    finally:
        await store.close()


async def effective_at(config: Config, now: datetime) -> EffectiveState:
    """What the service decides at `now` for this folder: calendar, manual, switches."""
    book = await asyncio.to_thread(presence_at, config, now)
    manual, switches = await stored_inputs(config)
    return effective_state(config.org, book.users, manual, switches)
