"""Presence for a whole directory from local ICS files, with a content-hash cache of busy blocks.

Parsing is the expensive part (about 9 ms per Outlook calendar), so the blocks of each calendar
are cached by the SHA-256 of its bytes and the day-aligned window; a restart reuses them. Cold
calendars are read in bounded worker processes (calendar_sync.workers), so one endless series
costs its time limit once and is remembered as unreadable until the file changes. A call decision
never parses anything.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from calendar_sync.block_rows import blocks_of, rows_of
from calendar_sync.errors import CalendarError, CalendarReadTimeout, CalendarUnavailable
from calendar_sync.expander import TIMEOUT_RETRY_S
from calendar_sync.workers import CalendarReaders, ReadJob, ReadLimits
from routing.absence import CalendarBlock, ManualRedirect, PresenceBook, UserPresence
from routing.models import User
from routing.presence import PresenceRules, build_user_presence

log = logging.getLogger(__name__)

DEFAULT_LOOKBEHIND = timedelta(hours=1)
DEFAULT_LOOKAHEAD = timedelta(days=8)
# Bump when the rows' format or meaning changes: old entries become misses. v3: every calendar's
# own VTIMEZONEs (v2 blocks may hold another calendar's "Customized Time Zone" offsets).
CACHE_VERSION = "v3"


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


# The cache's rows (calendar_sync.block_rows: epoch seconds, much cheaper to decode than ISO).
_encode = rows_of
_decode = blocks_of


class BlockCache:
    """Busy blocks by (content hash, window), kept in memory and optionally in a JSON file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._entries: dict[str, Any] = {}  # rows, or {"error": text}
        self._instants: dict[float, datetime] = {}  # epoch seconds → datetime, for _decode
        self._window: tuple[Window, str] | None = None  # the last window and its key part
        if path is not None and path.is_file():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(loaded, dict):
                    self._entries = loaded
            except (OSError, ValueError) as exc:
                log.warning("calendar cache %s unreadable, starting empty: %s", path, exc)

    def _key(self, digest: str, window: Window) -> str:
        if self._window is None or self._window[0] != window:
            self._window = (window, f"|{CACHE_VERSION}|{window.key()}")
            self._instants.clear()  # kept for one window at a time: bounded
        return digest + self._window[1]

    def get(self, digest: str, window: Window) -> list[CalendarBlock] | None:
        """Cached blocks, or None."""
        rows = self._entries.get(self._key(digest, window))
        return _decode(rows, self._instants) if isinstance(rows, list) else None

    def error(self, digest: str, window: Window) -> str | None:
        """Why these bytes could not be read over this window, if that is remembered."""
        entry = self._entries.get(self._key(digest, window))
        if not isinstance(entry, dict):
            return None
        until = entry.get("until")
        if isinstance(until, int | float) and time.time() >= until:
            return None  # a timed-out read: try again
        return str(entry.get("error"))

    def put(self, digest: str, window: Window, blocks: list[CalendarBlock]) -> None:
        """Remember the blocks of one calendar for one window."""
        self._entries[self._key(digest, window)] = _encode(blocks)

    def put_error(
        self, digest: str, window: Window, error: str, retry_s: float | None = None
    ) -> None:
        """Remember that these bytes cannot be read (so a hostile file costs its limit once);
        with `retry_s`, only for that long (a timeout may have met a busy machine)."""
        entry: dict[str, object] = {"error": error}
        if retry_s is not None:
            entry["until"] = time.time() + retry_s
        self._entries[self._key(digest, window)] = entry

    def save(self, keep: set[str] | None = None) -> None:
        """Write the cache atomically (only the entries in `keep`, when given)."""
        if self.path is None:
            return
        entries = {  # entries of older versions are dropped, not carried along
            k: v
            for k, v in self._entries.items()
            if k.split("|")[1:2] == [CACHE_VERSION] and (keep is None or k.split("|")[0] in keep)
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.path)


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
    limits: ReadLimits | None = None,
) -> dict[str, CalendarRead]:
    """Read every user's local ICS calendar; a broken, missing or too complex one is marked,
    never fatal, and never holds up the others beyond its time limit."""
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
        known_error = cache.error(digest, window) if cached is None else None
        if cached is not None:
            reads[user.id] = CalendarRead(user.id, tuple(cached), None, digest)
        elif known_error is not None:
            reads[user.id] = CalendarRead(user.id, (), known_error, digest)
        else:
            cold.append((user.id, digest, data))
    if not cold:
        return reads
    jobs = [ReadJob(data, window.start, window.end, tz.key, uid) for uid, _, data in cold]
    size = min(len(jobs), workers or os.cpu_count() or 1)
    with CalendarReaders(size, limits) as readers:
        results = readers.read_many(jobs)
    for (uid, digest, _), outcome in zip(cold, results, strict=True):
        if isinstance(outcome, CalendarError):
            error = str(outcome)
            log.warning("calendar of %s unavailable: %s", uid, error)
            if isinstance(outcome, CalendarReadTimeout):
                cache.put_error(digest, window, error, retry_s=TIMEOUT_RETRY_S)
            elif not isinstance(outcome, CalendarUnavailable):  # not a passing failure
                cache.put_error(digest, window, error)
            reads[uid] = CalendarRead(uid, (), error, digest)
            continue
        for item in outcome.skipped:
            log.warning("calendar of %s: %s", uid, item)
        cache.put(digest, window, list(outcome.blocks))
        reads[uid] = CalendarRead(uid, outcome.blocks, None, digest)
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
