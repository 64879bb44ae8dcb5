"""The app's typed keys: one `web.AppKey` per resource, the one clock, the start options.

Each resource that opens at start-up lives in a `Slot` set once by `create_app`; its cleanup
context fills the slot when the resource is open and empties it when it is closed, so a
handler (or a test) sees either a running resource or none. `Runtime` is a read-only view over
these keys (in `switchboard.app`) for the health check and the tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from aiohttp import web

from calendar_sync.clock import Clock
from calendar_sync.service import CalendarSync
from routing.effective import EffectiveState
from switchboard.config import Config
from switchboard.effective import EffectiveHub
from switchboard.leadership import Leadership
from switchboard.telephony.calllog import CallLogStorage
from switchboard.telephony.service import TelephonyService
from switchboard.telephony.sim import SimulatedAsterisk
from switchboard.telephony.sounds import SoundRenderer
from voicemail.intake import IntakeReport
from voicemail.service import Register

if TYPE_CHECKING:
    from switchboard.calendar_leases import CalendarShare, LeaseTimings
    from switchboard.web import WebServices

T = TypeVar("T")


class Slot(Generic[T]):
    """Where one resource lives while it runs: empty before it opens and after it closes."""

    def __init__(self, name: str, value: T | None = None) -> None:
        self.name = name
        self._value = value

    @property
    def current(self) -> T | None:
        """The resource when it runs, else None."""
        return self._value

    def get(self) -> T:
        """The running resource; a clear error when it is not running."""
        if self._value is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._value

    @contextmanager
    def holding(self, value: T) -> Iterator[T]:
        """Hold `value` for the duration of the block (a cleanup context's `yield`)."""
        self._value = value
        try:
            yield value
        finally:
            self._value = None


@dataclass(frozen=True)
class StartOptions:
    """How the app starts (the arguments of `create_app` beyond the config and the clock)."""

    first_load_s: float = 30.0  # how long the start waits for every calendar's first read
    lead_after: asyncio.Event | None = None  # a reload's new app leads once the old one stopped
    intake_interval_s: float = 2.0
    intake_settle_s: float = 2.0
    node_id: str | None = None  # default <host>:<pid>
    calendar_buckets: int = 4  # partitions per calendar source shared between nodes (PG)
    calendar_lease: LeaseTimings | None = None  # CalendarShare timings (PostgreSQL)


@dataclass
class IntakeLog:
    """What the intake did lately (for the tests and the operator): passes that took messages,
    and the mailboxes sent VoicemailRefresh."""

    reports: list[IntakeReport] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)

    def add(self, report: IntakeReport) -> None:
        """Keep a pass that took messages (the last 100)."""
        if report.taken:
            self.reports.append(report)
            del self.reports[:-100]

    def refresh(self, mailbox: str, context: str) -> None:
        """Note a VoicemailRefresh sent (the last 1000)."""
        self.refreshed.append(f"{mailbox}@{context}")
        del self.refreshed[:-1000]


CONFIG = web.AppKey("config", Config)
CLOCK = web.AppKey("clock", Clock)
OPTIONS = web.AppKey("options", StartOptions)
CALLLOG = web.AppKey("calllog", CallLogStorage)
REGISTER: web.AppKey[Slot[Register]] = web.AppKey("register")
CALENDAR: web.AppKey[Slot[CalendarSync]] = web.AppKey("calendar")
CALENDAR_SHARE: web.AppKey[Slot[CalendarShare]] = web.AppKey("calendar_share")
HUB: web.AppKey[Slot[EffectiveHub]] = web.AppKey("hub")
SIMULATED: web.AppKey[Slot[SimulatedAsterisk]] = web.AppKey("simulated")
RENDERER: web.AppKey[Slot[SoundRenderer]] = web.AppKey("renderer")
LEADERSHIP: web.AppKey[Slot[Leadership]] = web.AppKey("leadership")
TELEPHONY: web.AppKey[Slot[TelephonyService]] = web.AppKey("telephony")  # while leading
INTAKE_LOG = web.AppKey("intake_log", IntakeLog)
WEB: web.AppKey[WebServices] = web.AppKey("web")  # present when the web layer is


def state_of(app: web.Application) -> EffectiveState:
    """The effective state (calendar + manual redirects + switches), computed by the hub."""
    hub = app[HUB].current
    if hub is None:
        raise RuntimeError("the effective state is not running")
    return hub.state()
