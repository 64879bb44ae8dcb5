"""Published ICS feeds over HTTP (conditional GET) and local ICS files (mtime/size watching)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

import aiohttp

from calendar_sync.errors import CalendarError, CalendarReadTimeout, CalendarUnavailable
from calendar_sync.workers import CalendarReaders, ReadJob
from routing.models import CalendarBlock

log = logging.getLogger(__name__)

FEED_SOURCE = "ics_url"
FILE_SOURCE = "ics"


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


def default_parser() -> Parser:
    """The project's iCalendar parser (calendar_sync.ics.parse_ics)."""
    from calendar_sync.ics import parse_ics

    return parse_ics


@dataclass(slots=True)
class _Cached:
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
        self.cache: dict[str, _Cached] = {}
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

    def _start(self, location: str, entry: _Cached, start: datetime, until: datetime) -> None:
        assert entry.body is not None
        self.parses += 1
        task = asyncio.create_task(
            self._read(location, entry.body, start, until), name=f"calendar-read-{location}"
        )
        entry.task, entry.task_until = task, until
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._done(location, entry, t))

    def _done(
        self, location: str, entry: _Cached, task: asyncio.Task[list[CalendarBlock] | CalendarError]
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
        entry = self.cache.setdefault(location, _Cached())
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

    def _retry_timeout(self, entry: _Cached) -> bool:
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


def feed_client_session(concurrency: int, keepalive_s: float = 30.0) -> aiohttp.ClientSession:
    """One shared session for every feed: keep-alive, `concurrency` connections per host."""
    connector = aiohttp.TCPConnector(
        limit=max(100, concurrency), limit_per_host=concurrency, keepalive_timeout=keepalive_s
    )
    return aiohttp.ClientSession(connector=connector)


class IcsFeedClient:
    """Fetches published ICS feeds with ETag / If-Modified-Since, a size limit and a timeout."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        tz: ZoneInfo,
        *,
        max_bytes: int = 5_000_000,
        timeout_s: float = 20.0,
        concurrency: int = 16,
        parser: Parser | None = None,
        readers: CalendarReaders | None = None,
    ) -> None:
        self._session = session
        self._max_bytes = max_bytes
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._concurrency = max(1, concurrency)
        self._semaphore = asyncio.Semaphore(self._concurrency)
        self._expander = Expander(tz, parser, FEED_SOURCE, readers)
        self.deliver_late = self._expander.deliver_late
        self.settle = self._expander.settle
        self.aclose = self._expander.aclose
        self.not_modified = 0  # 304 answers seen, for tests and the benchmark

    @property
    def parses(self) -> int:
        """How many times a calendar was parsed."""
        return self._expander.parses

    async def fetch(
        self, urls: Sequence[str], window_start: datetime, window_end: datetime
    ) -> dict[str, FeedResult]:
        """Blocks, UNCHANGED or an error per URL; raises when every URL failed to download.

        A few workers (at most `concurrency`, shared across calls) take the URLs in turn: no task
        per feed.
        """
        out: dict[str, FeedResult] = {}
        pending = iter(urls)

        async def worker() -> None:
            for url in pending:
                out[url] = await self._one(url, window_start, window_end)

        workers = min(self._concurrency, len(urls))
        if workers == 1:
            await worker()
        elif workers:
            await asyncio.gather(*(worker() for _ in range(workers)))
        ordered = {u: out[u] for u in urls}
        failed = [r for r in ordered.values() if isinstance(r, CalendarUnavailable)]
        if len(urls) > 1 and len(failed) == len(urls):
            raise failed[0]
        return ordered

    async def _one(self, url: str, window_start: datetime, window_end: datetime) -> FeedResult:
        async with self._semaphore:
            try:
                body = await self._download(url)
            except CalendarUnavailable as exc:
                return exc
        if body is None:
            quick = self._expander.quick(url, window_end)
            if quick is not None:
                return quick  # 304 and the parse still covers the window (or is under way)
        return await self._expander.expand(url, body, window_start, window_end)

    async def _download(self, url: str) -> bytes | None:
        """The feed's bytes, or None when the server says 304 Not Modified."""
        entry = self._expander.cache.get(url)
        headers: dict[str, str] = {}
        if entry is not None and entry.body is not None:
            if entry.etag:
                headers["If-None-Match"] = entry.etag
            if entry.last_modified:
                headers["If-Modified-Since"] = entry.last_modified
        try:
            async with self._session.get(url, headers=headers, timeout=self._timeout) as resp:
                if resp.status == 304:
                    self.not_modified += 1
                    return None
                if resp.status != 200:
                    retry = resp.headers.get("Retry-After")
                    wait = float(retry) if retry and retry.isdigit() else None
                    raise CalendarUnavailable(FEED_SOURCE, f"{url}: HTTP {resp.status}", wait)
                if resp.content_length is not None and resp.content_length > self._max_bytes:
                    raise CalendarUnavailable(
                        FEED_SOURCE, f"{url}: larger than {self._max_bytes} bytes"
                    )
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.content.iter_chunked(65536):
                    size += len(chunk)
                    if size > self._max_bytes:
                        raise CalendarUnavailable(
                            FEED_SOURCE, f"{url}: larger than {self._max_bytes} bytes"
                        )
                    chunks.append(chunk)
                etag = resp.headers.get("ETag")
                last_modified = resp.headers.get("Last-Modified")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise CalendarUnavailable(FEED_SOURCE, f"{url}: {type(exc).__name__}: {exc}") from exc
        entry = self._expander.cache.setdefault(url, _Cached())
        entry.etag, entry.last_modified = etag, last_modified
        return b"".join(chunks)


def _stat_all(paths: Sequence[str]) -> list[tuple[int, int, int] | None]:
    out: list[tuple[int, int, int] | None] = []
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            out.append(None)
        else:
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return out


class IcsFileWatcher:
    """Local ICS files: a cheap stat of every file per poll, a read and parse only on change."""

    def __init__(
        self, tz: ZoneInfo, *, parser: Parser | None = None, readers: CalendarReaders | None = None
    ) -> None:
        self._expander = Expander(tz, parser, FILE_SOURCE, readers)
        self.deliver_late = self._expander.deliver_late
        self.settle = self._expander.settle
        self.aclose = self._expander.aclose

    @property
    def parses(self) -> int:
        """How many times a calendar was parsed."""
        return self._expander.parses

    async def fetch(
        self, paths: Sequence[str], window_start: datetime, window_end: datetime
    ) -> dict[str, FeedResult]:
        """Blocks, UNCHANGED, PENDING or an error per file path; changed files are read
        concurrently."""
        stats = await asyncio.to_thread(_stat_all, paths)
        out: dict[str, FeedResult] = {}
        work: dict[str, bytes | None] = {}
        for path, st in zip(paths, stats, strict=True):
            entry = self._expander.cache.setdefault(path, _Cached())
            if st is None:
                entry.stat, entry.task = None, None
                entry.digest, entry.body, entry.parsed_until = b"", None, None
                entry.error = CalendarUnavailable(FILE_SOURCE, f"{path}: file missing")
                out[path] = entry.error
                continue
            if st == entry.stat:
                quick = self._expander.quick(path, window_end)
                if quick is not None:
                    out[path] = quick
                else:
                    work[path] = None
                continue
            try:
                body = await asyncio.to_thread(Path(path).read_bytes)
            except OSError as exc:
                out[path] = CalendarUnavailable(FILE_SOURCE, f"{path}: {exc.strerror}")
                continue
            entry.stat = st
            if entry.body is None:
                entry.error = None
            work[path] = body
        expand = self._expander.expand
        results = await asyncio.gather(
            *(expand(path, body, window_start, window_end) for path, body in work.items())
        )
        out.update(zip(work, results, strict=True))
        return {p: out[p] for p in paths}
