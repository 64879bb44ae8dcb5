"""What a calendar fetch gives, and the parse-and-cache logic shared by ICS feeds, files and CalDAV.

A fetch gives, per location, blocks, a `CalendarError`, `UNCHANGED` (same bytes, and the last
parse still covers the window) or `PENDING` (still being read: the result is delivered later).
The `Expander` parses only what changed or what the window outgrew, in worker processes
(calendar_sync.workers) unless a `parser` is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from calendar_sync.errors import CalendarError, CalendarReadTimeout, CalendarUnavailable
from calendar_sync.workers import CalendarReaders, ReadJob
from routing.absence import CalendarBlock

log = logging.getLogger(__name__)


class _Unchanged:
    """Marker: the calendar has not changed since the last fetch (304, same bytes, same mtime)."""

    def __repr__(self) -> str:
        return "UNCHANGED"


class _Pending:
    """Marker: the calendar changed and is still being read; its result is delivered later."""

    def __repr__(self) -> str:
        return "PENDING"


UNCHANGED: Final = _Unchanged()
PENDING: Final = _Pending()
FeedResult = list[CalendarBlock] | CalendarError | _Unchanged | _Pending
Parser = Callable[[bytes, datetime, datetime, ZoneInfo, str], list[CalendarBlock]]
Ready = Callable[[str, FeedResult], None]

TIMEOUT_RETRY_S = 900.0  # a calendar whose read timed out is read again after this long
# Parse a day beyond the window so an unchanged calendar is re-expanded once a day, not per poll.
_PARSE_MARGIN = timedelta(days=1)


@dataclass(slots=True)
class CachedCalendar:
    """What we remember about one calendar between fetches."""

    digest: bytes = b""
    body: bytes | None = None
    parsed_until: datetime | None = None
    error: CalendarError | None = None
    etag: str | None = None
    last_modified: str | None = None
    stat: tuple[int, int, int] | None = None
    task: asyncio.Task[list[CalendarBlock] | CalendarError] | None = None
    task_until: datetime | None = None
    waiting: int = 0  # fetches waiting for `task` right now
    claimed: object = None  # the task whose result a fetch has returned
    error_at: float = 0.0  # monotonic time of `error`


class Expander:
    """Shared parse-and-cache logic: parse only what changed or what the window outgrew.

    Calendars are read in worker processes (calendar_sync.workers) unless a `parser` is given.
    With `deliver_late`, a fetch waits `grace_s` for a read; a slower one (a huge or hostile
    calendar) gives PENDING, and its result goes to the callback when it arrives, so one
    calendar never holds up the others' polls.
    """

    def __init__(
        self,
        tz: ZoneInfo,
        parser: Parser | None,
        source: str,
        readers: CalendarReaders | None = None,
    ) -> None:
        self.tz = tz
        self.parser = parser
        self.source = source
        self.cache: dict[str, CachedCalendar] = {}
        self.parses = 0
        self._readers = readers
        self._own_readers: CalendarReaders | None = None
        self._tasks: set[asyncio.Task[list[CalendarBlock] | CalendarError]] = set()
        self.on_ready: Ready | None = None
        self.grace_s: float | None = None

    async def _read(
        self, location: str, data: bytes, start: datetime, until: datetime
    ) -> list[CalendarBlock] | CalendarError:
        if self.parser is not None:
            try:
                return await asyncio.to_thread(self.parser, data, start, until, self.tz, location)
            except CalendarError as exc:
                return exc
        readers = self._readers
        if readers is None:
            readers = self._own_readers = self._own_readers or CalendarReaders()
        outcome = await readers.aread(ReadJob(data, start, until, self.tz.key, location))
        if isinstance(outcome, CalendarError):
            return outcome
        for item in outcome.skipped:
            log.warning("calendar %s: %s", location, item)
        return list(outcome.blocks)

    def _start(
        self, location: str, entry: CachedCalendar, start: datetime, until: datetime
    ) -> None:
        assert entry.body is not None
        self.parses += 1
        task = asyncio.create_task(
            self._read(location, entry.body, start, until), name=f"calendar-read-{location}"
        )
        entry.task, entry.task_until = task, until
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._done(location, entry, t))

    def _done(
        self,
        location: str,
        entry: CachedCalendar,
        task: asyncio.Task[list[CalendarBlock] | CalendarError],
    ) -> None:
        self._tasks.discard(task)
        if task.cancelled() or entry.task is not task:
            return  # superseded by newer bytes, or shut down
        entry.task = None
        result = task.result()
        if isinstance(result, CalendarError):
            entry.error, entry.error_at = result, time.monotonic()
        else:
            entry.parsed_until = entry.task_until
        if entry.waiting == 0 and entry.claimed is not task and self.on_ready is not None:
            self.on_ready(location, result)

    async def expand(
        self, location: str, body: bytes | None, window_start: datetime, window_end: datetime
    ) -> FeedResult:
        """Blocks for new bytes, UNCHANGED for the same bytes still covering the window,
        PENDING for a read still running after the grace time (then delivered late)."""
        entry = self.cache.setdefault(location, CachedCalendar())
        if body is not None:
            digest = hashlib.blake2b(body, digest_size=16).digest()
            if digest != entry.digest:
                entry.digest, entry.body, entry.parsed_until = digest, body, None
                entry.error, entry.task = None, None  # an older read finishes unused
        if entry.error is not None and not self._retry_timeout(entry):
            return entry.error
        if entry.body is None:
            return CalendarUnavailable(self.source, f"{location}: nothing fetched yet")
        if entry.parsed_until is not None and entry.parsed_until >= window_end:
            return UNCHANGED
        if entry.task is None or (entry.task_until or window_end) < window_end:
            self._start(location, entry, window_start, window_end + _PARSE_MARGIN)
        task = entry.task
        assert task is not None
        entry.waiting += 1
        try:
            await asyncio.wait({task}, timeout=self.grace_s)
        finally:
            entry.waiting -= 1
        if not task.done():
            return PENDING
        entry.claimed = task
        return task.result()

    def _retry_timeout(self, entry: CachedCalendar) -> bool:
        """A read that timed out is tried again after TIMEOUT_RETRY_S (a busy machine is not a
        hostile calendar); other errors stand until the bytes change."""
        if not isinstance(entry.error, CalendarReadTimeout):
            return False
        if time.monotonic() - entry.error_at < TIMEOUT_RETRY_S:
            return False
        entry.error = None
        return True

    def quick(self, location: str, window_end: datetime) -> FeedResult | None:
        """The answer for unchanged bytes when no read is needed (None: call `expand`)."""
        entry = self.cache.get(location)
        if entry is None:
            return None
        if entry.task is not None:
            # A read in progress: delivered by `on_ready` when it ends (or waited for in `expand`).
            return PENDING if self.on_ready is not None else None
        if entry.error is not None:
            return None if isinstance(entry.error, CalendarReadTimeout) else entry.error
        if entry.parsed_until is not None and entry.parsed_until >= window_end:
            return UNCHANGED
        return None

    def deliver_late(self, on_ready: Ready, grace_s: float) -> None:
        """Wait at most `grace_s` per read in a fetch; give slower results to `on_ready`."""
        self.on_ready, self.grace_s = on_ready, grace_s

    async def settle(self) -> None:
        """Wait for every read in progress (their results go to `on_ready`)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def aclose(self) -> None:
        """Cancel reads in progress and stop the worker processes this expander started."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._own_readers is not None:
            readers, self._own_readers = self._own_readers, None
            await asyncio.to_thread(readers.close)
