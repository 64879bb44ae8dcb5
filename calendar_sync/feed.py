"""Published ICS feeds over HTTP (conditional GET) and local ICS files (mtime/size watching).

Both read through an `Expander` (calendar_sync.expander): a calendar is parsed again only when its
bytes changed or the window outgrew the last parse.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp

from calendar_sync.errors import CalendarUnavailable
from calendar_sync.expander import CachedCalendar, Expander, FeedResult, Parser
from calendar_sync.workers import CalendarReaders

FEED_SOURCE = "ics_url"
FILE_SOURCE = "ics"


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
        entry = self._expander.cache.setdefault(url, CachedCalendar())
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
            entry = self._expander.cache.setdefault(path, CachedCalendar())
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
