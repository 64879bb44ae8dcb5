"""What the web layer needs from the rest of the service, handed in by the composition root."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from routing.models import Organisation, PresenceBook, UserPresence
from switchboard.config import Config
from switchboard.web.auth import Accounts
from switchboard.web.store import WebStore
from voicemail.service import Register

CallEntry = Mapping[str, object]


class PresenceProvider(Protocol):
    """Calendar-derived presence (no manual redirects: the web store adds those)."""

    async def calendar(self, now: datetime) -> Mapping[str, UserPresence]:
        """Every user's calendar presence as known at `now`."""
        ...

    def sync_lag(self, now: datetime) -> Mapping[str, float]:
        """Seconds since each calendar source last synced, by source name."""
        ...


class CallLogSource(Protocol):
    """ALV-18: the call log, read by the IT role."""

    async def calls(self) -> list[CallEntry]:
        """Every logged call, oldest first."""
        ...


@dataclass
class LivePresence:
    """A PresenceProvider over a callable, e.g. `lambda: sync.presence` from calendar sync."""

    users: Callable[[], Mapping[str, UserPresence]]
    lag: Callable[[datetime], Mapping[str, float]] = field(default=lambda _now: {})

    async def calendar(self, now: datetime) -> Mapping[str, UserPresence]:
        """The live calendar presence."""
        return self.users()

    def sync_lag(self, now: datetime) -> Mapping[str, float]:
        """Seconds since each source last synced."""
        return self.lag(now)


class IcsPresence:
    """Presence read from the organisation's ICS files (the core's `presence_at`), re-read
    at most every `max_age` so a page load never parses every calendar."""

    def __init__(self, config: Config, max_age: timedelta = timedelta(seconds=60)) -> None:
        self.config = config
        self.max_age = max_age
        self._book: PresenceBook | None = None
        self._at: datetime | None = None
        self._lock = asyncio.Lock()

    async def calendar(self, now: datetime) -> Mapping[str, UserPresence]:
        """Calendar presence around `now`, cached for `max_age`."""
        from switchboard.cli_core import presence_at

        async with self._lock:
            if self._book is None or self._at is None or abs(now - self._at) > self.max_age:
                self._book = await asyncio.to_thread(presence_at, self.config, now)
                self._at = now
            return self._book.users

    def sync_lag(self, now: datetime) -> Mapping[str, float]:
        """Seconds since the ICS files were last read."""
        if self._at is None:
            return {}
        return {"ics": max(0.0, (now - self._at).total_seconds())}


class JsonlCallLog:
    """The telephone service's call log (`<data_dir>/call_log.jsonl`, one JSON object a line)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    async def calls(self) -> list[CallEntry]:
        """Every readable entry, oldest first; a torn last line is skipped."""
        return await asyncio.to_thread(self._read)

    def _read(self) -> list[CallEntry]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        out: list[CallEntry] = []
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("call_id"):
                out.append(entry)
        return out


@dataclass
class WebServices:
    """Everything the routes use; built by the composition root or `standalone.build_app`."""

    config: Config
    presence: PresenceProvider
    store: WebStore
    accounts: Accounts
    register: Register | None = None
    call_log: CallLogSource | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    session_secret: bytes = b""
    session_ttl: timedelta = timedelta(hours=8)
    secure_cookies: bool = False  # set True behind HTTPS
    sse_refresh_s: float = 15.0  # the board re-checks expiries this often
    max_body: int = 64 * 1024
    calendar_changes: AsyncIterator[object] | None = None  # calendar_sync Subscription

    def org(self) -> Organisation:
        """The organisation with the administrators' switches applied."""
        return self.store.apply(self.config.org)

    async def book(self, now: datetime) -> PresenceBook:
        """Calendar presence plus manual redirects (manual wins while in force, HV-03)."""
        return PresenceBook(await self.presence.calendar(now), self.store.manual())
