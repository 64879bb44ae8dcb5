"""The telephone adapter's lifecycle: AMI supervisor, state mirror, call control and call log."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from routing.models import Organisation, PresenceBook
from switchboard.telephony.ami import AmiClient, AmiSupervisor, Message
from switchboard.telephony.calls import CallController, CallRecord
from switchboard.telephony.config import TelephonySettings
from switchboard.telephony.mirror import StateMirror, pump_changes
from switchboard.telephony.simulated import SimulatedAsterisk

log = logging.getLogger(__name__)

CALL_EVENTS = ("AsyncAGIStart", "AsyncAGIExec", "AsyncAGIEnd", "Hangup")
LOG_EVENTS = ("Newchannel", "DialBegin", "DialEnd", "BridgeEnter", "Hangup", "Cdr")


class CallLog:
    """ALV-18: connect/disconnect times, duration, dialled numbers and outcome per call.

    Kept from AMI events (Cdr, DialBegin/End, Hangup) and the service's own outcome; appended
    as JSON lines to `path` for the IT role.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, dict[str, object]] = {}

    def on_event(self, msg: Message) -> None:
        """Fold one AMI event into its call's entry (keyed by Uniqueid / Linkedid)."""
        uid = msg.get("Linkedid") or msg.get("Uniqueid") or msg.get("UniqueID") or ""
        if not uid:
            return
        e = self.entries.setdefault(uid, {"call_id": uid, "dialled": []})
        if msg.name == "Newchannel":
            e.update(caller=msg.get("CallerIDNum"), called=msg.get("Exten"))
        elif msg.name == "DialBegin":
            dialled = e["dialled"]
            assert isinstance(dialled, list)
            dialled.append(msg.get("DialString"))
        elif msg.name == "DialEnd":
            e["dial_status"] = msg.get("DialStatus")
        elif msg.name == "Cdr":
            e.update(
                start=msg.get("StartTime"),
                answer=msg.get("AnswerTime") or None,
                end=msg.get("EndTime"),
                duration_s=int(msg.get("Duration") or 0),
                billable_s=int(msg.get("BillableSeconds") or 0),
                disposition=msg.get("Disposition"),
            )

    def on_call_done(self, rec: CallRecord) -> None:
        """Add the service's outcome and persist the entry."""
        e = self.entries.pop(rec.uniqueid, {"call_id": rec.uniqueid, "dialled": []})
        e.update(
            called=e.get("called") or rec.to,
            caller=e.get("caller") or rec.caller,
            outcome=rec.outcome,
            action=rec.decision.action.value if rec.decision else None,
        )
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(e, ensure_ascii=False) + "\n")


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
        data_dir: Path | None = None,
        simulated: SimulatedAsterisk | None = None,
    ) -> None:
        self.org = org
        self.settings = settings
        self.sim = simulated
        self.mirror = StateMirror(org.directory, book, org.timezone, clock)
        self.calllog = CallLog(data_dir / "call_log.jsonl" if data_dir else None)
        self.supervisor: AmiSupervisor | None = None
        self.controller = CallController(
            org, settings, book, clock, self._client, on_done=self.calllog.on_call_done
        )
        self._changes = changes
        self._tasks: list[asyncio.Task[None]] = []
        self.mirrored = asyncio.Event()

    def _client(self) -> AmiClient | None:
        return self.supervisor.client if self.supervisor else None

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

    async def _resync(self, client: AmiClient) -> None:
        await self.mirror.full_resync(client)
        self.mirrored.set()

    def _lost(self, reason: str) -> None:
        self.mirrored.clear()
        self.controller.interrupt_all()

    async def stop(self) -> None:
        """Hand calls back to the dialplan, stop the tasks, close the simulated platform."""
        await self.controller.stop()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks.clear()
        if self.sim is not None:
            await self.sim.close()
