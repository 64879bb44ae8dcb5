"""The telephone adapter's lifecycle: AMI supervisor, state mirror, call control and call log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from routing.models import Organisation, PresenceBook
from switchboard.telephony.ami import AmiClient, AmiResponse, AmiSupervisor
from switchboard.telephony.calllog import CallLog, CallLogStorage
from switchboard.telephony.calls import CallController, CallRecord
from switchboard.telephony.config import TelephonySettings
from switchboard.telephony.errors import AmiNotConnected
from switchboard.telephony.mirror import StateMirror, pump_changes
from switchboard.telephony.simulated import SimulatedAsterisk
from switchboard.telephony.sounds import SoundRenderer

log = logging.getLogger(__name__)

CALL_EVENTS = ("AsyncAGIStart", "AsyncAGIExec", "AsyncAGIEnd", "Hangup")
LOG_EVENTS = ("Newchannel", "DialBegin", "DialEnd", "BridgeEnter", "Hangup", "Cdr")


class TelephonyService:
    """Starts the platform connection (simulated or Asterisk) and everything riding on it."""

    def __init__(
        self,
        org: Organisation,
        settings: TelephonySettings,
        book: Callable[[], PresenceBook],
        clock: Callable[[], datetime],
        *,
        changes: AsyncIterator[object] | None = None,
        manual_changes: AsyncIterator[object] | None = None,
        calllog: CallLogStorage | None = None,
        renderer: SoundRenderer | None = None,
        simulated: SimulatedAsterisk | None = None,
    ) -> None:
        self.org = org
        self.settings = settings
        self.sim = simulated
        self.renderer = renderer
        self.mirror = StateMirror(org.directory, book, org.timezone, clock, renderer=renderer)
        self.calllog = CallLog(calllog, clock)
        self.supervisor: AmiSupervisor | None = None
        self.controller = CallController(
            org, settings, book, clock, self._client, on_done=self._call_done, renderer=renderer
        )
        self._changes = changes
        self._manual_changes = manual_changes
        self._tasks: list[asyncio.Task[None]] = []
        self.mirrored = asyncio.Event()

    def _client(self) -> AmiClient | None:
        return self.supervisor.client if self.supervisor else None

    def _call_done(self, rec: CallRecord) -> None:
        self.calllog.on_call_done(
            rec.uniqueid,
            caller=rec.caller or None,
            called=rec.to or None,
            outcome=rec.outcome,
            action=rec.decision.action.value if rec.decision else None,
            channel=rec.channel,
        )

    async def start(self) -> None:
        """Start the simulated platform if configured, then connect, resync and listen."""
        ami = self.settings.ami
        if self.settings.platform == "simulated":
            if self.sim is None:
                self.sim = SimulatedAsterisk(secret=secrets.token_urlsafe(16))
                await self.sim.start()
            ami = replace(
                ami,
                host=self.sim.host,
                port=self.sim.port,
                username=self.sim.username,
                secret=self.sim.secret,
            )
        sup = AmiSupervisor(ami, on_connected=self._resync, on_disconnected=self._lost)
        sup.subscribe(self.controller.on_event, CALL_EVENTS)
        sup.subscribe(self.calllog.on_event, LOG_EVENTS)
        self.supervisor = sup
        self._tasks.append(asyncio.create_task(sup.run()))
        if self._changes is not None:
            self._tasks.append(
                asyncio.create_task(pump_changes(self._changes, self.mirror, self._client))
            )
        if self._manual_changes is not None:
            self._tasks.append(
                asyncio.create_task(
                    pump_changes(self._manual_changes, self.mirror, self._client, from_book=True)
                )
            )

    async def _resync(self, client: AmiClient) -> None:
        await self.mirror.full_resync(client)
        self.mirrored.set()

    def _lost(self, reason: str) -> None:
        self.mirrored.clear()
        self.controller.interrupt_all()
        # Calls the controller runs are finished (as interrupted) by their own tasks.
        self.calllog.interrupt_open(keep=self.controller.records_in_progress())

    async def refresh_mailbox(self, context: str, mailbox: str) -> bool:
        """AMI `VoicemailRefresh` for one mailbox (after intake changed it); False if not sent."""
        client = self._client()
        if client is None or not client.connected:
            return False
        try:
            resp: AmiResponse = await client.send_action(
                "VoicemailRefresh", [("Context", context), ("Mailbox", mailbox)]
            )
        except (AmiNotConnected, ConnectionError, TimeoutError) as exc:
            log.warning("VoicemailRefresh %s@%s not sent: %s", mailbox, context, exc)
            return False
        return resp.success

    async def stop(self, close_platform: bool = True) -> None:
        """Hand calls back to the dialplan, stop the tasks, flush the log, close the platform."""
        await self.controller.stop()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks.clear()
        await self.calllog.flush()
        if self.sim is not None and close_platform:
            await self.sim.close()


def sounds_dir(settings: TelephonySettings, data_dir: str | Path) -> Path:
    """Where rendered messages go: `telephony.sounds_dir`, or `<data_dir>/sounds`."""
    return Path(settings.sounds_dir) if settings.sounds_dir else Path(data_dir) / "sounds"
