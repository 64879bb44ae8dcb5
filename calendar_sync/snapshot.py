"""Presence for a whole directory from local ICS files, with a content-hash cache of busy blocks.

Parsing is the expensive part (about 9 ms per Outlook calendar), so the blocks of each calendar
are cached by the SHA-256 of its bytes and the day-aligned window; a restart reuses them, and
many cold calendars are parsed in a process pool. A call decision never parses anything.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from calendar_sync.errors import CalendarError
from calendar_sync.ics import parse_ics
from routing.models import (
    BusyStatus,
    CalendarBlock,
    ManualRedirect,
    PresenceBook,
    User,
    UserPresence,
)
from routing.presence import PresenceRules, build_user_presence

log = logging.getLogger(__name__)

DEFAULT_LOOKBEHIND = timedelta(hours=1)
DEFAULT_LOOKAHEAD = timedelta(days=8)
POOL_THRESHOLD = 64  # below this many cold calendars a process pool costs more than it saves
CACHE_VERSION = "v2"  # bump when the row format changes: old entries become misses


@dataclass(frozen=True, slots=True)
class Window:
    """A day-aligned expansion window, so cached blocks stay valid for a whole day."""

    start: datetime
    end: datetime

    @classmethod
    def around(
        cls,
        now: datetime,
        tz: ZoneInfo,
        behind: timedelta = DEFAULT_LOOKBEHIND,
        ahead: timedelta = DEFAULT_LOOKAHEAD,
    ) -> Window:
        """Midnight (local) before now-behind, to midnight after now+ahead."""
        lo = (now - behind).astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
        hi = (now + ahead).astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
        return cls(lo, hi + timedelta(days=1))

    def key(self) -> str:
        """Cache key part for this window."""
        return f"{self.start.isoformat()}/{self.end.isoformat()}"


_STATUSES = {s.value: s for s in BusyStatus}


def _encode(blocks: Iterable[CalendarBlock]) -> list[list[object]]:
    """Blocks as JSON rows with epoch seconds (much cheaper to decode than ISO strings)."""
    return [
        [b.start.timestamp(), b.end.timestamp(), b.status.value, b.subject, b.private, b.all_day]
        for b in blocks
    ]


def _decode(rows: list[list[Any]]) -> list[CalendarBlock]:
    ts = datetime.fromtimestamp
    return [
        CalendarBlock(ts(r[0], UTC), ts(r[1], UTC), _STATUSES[r[2]], r[3], r[4], r[5]) for r in rows
    ]


class BlockCache:
    """Busy blocks by (content hash, window), kept in memory and optionally in a JSON file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._entries: dict[str, list[list[Any]]] = {}
        if path is not None and path.is_file():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(loaded, dict):
                    self._entries = loaded
            except (OSError, ValueError) as exc:
                log.warning("calendar cache %s unreadable, starting empty: %s", path, exc)

    def get(self, digest: str, window: Window) -> list[CalendarBlock] | None:
        """Cached blocks, or None."""
        rows = self._entries.get(f"{digest}|{CACHE_VERSION}|{window.key()}")
        return None if rows is None else _decode(rows)

    def put(self, digest: str, window: Window, blocks: list[CalendarBlock]) -> None:
        """Remember the blocks of one calendar for one window."""
        self._entries[f"{digest}|{CACHE_VERSION}|{window.key()}"] = _encode(blocks)

    def save(self, keep: set[str] | None = None) -> None:
        """Write the cache atomically (only the entries in `keep`, when given)."""
        if self.path is None:
            return
        entries = self._entries
        if keep is not None:
            entries = {k: v for k, v in entries.items() if k.split("|", 1)[0] in keep}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.path)


def _parse_job(job: tuple[bytes, datetime, datetime, str, str]) -> tuple[list[list[object]], str]:
    """Worker: parse one calendar; returns (encoded blocks, error text or '')."""
    data, start, end, tz_name, source = job
    try:
        return _encode(parse_ics(data, start, end, ZoneInfo(tz_name), source)), ""
    except CalendarError as exc:
        return [], str(exc)


@dataclass(frozen=True)
class CalendarRead:
    """One user's calendar as read: blocks, or the reason it is unavailable."""

    user_id: str
    blocks: tuple[CalendarBlock, ...]
    error: str | None
    digest: str | None


def read_ics_calendars(
    users: Iterable[User],
    window: Window,
    tz: ZoneInfo,
    cache: BlockCache | None = None,
    workers: int | None = None,
) -> dict[str, CalendarRead]:
    """Read every user's local ICS calendar; a broken or missing one is marked, never fatal."""
    cache = cache or BlockCache()
    reads: dict[str, CalendarRead] = {}
    cold: list[tuple[str, str, bytes]] = []
    for user in users:
        if user.calendar is None or user.calendar.kind != "ics":
            continue
        try:
            data = Path(user.calendar.location).read_bytes()
        except OSError as exc:
            reads[user.id] = CalendarRead(user.id, (), f"calendar file unreadable: {exc}", None)
            continue
        digest = hashlib.sha256(data).hexdigest()
        cached = cache.get(digest, window)
        if cached is not None:
            reads[user.id] = CalendarRead(user.id, tuple(cached), None, digest)
        else:
            cold.append((user.id, digest, data))
    jobs = [(data, window.start, window.end, tz.key, uid) for uid, _, data in cold]
    if len(jobs) >= POOL_THRESHOLD and (workers is None or workers > 1):
        with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            results = list(pool.map(_parse_job, jobs, chunksize=16))
    else:
        results = [_parse_job(job) for job in jobs]
    for (uid, digest, _), (rows, error) in zip(cold, results, strict=True):
        if error:
            log.warning("calendar of %s unavailable: %s", uid, error)
            reads[uid] = CalendarRead(uid, (), error, digest)
            continue
        blocks = _decode(rows)
        cache.put(digest, window, blocks)
        reads[uid] = CalendarRead(uid, tuple(blocks), None, digest)
    return reads


def presence_book(
    reads: Mapping[str, CalendarRead],
    rules: PresenceRules,
    normalise: Callable[[str], str | None] | None = None,
    manual: Mapping[str, ManualRedirect] | None = None,
    fetched_at: datetime | None = None,
) -> PresenceBook:
    """A PresenceBook from calendar reads plus manual redirects (which take precedence)."""
    users: dict[str, UserPresence] = {}
    for uid, read in reads.items():
        users[uid] = build_user_presence(uid, read.blocks, rules, normalise, read.error, fetched_at)
    return PresenceBook(users, dict(manual or {}))
