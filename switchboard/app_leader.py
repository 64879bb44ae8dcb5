"""Leadership and what only the leading node runs: the AMI connection (mirror, call control)
and the intake. `leader_ctx` is the app's cleanup context for the election, the platform
(simulated by default) and the sounds; `LeaderTerm` is one term of leading.

A term begins on gaining leadership (connect, full resync, intake) and ends on losing it (both
at once); a node that is not leading serves HTTP only. The intake loop itself is
`voicemail.intake.SpoolIntake.run`; the term hands each pass's report on (VoicemailRefresh,
the owner side's e-mail).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from pathlib import Path

from aiohttp import web

from routing.absence import UserPresence
from switchboard.app_keys import (
    CALENDAR,
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
    state_of,
)
from switchboard.leadership import SoleLeader, make_leadership
from switchboard.telephony.service import TelephonyService, sounds_dir
from switchboard.telephony.sim import SimulatedAsterisk
from switchboard.telephony.sounds import SoundRenderer
from voicemail.intake import IntakeReport, SpoolIntake
from voicemail.owner_checks import OwnerSide
from voicemail.owner_greeting import greetings_of, watch_greetings
from voicemail.service import Register

log = logging.getLogger("switchboard.app")


class LeaderTerm:
    """Begins and ends the leading node's work on the leadership's callback."""

    def __init__(self, app: web.Application, spool: Path) -> None:
        self.app = app
        self.spool = spool
        self.terms = 0  # how many times this node has led
        self._stack: contextlib.AsyncExitStack | None = None
        self._lock = asyncio.Lock()

    def now(self) -> datetime:
        """Now, by the app's one clock."""
        return self.app[CLOCK].now()

    async def on_change(self, leading: bool) -> None:
        """The leadership's callback: begin or end a term."""
        async with self._lock:
            if leading and self._stack is None:
                await self._begin()
            elif not leading and self._stack is not None:
                stack, self._stack = self._stack, None
                await stack.aclose()

    async def _begin(self) -> None:
        app = self.app
        config = app[CONFIG]
        settings = config.telephony
        register = app[REGISTER].current
        async with contextlib.AsyncExitStack() as stack:
            hub = app[HUB].get()
            changes = hub.subscribe()
            stack.callback(changes.close)
            svc = TelephonyService(
                config.org,
                settings,
                lambda: state_of(app),
                self.now,
                changes=changes,
                ready=hub.ready,
                calllog=app[CALLLOG],
                renderer=app[RENDERER].current,
                simulated=app[SIMULATED].current,
            )
            stack.push_async_callback(self._stop_telephony, svc)
            if register is not None:  # ALV-11: the owner's chosen greeting on calls
                sounds = sounds_dir(settings, config.org.data_dir)
                svc.controller.own_greeting = greetings_of(register, sounds).sound_for
            await svc.start()
            stack.enter_context(app[TELEPHONY].holding(svc))
            stop = asyncio.Event()
            intake = asyncio.create_task(self._intake(stop))
            stack.push_async_callback(self._stop_intake, intake, stop)
            self.terms += 1
            log.info("leading: AMI connection and voicemail intake started")
            self._stack = stack.pop_all()

    @staticmethod
    async def _stop_telephony(svc: TelephonyService) -> None:
        await svc.stop(close_platform=False)  # calls in progress are handed back to the dialplan
        log.info("not leading: AMI connection closed")

    async def _intake(self, stop: asyncio.Event) -> None:
        app = self.app
        register = app[REGISTER].get()
        options = app[OPTIONS]
        intake = SpoolIntake(register, self.spool, settle_s=options.intake_settle_s)
        side = owner_side(app, register)  # issue 17: e-mail notifications, when configured
        if side is not None:
            sender = asyncio.create_task(side.run(stop, self.now), name="voicemail-owner-side")
        greetings = asyncio.create_task(
            watch_greetings(register, greetings_of(register), intake.spool, stop, self.now),
            name="voicemail-greetings",
        )

        async def refresh(report: IntakeReport) -> None:
            if side is not None:
                await side.taken(report.taken, self.now())
            app[INTAKE_LOG].add(report)
            for context, mailbox in sorted({(r.context, r.mailbox) for r in report.taken}):
                telephony = app[TELEPHONY].current
                if telephony is not None and await telephony.refresh_mailbox(context, mailbox):
                    app[INTAKE_LOG].refresh(mailbox, context)

        try:
            await intake.run(stop, options.intake_interval_s, self.now, on_report=refresh)
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


def owner_side(app: web.Application, register: Register) -> OwnerSide | None:
    """The owner side's e-mail work (issue 17) when `notifications:` is configured."""
    notify = app[CONFIG].notifications
    if notify is None:
        return None

    async def presence(now: datetime) -> Mapping[str, UserPresence]:
        calendar = app[CALENDAR].current
        return calendar.presence if calendar is not None else {}

    return OwnerSide(register, notify, presence, lambda: state_of(app).org)


LEADER_TERM = web.AppKey("leader_term", LeaderTerm)


async def leader_ctx(app: web.Application) -> AsyncIterator[None]:
    """Leadership: only the leading node (always this one on SQLite) connects to the platform
    and takes the spool; the platform itself (simulated by default) and sounds live as long as
    the app."""
    config = app[CONFIG]
    options = app[OPTIONS]
    settings = config.telephony
    clock = app[CLOCK]
    renderer = SoundRenderer(sounds_dir(settings, config.org.data_dir))
    simulated = app[SIMULATED]
    started: SimulatedAsterisk | None = None
    if simulated.current is None and settings.platform == "simulated":
        started = SimulatedAsterisk(
            secret=os.urandom(12).hex(),
            sounds_dir=sounds_dir(settings, config.org.data_dir),
            clock=lambda: clock.now().timestamp(),  # the dialplan's ${EPOCH}: the app's clock
        )
        await started.start()
    term = app[LEADER_TERM]
    leadership = make_leadership(config.storage, options.node_id)
    lead_after = options.lead_after
    ended = asyncio.Event()

    async def elect() -> None:
        if lead_after is not None:  # a reload: the old app leads until it has stopped
            waiters = [
                asyncio.ensure_future(lead_after.wait()),
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

    with contextlib.ExitStack() as held:
        held.enter_context(app[RENDERER].holding(renderer))
        if started is not None:
            held.enter_context(simulated.holding(started))
        held.enter_context(app[LEADERSHIP].holding(leadership))
        election = asyncio.create_task(elect(), name="leadership")
        try:
            if isinstance(leadership, SoleLeader) and lead_after is None:  # lead, then serve
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
                await renderer.close()
                if simulated.current is not None:
                    await simulated.current.close()
