"""Published ICS feeds over HTTP (conditional GET) and local ICS files (mtime/size watching)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

import aiohttp

from calendar_sync.errors import CalendarError, CalendarUnavailable
from routing.models import CalendarBlock

FEED_SOURCE = "ics_url"
FILE_SOURCE = "ics"


class _Unchanged:
    """Marker: the calendar has not changed since the last fetch (304, same bytes, same mtime)."""

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = _Unchanged()
FeedResult = list[CalendarBlock] | CalendarError | _Unchanged
Parser = Callable[[bytes, datetime, datetime, ZoneInfo, str], list[CalendarBlock]]

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


class _Expander:
    """Shared parse-and-cache logic: parse only what changed or what the window outgrew."""

    def __init__(self, tz: ZoneInfo, parser: Parser | None, source: str) -> None:
        self.tz = tz
        self.parser = parser or default_parser()
        self.source = source
        self.cache: dict[str, _Cached] = {}
        self.parses = 0

    async def expand(
        self, location: str, body: bytes | None, window_start: datetime, window_end: datetime
    ) -> FeedResult:
        """Blocks for new bytes, UNCHANGED for the same bytes still covering the window."""
        entry = self.cache.setdefault(location, _Cached())
        if body is not None:
            digest = hashlib.blake2b(body, digest_size=16).digest()
            if digest != entry.digest:
                entry.digest, entry.body, entry.parsed_until = digest, body, None
                entry.error = None
        if entry.error is not None:
            return entry.error
        if entry.body is None:
            return CalendarUnavailable(self.source, f"{location}: nothing fetched yet")
        if entry.parsed_until is not None and entry.parsed_until >= window_end:
            return UNCHANGED
        until = window_end + _PARSE_MARGIN
        data = entry.body
        self.parses += 1
        try:
            blocks = await asyncio.to_thread(
                self.parser, data, window_start, until, self.tz, location
            )
        except CalendarError as exc:
            entry.error = exc
            return exc
        entry.parsed_until = until
        return blocks


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
    ) -> None:
        self._session = session
        self._max_bytes = max_bytes
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._concurrency = max(1, concurrency)
        self._semaphore = asyncio.Semaphore(self._concurrency)
        self._expander = _Expander(tz, parser, FEED_SOURCE)
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
            entry = self._expander.cache.get(url)
            if (
                entry is not None
                and entry.error is None
                and entry.parsed_until is not None
                and entry.parsed_until >= window_end
            ):
                return UNCHANGED  # 304 and the parse still covers the window: no work
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

    def __init__(self, tz: ZoneInfo, *, parser: Parser | None = None) -> None:
        self._expander = _Expander(tz, parser, FILE_SOURCE)

    @property
    def parses(self) -> int:
        """How many times a calendar was parsed."""
        return self._expander.parses

    async def fetch(
        self, paths: Sequence[str], window_start: datetime, window_end: datetime
    ) -> dict[str, FeedResult]:
        """Blocks, UNCHANGED or an error per file path."""
        stats = await asyncio.to_thread(_stat_all, paths)
        out: dict[str, FeedResult] = {}
        for path, st in zip(paths, stats, strict=True):
            entry = self._expander.cache.setdefault(path, _Cached())
            if st is None:
                entry.stat = None
                entry.digest, entry.body, entry.parsed_until = b"", None, None
                entry.error = CalendarUnavailable(FILE_SOURCE, f"{path}: file missing")
                out[path] = entry.error
                continue
            body: bytes | None = None
            if st != entry.stat:
                try:
                    body = await asyncio.to_thread(Path(path).read_bytes)
                except OSError as exc:
                    out[path] = CalendarUnavailable(FILE_SOURCE, f"{path}: {exc.strerror}")
                    continue
                entry.stat = st
                if entry.body is None:
                    entry.error = None
            out[path] = await self._expander.expand(path, body, window_start, window_end)
        return out
