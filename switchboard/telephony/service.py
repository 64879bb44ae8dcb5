"""The telephone adapter's lifecycle: AMI supervisor, state mirror, call control and call log."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from routing.effective import EffectiveChange, EffectiveState
from routing.models import Organisation
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
        state: Callable[[], EffectiveState],
        clock: Callable[[], datetime],
        *,
        changes: AsyncIterator[EffectiveChange] | None = None,
        ready: asyncio.Event | None = None,
        calllog: CallLogStorage | None = None,
        renderer: SoundRenderer | None = None,
        simulated: SimulatedAsterisk | None = None,
        reconcile_s: float = 300.0,
    ) -> None:
        """`state` is the effective state (routing.effective) every call and the mirror read;
        `changes` its change stream; `ready` is set once the first complete state is known
        (the PBX is not resynced before: a half-loaded state would clear redirects)."""
        self.org = org
        self.settings = settings
        self.sim = simulated
        self.renderer = renderer
        self.mirror = StateMirror(state, org.timezone, clock, renderer=renderer)
        self.calllog = CallLog(calllog, clock)
        self.supervisor: AmiSupervisor | None = None
        self.controller = CallController(
            org, settings, state, clock, self._client, on_done=self._call_done, renderer=renderer
        )
        self._changes = changes
        self._ready = ready
        self._resynced: AmiClient | None = None  # one resync per connection
        self.resyncs = 0
        self.reconcile_s = reconcile_s
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
        if self.reconcile_s > 0:
            self._tasks.append(asyncio.create_task(self._reconcile()))

    async def _resync(self, client: AmiClient) -> None:
        """Once per connection, from the first complete effective state."""
        if self._resynced is client:
            return
        self._resynced = client
        if self._ready is not None and not self._ready.is_set():
            await self._ready.wait()
        await self.mirror.full_resync(client)
        self.resyncs += 1
        self.mirrored.set()

    async def _reconcile(self) -> None:
        """Repair drift (rows changed behind the service's back) every `reconcile_s`."""
        while True:
            await asyncio.sleep(self.reconcile_s)
            client = self._client()
            if client is None or not client.connected or not self.mirrored.is_set():
                continue
            try:
                writes = await self.mirror.full_resync(client)
            except (AmiNotConnected, ConnectionError, TimeoutError) as exc:
                log.warning("reconciliation with the PBX not done: %s", exc)
                continue
            if writes:
                log.warning("reconciliation repaired %d PBX entries that had drifted", writes)

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
            try:
                await t
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # a task that had died: say so, stop the rest anyway
                log.error(
                    "telephony task %s had failed: %s: %s", t.get_name(), type(exc).__name__, exc
                )
        self._tasks.clear()
        await self.calllog.flush()
        if self.sim is not None and close_platform:
            await self.sim.close()


def sounds_dir(settings: TelephonySettings, data_dir: str | Path) -> Path:
    """Where rendered messages go: `telephony.sounds_dir`, or `<data_dir>/sounds`."""
    return Path(settings.sounds_dir) if settings.sounds_dir else Path(data_dir) / "sounds"
