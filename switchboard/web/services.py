"""What the web layer needs from the rest of the service, handed in by the composition root."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from routing.absence import PresenceBook, UserPresence
from routing.effective import EffectiveState, effective_state
from routing.models import Organisation
from switchboard.config import Config
from switchboard.effective import EffectiveHub
from switchboard.telephony.calllog import CallLogStorage
from switchboard.web.auth import Accounts
from switchboard.web.store import WebStore
from voicemail.service import Register


class PresenceProvider(Protocol):
    """Calendar-derived presence (no manual redirects: the web store adds those)."""

    async def calendar(self, now: datetime) -> Mapping[str, UserPresence]:
        """Every user's calendar presence as known at `now`."""
        ...

    def sync_lag(self, now: datetime) -> Mapping[str, float]:
        """Seconds since each calendar source last synced, by source name."""
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
        from switchboard.state import presence_at

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


@dataclass
class WebServices:
    """Everything the routes use; built by the composition root or `standalone.build_app`."""

    config: Config
    presence: PresenceProvider
    store: WebStore
    accounts: Accounts
    register: Register | None = None
    call_log: CallLogStorage | None = None
    spool: Path | None = None  # app_voicemail's spool, for the intake backlog in /metrics
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    session_secret: bytes = b""
    session_ttl: timedelta = timedelta(hours=8)
    secure_cookies: bool = False  # set True behind HTTPS
    sse_refresh_s: float = 15.0  # the board re-checks expiries this often
    sse_write_timeout_s: float = 10.0  # a board client that stops reading is dropped
    max_body: int = 64 * 1024
    hub: EffectiveHub | None = None  # the running service's effective state (else computed here)
    telephony_metrics: Callable[[], str] | None = None  # the call path's latency histograms
    # the live service level (HAL-03/05) of the last few seconds: (computed at, report)
    service_level_cache: tuple[datetime, dict[str, Any]] | None = None

    def org(self) -> Organisation:
        """The organisation with the administrators' switches applied."""
        if self.hub is not None:
            return self.hub.state().org
        return self.store.switches().apply(self.config.org)

    async def effective(self, now: datetime) -> EffectiveState:
        """Who can be reached: the service's effective state, or (the web alone) the same
        combination of the ICS presence, the manual redirects and the switches."""
        if self.hub is not None:
            return self.hub.state()
        calendar = await self.presence.calendar(now)
        return effective_state(
            self.config.org, calendar, self.store.manual(), self.store.switches()
        )
