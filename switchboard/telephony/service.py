"""The telephone adapter's lifecycle: AMI supervisor, FastAGI server, state mirror, fallback
rows, call control and call log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from routing.effective import EffectiveChange, EffectiveState
from routing.models import Organisation
from switchboard.telephony.ami import AmiClient, AmiResponse, AmiSupervisor
from switchboard.telephony.asterisk_config import extensions_conf, voicemail_conf
from switchboard.telephony.calllog import CallLog, CallLogStorage
from switchboard.telephony.calls import CallController
from switchboard.telephony.config import TelephonySettings
from switchboard.telephony.errors import AmiConnectionError, AmiNotConnected
from switchboard.telephony.fallback import FallbackMirror
from switchboard.telephony.fastagi import FastAgiServer
from switchboard.telephony.mirror import StateMirror, pump_changes
from switchboard.telephony.plan import CallRecord
from switchboard.telephony.sim import SimulatedAsterisk
from switchboard.telephony.sounds import SoundRenderer

log = logging.getLogger(__name__)

CALL_EVENTS = ("AsyncAGIStart", "AsyncAGIExec", "AsyncAGIEnd", "Hangup")
LOG_EVENTS = (
    "Newchannel",
    "Newstate",
    "DialBegin",
    "DialEnd",
    "BridgeEnter",
    "MessageWaiting",
    "Hangup",
    "Cdr",
)
FASTAGI_RETRY_S = 5.0  # a FastAGI port that cannot be bound is tried again this often


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
        self.fastagi: FastAgiServer | None = None
        self.fallback = FallbackMirror(
            state,
            clock,
            settings,
            self.controller.dialler,
            self.controller.greeting,
            org.voicemail_context,
            renderer=renderer,
            agi_url=self.agi_url,
        )
        self._changes = changes
        self._ready = ready
        self._resynced: AmiClient | None = None  # one resync per connection
        self.resyncs = 0
        self.reconcile_s = reconcile_s
        self._tasks: list[asyncio.Task[None]] = []
        self._fallback_tasks: set[asyncio.Task[None]] = set()
        self.mirrored = asyncio.Event()

    def _client(self) -> AmiClient | None:
        return self.supervisor.client if self.supervisor else None

    def agi_url(self) -> str:
        """The FastAGI URL the dialplan should use: the configured one, or where the server
        really listens (port 0, the simulated platform)."""
        server = self.fastagi
        if server is None or not server.listening or self.settings.fastagi.port == server.port:
            # several nodes share one organisation.yaml: `{hostname}` is each node's own name
            return self.settings.fastagi_url.replace("{hostname}", socket.gethostname())
        host = "127.0.0.1" if server.host in ("0.0.0.0", "::", "") else server.host
        return f"agi://{host}:{server.port}"

    def metrics_text(self) -> str:
        """The call path's latency histograms (decision, AGI round trip) for /metrics."""
        return self.controller.latency.render()

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
        """Start the simulated platform if configured, listen for FastAGI, then connect,
        resync and listen for events."""
        ami = self.settings.ami
        check_sounds(self.renderer)
        fa = self.settings.fastagi
        simulated = self.settings.platform == "simulated"
        # The simulated platform learns the port from AstDB, as Asterisk does: any free one.
        self.fastagi = FastAgiServer(
            "127.0.0.1" if simulated else fa.host,
            0 if simulated else fa.port,
            self.controller.run_fastagi,
        )
        await self._listen()
        if simulated:
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
        if self.sim is not None and self.sim.dialplan is None:
            # The platform runs the dialplan the project ships for this organisation.
            settings = replace(self.settings, agi_url=self.agi_url())
            mailboxes = {
                line.split(" ", 1)[0]
                for line in voicemail_conf(self.org)[0].splitlines()
                if " => " in line and not line.startswith(";")
            }
            self.sim.load_dialplan(extensions_conf(self.org, settings), mailboxes)
        sup = AmiSupervisor(ami, on_connected=self._resync, on_disconnected=self._lost)
        sup.subscribe(self.controller.on_event, CALL_EVENTS)
        sup.subscribe(self.calllog.on_event, LOG_EVENTS)
        self.supervisor = sup
        self._tasks.append(asyncio.create_task(sup.run()))
        if self._changes is not None:
            self._tasks.append(
                asyncio.create_task(
                    pump_changes(
                        self._changes, self.mirror, self._client, on_applied=self._fallback_one
                    )
                )
            )
        if self.reconcile_s > 0:
            self._tasks.append(asyncio.create_task(self._reconcile()))
        if not self.fastagi.listening:
            self._tasks.append(asyncio.create_task(self._listen_retry(), name="fastagi-bind"))

    async def _listen(self) -> bool:
        """Bind the FastAGI port; a failure is logged (calls then take the dialplan's fallback)."""
        assert self.fastagi is not None
        try:
            await self.fastagi.start()
        except OSError as exc:
            log.error(
                "FastAGI cannot listen on %s:%s (%s): calls take the dialplan's fallback until "
                "it can; retrying every %g s",
                self.fastagi.host,
                self.fastagi.port,
                exc.strerror or exc,
                FASTAGI_RETRY_S,
            )
            return False
        log.info("FastAGI listening on %s:%s", self.fastagi.host, self.fastagi.port)
        return True

    async def _listen_retry(self) -> None:
        while True:
            await asyncio.sleep(FASTAGI_RETRY_S)
            if await self._listen():
                break
        if self.supervisor is not None:
            self.supervisor.request_resync()  # the URL the dialplan reads from AstDB

    def _fallback_one(self, user_id: str) -> None:
        """After the mirror wrote a user's change: that user's fallback row, in the background."""
        client = self._client()
        if client is None or not client.connected:
            return
        task = asyncio.get_running_loop().create_task(self._apply_fallback(client, user_id))
        self._fallback_tasks.add(task)
        task.add_done_callback(self._fallback_tasks.discard)

    async def _apply_fallback(self, client: AmiClient, user_id: str) -> None:
        try:
            await self.fallback.apply(client, user_id)
        except (AmiConnectionError, AmiNotConnected, TimeoutError) as exc:
            log.warning("fallback row for %s not written: %s", user_id, exc)
        except Exception:  # e.g. a value the AMI encoder refuses: this user only
            log.exception("fallback row for %s not written", user_id)

    async def _resync(self, client: AmiClient) -> None:
        """Once per connection, from the first complete effective state."""
        if self._resynced is client:
            return
        self._resynced = client
        try:
            parked = await self.controller.hand_back_parked(client)
        except (AmiConnectionError, AmiNotConnected, TimeoutError) as exc:
            log.warning("parked calls not checked: %s", exc)
        else:
            if parked:
                log.warning("%d call(s) parked in AsyncAGI were handed back", len(parked))
        if self._ready is not None and not self._ready.is_set():
            await self._ready.wait()
        await self.mirror.full_resync(client)
        await self.fallback.full_resync(client)
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
                writes += await self.fallback.full_resync(client)
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
        if self.fastagi is not None:
            await self.fastagi.close()  # new calls: refused, the dialplan's fallback at once
        for task in list(self._fallback_tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
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
    """Asterisk's sounds directory, where rendered messages go (into its `switchboard/`
    folder, played as `switchboard/<key>`): `telephony.sounds_dir`, or `<data_dir>/sounds`."""
    return Path(settings.sounds_dir) if settings.sounds_dir else Path(data_dir) / "sounds"


def check_sounds(renderer: SoundRenderer | None) -> bool:
    """At start-up: the sounds folder exists (or can be made) and is writable, and sounds can
    be rendered; otherwise an error in the log with the path (Asterisk would play silence)."""
    if renderer is None:
        return True
    folder = renderer.folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.error(
            "sounds: cannot create %s (%s): Asterisk will not find the messages it is told to "
            "play (switchboard/<key> under telephony.sounds_dir)",
            folder,
            exc.strerror or exc,
        )
        return False
    if not os.access(folder, os.W_OK):
        log.error("sounds: %s is not writable: no message can be rendered for Asterisk", folder)
        return False
    if not renderer.available:
        log.error(
            "sounds: the speech engine (%s) is not available: every Playback of "
            "switchboard/<key> (files in %s) will fail",
            type(renderer.engine).__name__,
            folder,
        )
        return False
    return True
