"""The composition root: `create_app(config)` wires calendar sync, the telephone adapter, the
call log, voicemail intake, the web layer and the HTTP server; long-lived resources are aiohttp
cleanup contexts, opened in order and closed in reverse. Domain packages never import it.

Several nodes may share one PostgreSQL database: each serves HTTP, and only the leader
(`switchboard.leadership`) holds the AMI connection and the spool intake (`LeaderTerm`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from calendar_sync.clock import Clock, SystemClock
from routing.effective import EffectiveState
from routing.models import UserPresence
from switchboard.config import Config
from switchboard.effective import EffectiveHub
from switchboard.leadership import Leadership, SoleLeader, make_leadership
from switchboard.storage import make_calllog_store, open_register, storage_settings
from switchboard.telephony.calllog import CallLogStorage
from switchboard.telephony.config import TelephonySettings, parse_telephony
from switchboard.telephony.service import TelephonyService, sounds_dir
from switchboard.telephony.simulated import SimulatedAsterisk
from switchboard.telephony.sounds import SoundRenderer
from voicemail.intake import IntakeReport, SpoolIntake
from voicemail.notify_config import NotifySettings
from voicemail.owner_checks import OwnerSide
from voicemail.owner_greeting import greetings_of, watch_greetings
from voicemail.service import Register

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


@dataclass
class Runtime:
    """What the contexts share: set while the app runs, for the handlers and the tests."""

    config: Config
    time: Clock = field(default_factory=SystemClock)
    first_load_s: float = 30.0  # how long the start waits for every calendar's first read
    lead_after: asyncio.Event | None = None  # a reload's new app leads once the old one stopped
    intake_interval_s: float = 2.0
    intake_settle_s: float = 2.0
    simulated: SimulatedAsterisk | None = None
    calllog: CallLogStorage | None = None
    register: Register | None = None
    renderer: SoundRenderer | None = None
    telephony: TelephonyService | None = None
    calendar: Any = None  # calendar_sync.CalendarSync when it started
    hub: EffectiveHub | None = None  # the effective state every consumer reads
    web: Any = None  # switchboard.web.WebServices when the web layer is present
    intake_reports: list[IntakeReport] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)  # mailboxes sent VoicemailRefresh
    leadership: Leadership | None = None  # who connects to AMI and takes the spool (PG)
    term: Any = None  # LeaderTerm while the app runs
    node_id: str | None = None  # default <host>:<pid>
    calendar_buckets: int = 4  # partitions per calendar source shared between nodes (PG)
    calendar_lease: dict[str, Any] = field(default_factory=dict)  # CalendarShare timings
    calendar_share: Any = None  # switchboard.calendar_leases.CalendarShare on PostgreSQL

    def clock(self) -> datetime:
        """Now, by the app's one clock."""
        return self.time.now()

    @property
    def leading(self) -> bool:
        """Whether this node leads now (holds the AMI connection and the intake)."""
        return self.leadership is not None and self.leadership.is_leader

    def state(self) -> EffectiveState:
        """The effective state (calendar + manual redirects + switches), computed by the hub."""
        if self.hub is None:
            raise RuntimeError("the effective state is not running")
        return self.hub.state()


CONFIG = web.AppKey("config", Config)
RUNTIME = web.AppKey("runtime", Runtime)


def telephony_settings(config: Config) -> TelephonySettings:
    """The parsed `telephony:` section (the loader's, or parsed here if it has not)."""
    parsed = config.settings.get("telephony")
    if isinstance(parsed, TelephonySettings):
        return parsed
    settings, _ = parse_telephony(config.sections.get("telephony"))
    return settings


def spool_dir(config: Config) -> Path:
    """The app_voicemail spool: `voicemail.spool`, or `<data_dir>/spool`."""
    return Path(config.voicemail.spool or Path(config.org.data_dir) / "spool")


async def _calllog_ctx(app: web.Application) -> AsyncIterator[None]:
    """The call-log database (ALV-18, ALV-20), closed last."""
    rt = app[RUNTIME]
    assert rt.calllog is not None
    await rt.calllog.open()
    try:
        yield
    finally:
        await rt.calllog.close()


async def _register_ctx(app: web.Application) -> AsyncIterator[None]:
    """The voicemail register (and the web store, when the web layer is present)."""
    rt = app[RUNTIME]
    config = rt.config
    rt.register = await open_register(config)  # SQLite or PostgreSQL (storage: section)
    try:
        if rt.web is not None:
            rt.web.register = rt.register
            await rt.web.store.open()
        try:
            yield
        finally:
            if rt.web is not None:
                await rt.web.store.close()
    finally:
        await rt.register.close()
        rt.register = None


async def _presence_ctx(app: web.Application) -> AsyncIterator[None]:
    """Calendar sync and the effective state over it, the manual redirects and the switches.

    A calendar configuration that cannot start (e.g. missing credentials) stops the start-up
    with its error: a service that showed everyone available would be worse than none.
    """
    from calendar_sync.service import open_calendar_sync
    from calendar_sync.sources import CalendarSourcesSettings

    rt = app[RUNTIME]
    config = rt.config
    async with contextlib.AsyncExitStack() as stack:
        raw = config.settings.get("calendar_sources")
        sources = raw if isinstance(raw, CalendarSourcesSettings) else CalendarSourcesSettings()
        storage = storage_settings(config)
        shared = storage.engine == "postgresql" and bool(storage.dsn)
        buckets = rt.calendar_buckets if shared else 1
        sync = await stack.enter_async_context(
            open_calendar_sync(config.org, sources, clock=rt.time, buckets=buckets)
        )
        if shared and storage.dsn:
            await _share_calendars(stack, rt, sync, storage.dsn, storage.schema)
        store = rt.web.store if rt.web is not None else None
        hub = EffectiveHub(
            config.org,
            rt.time,
            calendar=lambda: sync.presence,
            manual=store.manual if store is not None else dict,
            switches=store.overrides if store is not None else dict,
        )
        if store is not None:
            store.watch(hub.notify)
        changes = sync.subscribe()
        stack.callback(changes.close)
        await sync.start()
        stack.push_async_callback(sync.stop)
        rt.calendar = sync
        try:
            await asyncio.wait_for(sync.loaded.wait(), rt.first_load_s)
        except TimeoutError:
            log.warning(
                "calendars: not every calendar was read within %g s; starting with what is"
                " known (the rest follows as it arrives)",
                rt.first_load_s,
            )
        hub.start()
        rt.hub = hub
        if rt.web is not None:
            rt.web.hub = hub
        stack.callback(hub.close)
        tasks = [
            asyncio.create_task(hub.run(), name="effective-state"),
            asyncio.create_task(_forward(changes, hub), name="calendar-to-effective"),
        ]
        for task in tasks:
            stack.push_async_callback(_cancel, task)
        try:
            yield
        finally:
            rt.calendar = None
            rt.calendar_share = None
            rt.hub = None


async def _forward(changes: AsyncIterator[Any], hub: EffectiveHub) -> None:
    """Calendar presence changes are inputs of the effective state."""
    async for change in changes:
        hub.notify(change.user_id)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _share_calendars(
    stack: contextlib.AsyncExitStack, rt: Runtime, sync: Any, dsn: str, schema: str
) -> None:
    """Several nodes: poll only the partitions this node leases, adopt the others' snapshots."""
    from storage.postgresql import PG_ERRORS
    from switchboard.calendar_leases import CalendarShare

    share = CalendarShare(dsn, schema, rt.node_id, **rt.calendar_lease)
    try:
        await share.start(sync)
    except (*PG_ERRORS, RuntimeError) as exc:
        log.error("calendar leases not available, polling every calendar here: %s", exc)
        return
    stack.push_async_callback(share.stop)
    rt.calendar_share = share


async def run_intake(
    intake: SpoolIntake,
    stop: asyncio.Event,
    interval_s: float,
    clock: Callable[[], datetime],
    on_report: Callable[[IntakeReport], Any],
) -> None:
    """`SpoolIntake.run` with each pass's report handed on (for VoicemailRefresh)."""
    failing = False
    while not stop.is_set():
        try:
            report = await intake.run_once(clock())
            if failing:
                log.info("voicemail intake recovered")
                failing = False
            await on_report(report)
        except Exception as exc:  # keep watching: log once when failing, once on recovery
            if not failing:
                log.error("voicemail intake failing: %s", exc, exc_info=True)
                failing = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)


class LeaderTerm:
    """What only the leading node runs: the AMI connection (mirror, call control) and intake.

    Begun on gaining leadership (connect, full resync, intake), ended on losing it (both at
    once); a node that is not leading serves HTTP only.
    """

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.terms = 0  # how many times this node has led
        self._stack: contextlib.AsyncExitStack | None = None
        self._lock = asyncio.Lock()

    async def on_change(self, leading: bool) -> None:
        """The leadership's callback: begin or end a term."""
        async with self._lock:
            if leading and self._stack is None:
                await self._begin()
            elif not leading and self._stack is not None:
                stack, self._stack = self._stack, None
                await stack.aclose()

    async def _begin(self) -> None:
        rt = self.rt
        settings = telephony_settings(rt.config)
        async with contextlib.AsyncExitStack() as stack:
            assert rt.hub is not None
            changes = rt.hub.subscribe()
            stack.callback(changes.close)
            svc = TelephonyService(
                rt.config.org,
                settings,
                rt.state,
                rt.clock,
                changes=changes,
                ready=rt.hub.ready,
                calllog=rt.calllog,
                renderer=rt.renderer,
                simulated=rt.simulated,
            )
            stack.push_async_callback(self._stop_telephony, svc)
            if rt.register is not None:  # ALV-11: the owner's chosen greeting on calls
                sounds = sounds_dir(settings, rt.config.org.data_dir)
                svc.controller.own_greeting = greetings_of(rt.register, sounds).sound_for
            await svc.start()
            rt.telephony = svc
            stop = asyncio.Event()
            intake = asyncio.create_task(self._intake(stop))
            stack.push_async_callback(self._stop_intake, intake, stop)
            self.terms += 1
            log.info("leading: AMI connection and voicemail intake started")
            self._stack = stack.pop_all()

    async def _stop_telephony(self, svc: TelephonyService) -> None:
        await svc.stop(close_platform=False)  # calls in progress are handed back to the dialplan
        if self.rt.telephony is svc:
            self.rt.telephony = None
        log.info("not leading: AMI connection closed")

    async def _intake(self, stop: asyncio.Event) -> None:
        rt = self.rt
        assert rt.register is not None
        intake = SpoolIntake(rt.register, spool_dir(rt.config), settle_s=rt.intake_settle_s)
        side = owner_side(rt)  # issue 17: e-mail notifications, when configured
        if side is not None:
            sender = asyncio.create_task(side.run(stop, rt.clock), name="voicemail-owner-side")
        greetings = asyncio.create_task(
            watch_greetings(rt.register, greetings_of(rt.register), intake.spool, stop, rt.clock),
            name="voicemail-greetings",
        )

        async def refresh(report: IntakeReport) -> None:
            if side is not None:
                await side.taken(report.taken, rt.clock())
            if report.taken:
                rt.intake_reports.append(report)
                del rt.intake_reports[:-100]
            for context, mailbox in sorted({(r.context, r.mailbox) for r in report.taken}):
                if rt.telephony is not None and await rt.telephony.refresh_mailbox(
                    context, mailbox
                ):
                    rt.refreshed.append(f"{mailbox}@{context}")
                    del rt.refreshed[:-1000]

        try:
            await run_intake(intake, stop, rt.intake_interval_s, rt.clock, refresh)
        finally:
            if side is not None:  # an e-mail being sent stays queued and goes next term
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
            greetings.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await greetings

    @staticmethod
    async def _stop_intake(task: asyncio.Task[None], stop: asyncio.Event) -> None:
        stop.set()  # a pass under way finishes its transaction
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=10)
        except TimeoutError:
            log.error("voicemail intake did not stop within 10 s")
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def owner_side(rt: Runtime) -> OwnerSide | None:
    """The owner side's e-mail work (issue 17) when `notifications:` is configured."""
    notify = rt.config.settings.get("notifications")
    if not isinstance(notify, NotifySettings) or rt.register is None:
        return None

    async def presence(now: datetime) -> Mapping[str, UserPresence]:
        return rt.calendar.presence if rt.calendar is not None else {}

    return OwnerSide(rt.register, notify, presence, lambda: rt.state().org)


async def _leader_ctx(app: web.Application) -> AsyncIterator[None]:
    """Leadership: only the leading node (always this one on SQLite) connects to the platform
    and takes the spool; the platform itself (simulated by default) and sounds live as long as
    the app."""
    rt = app[RUNTIME]
    config = rt.config
    settings = telephony_settings(config)
    rt.renderer = SoundRenderer(sounds_dir(settings, config.org.data_dir))
    if rt.simulated is None and settings.platform == "simulated":
        sim = SimulatedAsterisk(
            secret=os.urandom(12).hex(),
            sounds_dir=sounds_dir(settings, config.org.data_dir),
            clock=lambda: rt.clock().timestamp(),  # the dialplan's ${EPOCH}: the app's clock
        )
        await sim.start()
        rt.simulated = sim
    term = LeaderTerm(rt)
    rt.term = term
    rt.leadership = make_leadership(storage_settings(config), rt.node_id)
    ended = asyncio.Event()
    leadership = rt.leadership

    async def elect() -> None:
        if rt.lead_after is not None:  # a reload: the old app leads until it has stopped
            waiters = [
                asyncio.ensure_future(rt.lead_after.wait()),
                asyncio.ensure_future(ended.wait()),
            ]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()
            if ended.is_set():
                return
        await leadership.run(ended, term.on_change)

    election = asyncio.create_task(elect(), name="leadership")
    try:
        if isinstance(leadership, SoleLeader) and rt.lead_after is None:  # lead, then serve
            async with asyncio.timeout(30):
                while not term.terms and not election.done():  # noqa: ASYNC110 - bounded
                    await asyncio.sleep(0.005)
        yield
    finally:
        ended.set()
        done, _ = await asyncio.wait([election], timeout=15)
        if not done:
            log.error("leadership did not stop within 15 s")
            election.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await election
        elif not election.cancelled() and (exc := election.exception()) is not None:
            log.error("leadership ended with an error: %s: %s", type(exc).__name__, exc)
        try:
            await term.on_change(False)
        finally:
            await rt.renderer.close()
            if rt.simulated is not None:
                await rt.simulated.close()


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


def _setup_web(app: web.Application, rt: Runtime) -> None:
    """Hand the web layer the services it asks for."""
    from switchboard.web import WebServices, setup_web
    from switchboard.web.auth import ACCOUNTS_FILE, Accounts, AccountsError, load_accounts
    from switchboard.web.services import LivePresence
    from switchboard.web.standalone import dev_password, session_secret
    from switchboard.web.store import WebStore

    config = rt.config
    accounts = Accounts.of([])
    path = Path(config.folder) / ACCOUNTS_FILE
    if path.exists():
        try:
            # accounts without a hash use $SWITCHBOARD_DEV_PASSWORD, or one shown on the console
            accounts, _dev = load_accounts(path, config.directory, dev_password(_announce))
        except AccountsError as exc:
            for line in exc.problems:
                log.error("web accounts not loaded: %s", line)
    store = WebStore.for_storage(storage_settings(config), config.org.data_dir)
    services = WebServices(
        config=config,
        presence=LivePresence(users=lambda: rt.calendar.presence if rt.calendar else {}),
        store=store,
        accounts=accounts,
        register=None,  # set once opened (_register_ctx)
        call_log=rt.calllog,
        spool=spool_dir(config),  # the intake backlog in /metrics
        now=rt.clock,
        session_secret=session_secret(_announce),
    )
    services.telephony_metrics = lambda: rt.telephony.metrics_text() if rt.telephony else ""
    rt.web = services
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
) -> web.Application:
    """The one composition root shared by `switchboard run` and the tests.

    `clock` is the app's one clock (calendar sync, the effective state, calls, intake, web):
    a `calendar_sync.clock.Clock` (e.g. `ManualClock`, `OffsetClock`) or a `() -> datetime`.
    `lead_after`: do not lead (platform connection, intake) before this event is set — a
    reload's new app waits for the old one to stop leading.
    """
    app = web.Application()
    rt = Runtime(
        config,
        time=as_clock(clock),
        first_load_s=first_load_s,
        intake_interval_s=intake_interval_s,
        intake_settle_s=intake_settle_s,
        simulated=simulated,
        node_id=node_id,
        lead_after=lead_after,
        calllog=make_calllog_store(storage_settings(config), config.org.data_dir, config.org.code),
    )
    app[CONFIG] = config
    app[RUNTIME] = rt
    app.router.add_get("/healthz", healthz)
    app.cleanup_ctx.append(_calllog_ctx)
    app.cleanup_ctx.append(_register_ctx)
    app.cleanup_ctx.append(_presence_ctx)
    app.cleanup_ctx.append(_leader_ctx)
    if web_layer:
        _setup_web(app, rt)  # appends its own contexts after ours
    return app
