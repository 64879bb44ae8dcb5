"""Per-call control over AGI: a call arrives (FastAGI connection, or AsyncAGIStart over AMI)
→ routing decision → AGI commands, each step's status checked.

A call never waits on the service: if no decision is under way within the per-call deadline,
the call is handed back to the dialplan (FastAGI: the connection is closed; AsyncAGI:
`ASYNCAGI BREAK`), which routes it from AstDB. After every Playback, Dial and VoiceMail the
service reads PLAYBACKSTATUS, DIALSTATUS or VMSTATUS: the outcome says what the caller got
(docs/calllog.md), and a failed step is its own outcome.

Three modules: the steps for a decision and how their statuses read as an outcome
(`switchboard.telephony.plan`), one AGI command's round trip (`switchboard.telephony.agi`), and
here the calls: one task per call from its arrival to its outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from urllib.parse import unquote

from routing.effective import EffectiveState
from routing.models import Call, Organisation, RouteDecision
from switchboard.telephony.agi import AgiChannels, AgiTimeout, CallEnded
from switchboard.telephony.ami import AmiClient, Message
from switchboard.telephony.config import TelephonySettings
from switchboard.telephony.dialstrings import Dialler
from switchboard.telephony.errors import (
    AmiActionTimeout,
    AmiConnectionError,
    AmiNotConnected,
    TelephonyError,
)
from switchboard.telephony.fastagi import FastAgiSession
from switchboard.telephony.latency import CallLatency
from switchboard.telephony.plan import AfterDial, CallPlanner, CallRecord, Command
from switchboard.telephony.sounds import SoundRenderer

log = logging.getLogger(__name__)


def _log_failure(task: asyncio.Future[str]) -> None:
    """A hand-back that failed is logged (never an unretrieved task exception)."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("call not handed back to the dialplan: %s: %s", type(exc).__name__, exc)


def parse_env(encoded: str) -> dict[str, str]:
    """AsyncAGIStart's URL-encoded `Env:` as a dict (agi_channel, agi_callerid, …)."""
    out: dict[str, str] = {}
    for line in unquote(encoded).split("\n"):
        key, sep, value = line.partition(": ")
        if sep:
            out[key] = value
    return out


class CallController:
    """Runs every AsyncAGI call: one task per call, all cancelled (and handed back) on stop."""

    def __init__(
        self,
        org: Organisation,
        settings: TelephonySettings,
        state: Callable[[], EffectiveState],
        clock: Callable[[], datetime],
        client: Callable[[], AmiClient | None],
        *,
        greeting: Callable[[str], str] | None = None,
        on_done: Callable[[CallRecord], None] | None = None,
        renderer: SoundRenderer | None = None,
    ) -> None:
        self.renderer = renderer
        self.org = org
        self.settings = settings
        self.state = state
        self.clock = clock
        self.client = client
        self.plan = CallPlanner(
            org,
            settings,
            greeting
            or (
                lambda name: (
                    f"Hej, du har kommit till {name} på {org.name}. "
                    "Just nu kan jag inte ta ditt samtal, lämna ett meddelande efter tonen."
                )
            ),
            renderer,
        )
        self.on_done = on_done
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.records: dict[str, CallRecord] = {}  # calls in progress, by Uniqueid
        self._idle = asyncio.Event()
        self._idle.set()
        self.latencies: list[float] = []  # decision latencies (s), for the benchmark
        self.keep_latencies = False
        self.latency = CallLatency()  # histograms for /metrics
        self.agi = AgiChannels(
            settings, client, self.latency, renderer=renderer, said=self.plan.said
        )

    @property
    def agi_grace_s(self) -> float:
        """The longest wait for a command's AsyncAGIExec (Dial: plus its timeout)."""
        return self.agi.agi_grace_s

    @agi_grace_s.setter
    def agi_grace_s(self, seconds: float) -> None:
        self.agi.agi_grace_s = seconds

    @property
    def greeting(self) -> Callable[[str], str]:
        """The generated greeting's text for a user's name."""
        return self.plan.greeting

    @property
    def dialler(self) -> Dialler:
        """How a number is dialled."""
        return self.plan.dialler

    @property
    def own_greeting(self) -> Callable[[str], str | None]:
        """ALV-11: the sound of the owner's own recorded greeting, None for the generated one
        (set by the composition root from `voicemail.owner_greeting.OwnerGreetings`)."""
        return self.plan.own_greeting

    @own_greeting.setter
    def own_greeting(self, sound_for: Callable[[str], str | None]) -> None:
        self.plan.own_greeting = sound_for

    def on_event(self, msg: Message) -> None:
        """Feed AMI events: AsyncAGIStart starts a call, AsyncAGIExec/End advance it."""
        if msg.name == "AsyncAGIStart":
            channel = msg.get("Channel") or ""
            if channel in self._tasks:
                return
            self.agi.open_async(channel)
            self._idle.clear()
            self._tasks[channel] = asyncio.get_running_loop().create_task(self._run(msg))
        else:
            self.agi.on_event(msg)

    async def run_fastagi(self, session: FastAgiSession) -> None:
        """Handle one call that arrived over FastAGI (the server awaits it, then closes)."""
        channel = session.channel
        if not channel or channel in self._tasks:
            return  # nothing to handle: the connection closes and the dialplan continues
        self.agi.open_fastagi(session)
        self._idle.clear()
        task = asyncio.get_running_loop().create_task(self._run(session))
        self._tasks[channel] = task
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if task.cancelled() and (me is None or not me.cancelling()):
                return  # stopped by the controller, which handed the call back
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            raise

    async def wait_idle(self, within: float) -> None:
        """Wait until no call is under the service's control, at most `within` s."""
        async with asyncio.timeout(within):
            await self._idle.wait()

    def records_in_progress(self) -> list[str]:
        """Uniqueids of the calls under the service's control now."""
        return list(self.records)

    @property
    def active(self) -> int:
        """Calls under the service's control now."""
        return len(self._tasks)

    def _record(self, start: Message | FastAgiSession) -> CallRecord:
        """The call's record from AsyncAGIStart (headers + URL-encoded Env) or FastAGI's env."""
        if isinstance(start, FastAgiSession):
            env, headers = start.env, {}
        else:
            env = parse_env(start.get("Env") or "")
            headers = {k: start.get(k) or "" for k in ("Channel", "Uniqueid", "Exten", "Context")}
        caller = env.get("agi_callerid", "")
        return CallRecord(
            channel=headers.get("Channel") or env.get("agi_channel", ""),
            uniqueid=headers.get("Uniqueid") or env.get("agi_uniqueid", ""),
            to=env.get("agi_extension", headers.get("Exten", "")),
            caller="" if caller in ("unknown", "") else caller,
            context=env.get("agi_context", headers.get("Context", "")),
            transport="fastagi" if isinstance(start, FastAgiSession) else "async",
        )

    async def _run(self, start: Message | FastAgiSession) -> None:
        t0 = time.perf_counter()
        rec = self._record(start)
        channel = rec.channel
        self.records[rec.uniqueid] = rec
        try:
            try:
                async with asyncio.timeout(self.settings.call_deadline_s):
                    decision = self._decide(rec)
                    rec.decision = decision
                    rec.decided_in_s = time.perf_counter() - t0
                    if self.keep_latencies:
                        self.latencies.append(rec.decided_in_s)
                    first = self.plan.steps(rec, decision)
                    assert isinstance(first[0], Command)
                    cid, fut = await self.agi.submit(rec, first[0].text)
                    self.latency.decision.observe(time.perf_counter() - t0)
            except TimeoutError:
                rec.outcome = "handed_back"
                await self.agi.hand_back(rec)
                return
            await self.agi.collect(rec, first[0].text, cid, fut)
            rec.first_answer_s = time.perf_counter() - t0
            self.latency.first_command.observe(rec.first_answer_s)
            for step in first[1:]:
                commands = self.plan.after_dial(rec) if isinstance(step, AfterDial) else [step]
                for command in commands:
                    if rec.hung_up and command.text != "HANGUP":
                        raise CallEnded(rec.channel)  # nobody left to hear the rest
                    await self.agi.run(rec, command.text)
            rec.outcome = self.plan.outcome(rec)
        except CallEnded:
            rec.hung_up = True
            rec.outcome = self.plan.outcome(rec)
        except AgiTimeout as exc:
            rec.outcome = "timeout"
            log.warning("call %s: %s; handed back to the dialplan", rec.uniqueid, exc)
            with contextlib.suppress(TelephonyError):
                await self.agi.hand_back(rec)
        except (AmiConnectionError, AmiNotConnected, AmiActionTimeout) as exc:
            rec.outcome = "interrupted"
            log.warning("call %s interrupted: %s", rec.uniqueid, exc)
        except Exception as exc:  # anything else (a text the AMI encoder refuses): never stuck
            rec.outcome = "handed_back"
            log.error(
                "call %s failed, handed back to the dialplan: %s: %s",
                rec.uniqueid,
                type(exc).__name__,
                exc,
                extra={"call_id": rec.uniqueid},
            )
            try:
                await self.agi.hand_back(rec)
            except Exception as again:
                log.error("call %s not handed back: %s", rec.uniqueid, type(again).__name__)
        except asyncio.CancelledError:
            rec.outcome = "handed_back"
            hand_back = asyncio.ensure_future(self.agi.hand_back(rec))
            hand_back.add_done_callback(_log_failure)  # also when a second cancel leaves it
            with contextlib.suppress(TelephonyError, asyncio.CancelledError):
                await asyncio.shield(hand_back)
            raise
        finally:
            self._tasks.pop(channel, None)
            self.agi.close(channel)
            self.records.pop(rec.uniqueid, None)
            if not self._tasks:
                self._idle.set()
            log.info(
                "call %s",
                rec.uniqueid,
                extra={
                    "call_id": rec.uniqueid,
                    "outcome": rec.outcome,
                    "action": rec.decision.action.value if rec.decision else None,
                    "transport": rec.transport,
                    "decided_ms": _ms(rec.decided_in_s),
                    "first_answer_ms": _ms(rec.first_answer_s),
                },
            )
            if self.on_done is not None:
                self.on_done(rec)

    def _decide(self, rec: CallRecord) -> RouteDecision:
        call = Call(to=rec.to, caller=rec.caller or None, call_id=rec.uniqueid)
        rec.state = self.state()
        return rec.state.decide(call, self.clock())

    async def stop(self) -> None:
        """Hand every call in progress back to the dialplan and wait for the tasks."""
        tasks = list(self._tasks.values())
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def hand_back_parked(self, client: AmiClient) -> list[str]:
        """After a (re)connect: channels sitting in `AGI(agi:async)` that no task here runs
        were parked while we were away (AsyncAGIStart is never replayed); hand each back to
        the dialplan so its fallback routes it at once. Returns their channel names."""
        resp = await client.send_action("CoreShowChannels", deadline=10)
        parked = [
            ev.get("Channel") or ""
            for ev in resp.events
            if ev.name == "CoreShowChannel"
            and ev.get("Application") == "AGI"
            and (ev.get("ApplicationData") or "").startswith("agi:async")
            and (ev.get("Channel") or "") not in self._tasks
        ]
        for channel in parked:
            try:
                await client.send_action(
                    "AGI", [("Channel", channel), ("Command", "ASYNCAGI BREAK")]
                )
            except (AmiConnectionError, AmiNotConnected, AmiActionTimeout) as exc:
                log.warning("parked call %s not handed back: %s", channel, exc)
                continue
            log.warning("call %s was parked in AsyncAGI while we were away: handed back", channel)
        return parked

    def interrupt_all(self) -> None:
        """The AMI link broke: every call in progress ends as interrupted, none left hanging."""
        self.agi.interrupt_all()


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)
