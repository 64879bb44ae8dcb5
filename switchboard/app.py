"""The composition root: `create_app(config)` wires calendar sync, the telephone adapter, the
call log, voicemail intake, the web layer and the HTTP server. Each long-lived resource has one
typed key (`switchboard.app_keys`) and one aiohttp cleanup context, opened in order and closed
in reverse; the app has one clock. Domain packages never import it.

Several nodes may share one PostgreSQL database: each serves HTTP, and only the leader
(`switchboard.leadership`) holds the AMI connection and the spool intake
(`switchboard.app_leader.LeaderTerm`).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from calendar_sync.clock import Clock, SystemClock
from calendar_sync.service import CalendarSync
from routing.effective import EffectiveState
from switchboard.app_keys import (
    CALENDAR,
    CALENDAR_SHARE,
    CALLLOG,
    CLOCK,
    CONFIG,
    HUB,
    INTAKE_LOG,
    LEADERSHIP,
    OPTIONS,
    REGISTER,
    RENDERER,
    SIMULATED,
    TELEPHONY,
    WEB,
    IntakeLog,
    Slot,
    StartOptions,
    state_of,
)
from switchboard.app_leader import LEADER_TERM, LeaderTerm, leader_ctx
from switchboard.app_presence import presence_ctx
from switchboard.config import Config
from switchboard.effective import EffectiveHub
from switchboard.leadership import Leadership
from switchboard.storage import make_calllog_store, open_register
from switchboard.telephony.calllog import CallLogStorage
from switchboard.telephony.service import TelephonyService
from switchboard.telephony.sim import SimulatedAsterisk
from switchboard.telephony.sounds import SoundRenderer
from voicemail.intake import IntakeReport
from voicemail.service import Register

if TYPE_CHECKING:
    from switchboard.calendar_leases import CalendarShare, LeaseTimings
    from switchboard.web import WebServices

log = logging.getLogger(__name__)


class CallableClock(SystemClock):
    """A `Clock` over a plain `() -> datetime` (sleeps in real time until its `now` passes)."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now

    def now(self) -> datetime:
        """What the callable says."""
        return self._now()


def as_clock(clock: Clock | Callable[[], datetime] | None) -> Clock:
    """The one clock of the app, from a Clock, a callable, or None (wall-clock time)."""
    if clock is None:
        return SystemClock()
    return clock if isinstance(clock, Clock) else CallableClock(clock)


def spool_dir(config: Config) -> Path:
    """The app_voicemail spool: `voicemail.spool`, or `<data_dir>/spool`."""
    return Path(config.voicemail.spool or Path(config.org.data_dir) / "spool")


async def _calllog_ctx(app: web.Application) -> AsyncIterator[None]:
    """The call-log database (ALV-18, ALV-20), closed last."""
    calllog = app[CALLLOG]
    await calllog.open()
    try:
        yield
    finally:
        await calllog.close()


async def _register_ctx(app: web.Application) -> AsyncIterator[None]:
    """The voicemail register (and the web store, when the web layer is present)."""
    register = await open_register(app[CONFIG])  # SQLite or PostgreSQL (storage: section)
    services = app.get(WEB)
    try:
        with app[REGISTER].holding(register):
            if services is not None:
                services.register = register
                await services.store.open()
            try:
                yield
            finally:
                if services is not None:
                    await services.store.close()
    finally:
        await register.close()


class Runtime:
    """A read-only view of a running app's resources, for the health check and the tests."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    @property
    def config(self) -> Config:
        """The configuration the app runs."""
        return self._app[CONFIG]

    @property
    def time(self) -> Clock:
        """The app's one clock."""
        return self._app[CLOCK]

    def clock(self) -> datetime:
        """Now, by the app's one clock."""
        return self._app[CLOCK].now()

    @property
    def node_id(self) -> str | None:
        """This node's id as configured (None: the leadership's default)."""
        return self._app[OPTIONS].node_id

    @property
    def calendar_buckets(self) -> int:
        """Partitions per calendar source shared between nodes."""
        return self._app[OPTIONS].calendar_buckets

    @property
    def calllog(self) -> CallLogStorage:
        """The call-log store."""
        return self._app[CALLLOG]

    @property
    def register(self) -> Register | None:
        """The voicemail register while open."""
        return self._app[REGISTER].current

    @property
    def calendar(self) -> CalendarSync | None:
        """Calendar sync while running."""
        return self._app[CALENDAR].current

    @property
    def calendar_share(self) -> CalendarShare | None:
        """The calendar partitions shared between nodes (PostgreSQL), while running."""
        return self._app[CALENDAR_SHARE].current

    @property
    def hub(self) -> EffectiveHub | None:
        """The effective state every consumer reads, while running."""
        return self._app[HUB].current

    @property
    def simulated(self) -> SimulatedAsterisk | None:
        """The simulated platform (given, or started by the app)."""
        return self._app[SIMULATED].current

    @property
    def renderer(self) -> SoundRenderer | None:
        """The sound renderer while running."""
        return self._app[RENDERER].current

    @property
    def leadership(self) -> Leadership | None:
        """Who connects to AMI and takes the spool, while running."""
        return self._app[LEADERSHIP].current

    @property
    def telephony(self) -> TelephonyService | None:
        """The telephone adapter while this node leads."""
        return self._app[TELEPHONY].current

    @property
    def web(self) -> WebServices | None:
        """The web layer's services when the web layer is present."""
        return self._app.get(WEB)

    @property
    def intake_reports(self) -> list[IntakeReport]:
        """The last intake passes that took messages."""
        return self._app[INTAKE_LOG].reports

    @property
    def refreshed(self) -> list[str]:
        """The mailboxes sent VoicemailRefresh (`mailbox@context`)."""
        return self._app[INTAKE_LOG].refreshed

    @property
    def term(self) -> LeaderTerm:
        """What the leading node runs (the AMI connection, the intake) and how often it led."""
        return self._app[LEADER_TERM]

    @property
    def leading(self) -> bool:
        """Whether this node leads now (holds the AMI connection and the intake)."""
        leadership = self.leadership
        return leadership is not None and leadership.is_leader

    def state(self) -> EffectiveState:
        """The effective state, computed by the hub."""
        return state_of(self._app)


RUNTIME = web.AppKey("runtime", Runtime)


async def healthz(request: web.Request) -> web.Response:
    """Liveness and the telephone link's state."""
    rt = request.app[RUNTIME]
    svc = rt.telephony
    sup = svc.supervisor if svc else None
    body: Mapping[str, object] = {
        "status": "ok",
        "organisation": rt.config.org.id,
        "platform": svc.settings.platform if svc else None,
        "ami_connected": bool(sup and sup.connected),
        "calls_in_progress": svc.controller.active if svc else 0,
        "register": rt.register is not None,
        "leader": rt.leading,
        "node": rt.leadership.node_id if rt.leadership else None,
    }
    return web.json_response(body)


def _announce(message: str) -> None:
    """Tell the operator on the console (never in the JSON logs, which may be shipped)."""
    print(f"switchboard: {message}", file=sys.stderr, flush=True)


def _setup_web(app: web.Application) -> None:
    """Hand the web layer the services it asks for."""
    from switchboard.web import WebServices, setup_web
    from switchboard.web.auth import ACCOUNTS_FILE, Accounts, AccountsError, load_accounts
    from switchboard.web.services import LivePresence
    from switchboard.web.standalone import dev_password, session_secret
    from switchboard.web.store import WebStore

    config = app[CONFIG]
    clock = app[CLOCK]
    calendar = app[CALENDAR]
    telephony = app[TELEPHONY]
    accounts = Accounts.of([])
    path = Path(config.folder) / ACCOUNTS_FILE
    if path.exists():
        try:
            # accounts without a hash use $SWITCHBOARD_DEV_PASSWORD, or one shown on the console
            accounts, _dev = load_accounts(path, config.directory, dev_password(_announce))
        except AccountsError as exc:
            for line in exc.problems:
                log.error("web accounts not loaded: %s", line)
    store = WebStore.for_storage(config.storage, config.org.data_dir)
    services = WebServices(
        config=config,
        presence=LivePresence(users=lambda: calendar.current.presence if calendar.current else {}),
        store=store,
        accounts=accounts,
        register=None,  # set once opened (_register_ctx)
        call_log=app[CALLLOG],
        spool=spool_dir(config),  # the intake backlog in /metrics
        now=clock.now,
        session_secret=session_secret(_announce),
        telephony_metrics=lambda: telephony.current.metrics_text() if telephony.current else "",
    )
    app[WEB] = services
    setup_web(app, services)


def create_app(
    config: Config,
    *,
    simulated: SimulatedAsterisk | None = None,
    clock: Clock | Callable[[], datetime] | None = None,
    intake_interval_s: float = 2.0,
    intake_settle_s: float = 2.0,
    web_layer: bool = True,
    node_id: str | None = None,
    first_load_s: float = 30.0,
    lead_after: asyncio.Event | None = None,
    calendar_lease: LeaseTimings | None = None,
) -> web.Application:
    """The one composition root shared by `switchboard run` and the tests.

    `clock` is the app's one clock (calendar sync, the effective state, calls, intake, web):
    a `calendar_sync.clock.Clock` (e.g. `ManualClock`, `OffsetClock`) or a `() -> datetime`.
    `lead_after`: do not lead (platform connection, intake) before this event is set — a
    reload's new app waits for the old one to stop leading. `calendar_lease`: the
    `CalendarShare` timings (PostgreSQL), e.g. `{"ttl_s": 2.0, "renew_s": 0.5}`.
    """
    app = web.Application()
    app[CONFIG] = config
    app[CLOCK] = as_clock(clock)
    app[OPTIONS] = StartOptions(
        first_load_s=first_load_s,
        lead_after=lead_after,
        intake_interval_s=intake_interval_s,
        intake_settle_s=intake_settle_s,
        node_id=node_id,
        calendar_lease=calendar_lease,
    )
    app[CALLLOG] = make_calllog_store(config.storage, config.org.data_dir, config.org.code)
    app[REGISTER] = Slot("the voicemail register")
    app[CALENDAR] = Slot("calendar sync")
    app[CALENDAR_SHARE] = Slot("the calendar leases")
    app[HUB] = Slot("the effective state")
    app[SIMULATED] = Slot("the simulated platform", simulated)
    app[RENDERER] = Slot("the sound renderer")
    app[LEADERSHIP] = Slot("the leadership")
    app[TELEPHONY] = Slot("the telephone adapter")
    app[INTAKE_LOG] = IntakeLog()
    app[LEADER_TERM] = LeaderTerm(app, spool_dir(config))
    app[RUNTIME] = Runtime(app)
    app.router.add_get("/healthz", healthz)
    app.cleanup_ctx.append(_calllog_ctx)
    app.cleanup_ctx.append(_register_ctx)
    app.cleanup_ctx.append(presence_ctx)
    app.cleanup_ctx.append(leader_ctx)
    if web_layer:
        _setup_web(app)  # appends its own contexts after ours
    return app
