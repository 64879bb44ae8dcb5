"""Per-call control over AsyncAGI: AsyncAGIStart → routing decision → AGI commands.

A call never waits on the service: if no decision is under way within the per-call deadline,
the call is handed back to the dialplan (`ASYNCAGI BREAK`), which routes it from AstDB.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import unquote

from routing.decide import mailbox_enabled
from routing.effective import EffectiveState
from routing.models import Action, Call, Organisation, RouteDecision
from switchboard.telephony.ami import AmiClient, Message
from switchboard.telephony.config import TelephonySettings
from switchboard.telephony.errors import (
    AmiActionTimeout,
    AmiConnectionError,
    AmiNotConnected,
    TelephonyError,
)
from switchboard.telephony.sounds import SoundRenderer, sound_name

log = logging.getLogger(__name__)


class CallEnded(TelephonyError):
    """The channel went away (the caller hung up) while a command was running."""

    error_id = "call-ended"


class AgiTimeout(TelephonyError):
    """An AGI command got no AsyncAGIExec within its limit (the call is handed back)."""

    error_id = "agi-timeout"


@dataclass(frozen=True, slots=True)
class Command:
    """One AGI command, as sent in the `AGI` action's `Command:` header."""

    text: str


@dataclass(frozen=True, slots=True)
class AfterDial:
    """The step after a Dial: nothing if it was answered, else the user's voicemail."""


Step = Command | AfterDial


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


def agi_quote(text: str) -> str:
    """A double-quoted AGI argument; CR/LF are refused later by the AMI encoder anyway."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class CallRecord:
    """What the service did with one call, for the log and for `switchboard call`."""

    channel: str
    uniqueid: str
    to: str
    caller: str
    context: str
    decision: RouteDecision | None = None
    state: EffectiveState | None = None  # what the decision was taken on
    outcome: str = "in_progress"
    commands: list[str] = field(default_factory=list)
    decided_in_s: float | None = None


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
        self._texts: dict[str, str] = {}  # sound name → text, for rendering before Playback
        self.org = org
        self.settings = settings
        self.state = state
        self.clock = clock
        self.client = client
        self.greeting = greeting or (
            lambda name: (
                f"Hej, du har kommit till {name} på {org.name}. "
                "Just nu kan jag inte ta ditt samtal, lämna ett meddelande efter tonen."
            )
        )
        self.on_done = on_done
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._waiting: dict[str, asyncio.Future[str]] = {}  # CommandID → result
        self._ended: dict[str, asyncio.Event] = {}
        self._seq = 0
        self.records: dict[str, CallRecord] = {}  # calls in progress, by Uniqueid
        self._idle = asyncio.Event()
        self._idle.set()
        self.agi_grace_s = 60.0  # longest wait for a command's AsyncAGIExec (Dial: + its timeout)
        self.latencies: list[float] = []  # decision latencies (s), for the benchmark
        self.keep_latencies = False

    def on_event(self, msg: Message) -> None:
        """Feed AMI events: AsyncAGIStart starts a call, AsyncAGIExec/End advance it."""
        name = msg.name
        channel = msg.get("Channel") or ""
        if name == "AsyncAGIStart":
            if channel in self._tasks:
                return
            self._ended[channel] = asyncio.Event()
            self._idle.clear()
            self._tasks[channel] = asyncio.get_running_loop().create_task(self._run(msg))
        elif name == "AsyncAGIExec":
            fut = self._waiting.pop(msg.get("CommandId") or msg.get("CommandID") or "", None)
            if fut is not None and not fut.done():
                fut.set_result(unquote(msg.get("Result") or ""))
        elif name in ("AsyncAGIEnd", "Hangup"):
            ended = self._ended.get(channel)
            if ended is not None:
                ended.set()

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

    async def _run(self, start: Message) -> None:
        t0 = time.perf_counter()
        env = parse_env(start.get("Env") or "")
        channel = start.get("Channel") or env.get("agi_channel", "")
        caller = env.get("agi_callerid", "")
        rec = CallRecord(
            channel=channel,
            uniqueid=start.get("Uniqueid") or env.get("agi_uniqueid", ""),
            to=env.get("agi_extension", start.get("Exten") or ""),
            caller="" if caller in ("unknown", "") else caller,
            context=env.get("agi_context", start.get("Context") or ""),
        )
        self.records[rec.uniqueid] = rec
        try:
            try:
                async with asyncio.timeout(self.settings.call_deadline_s):
                    decision = self._decide(rec)
                    rec.decision = decision
                    rec.decided_in_s = time.perf_counter() - t0
                    if self.keep_latencies:
                        self.latencies.append(rec.decided_in_s)
                    first = self._plan(rec, decision)
                    assert isinstance(first[0], Command)
                    cid, fut = await self._submit(rec, first[0].text)
            except TimeoutError:
                rec.outcome = "handed_back"
                await self._agi(rec, "ASYNCAGI BREAK", wait=False)
                return
            await self._collect(rec, first[0].text, cid, fut)
            for step in first[1:]:
                commands = self._after_dial(rec) if isinstance(step, AfterDial) else [step]
                for command in commands:
                    await self._agi(rec, command.text)
            rec.outcome = rec.outcome if rec.outcome != "in_progress" else "completed"
        except CallEnded:
            rec.outcome = "caller_hung_up"
        except AgiTimeout as exc:
            rec.outcome = "timeout"
            log.warning("call %s: %s; handed back to the dialplan", rec.uniqueid, exc)
            with contextlib.suppress(TelephonyError):
                await self._agi(rec, "ASYNCAGI BREAK", wait=False)
        except (AmiConnectionError, AmiNotConnected, AmiActionTimeout) as exc:
            rec.outcome = "interrupted"
            log.warning("call %s interrupted: %s", rec.uniqueid, exc)
        except asyncio.CancelledError:
            rec.outcome = "handed_back"
            hand_back = asyncio.ensure_future(self._agi(rec, "ASYNCAGI BREAK", wait=False))
            hand_back.add_done_callback(_log_failure)  # also when a second cancel leaves it
            with contextlib.suppress(TelephonyError, asyncio.CancelledError):
                await asyncio.shield(hand_back)
            raise
        finally:
            self._tasks.pop(channel, None)
            self._ended.pop(channel, None)
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
                },
            )
            if self.on_done is not None:
                self.on_done(rec)

    def _decide(self, rec: CallRecord) -> RouteDecision:
        call = Call(to=rec.to, caller=rec.caller or None, call_id=rec.uniqueid)
        rec.state = self.state()
        return rec.state.decide(call, self.clock())

    def _dial(self, e164: str) -> str:
        plan = self.org.plan
        national = (
            "0" + e164[1 + len(plan.country_code) :]
            if e164.startswith("+" + plan.country_code)
            else e164
        )
        for area, _ in plan.series:
            prefix = f"+{plan.country_code}{area}"
            if e164.startswith(prefix):
                return self.settings.internal_dial.format(
                    local=e164[len(prefix) :], national=national
                )
        return self.settings.external_dial.format(local=national, national=national)

    def _say(self, text: str, kind: str = "message") -> list[Command]:
        # The sound is rendered from the text (sound_name); the text rides along as a channel
        # variable so the log and the simulated caller can show what was said.
        sound = sound_name(text)
        if self.renderer is not None:
            if len(self._texts) > 4096:
                self._texts.clear()
            self._texts[sound] = text
            self.renderer.ensure(text)  # starts now; Playback waits for it (bounded)
        return [
            Command(f"SET VARIABLE SWITCHBOARD_KIND {kind}"),
            Command(f"SET VARIABLE SWITCHBOARD_TEXT {agi_quote(text)}"),
            Command(f"EXEC Playback {sound}"),
        ]

    def _voicemail(self, rec: CallRecord) -> list[Command]:
        d, st = rec.decision, rec.state
        user = st.directory.user(d.user) if st is not None and d and d.user else None
        if st is None or user is None or not user.mailbox or not mailbox_enabled(user, st.policy):
            return []
        ctx = self.org.voicemail_context
        return [
            *self._say(self.greeting(user.name), "greeting"),
            Command(f"EXEC VoiceMail {user.mailbox}@{ctx},s"),
        ]

    def _plan(self, rec: CallRecord, d: RouteDecision) -> list[Step]:
        """The steps for a decision: AGI commands, and what to do after a Dial returns."""
        timeout = self.settings.dial_timeout_s
        if d.action in (Action.RING,) and (d.ring or d.target):
            targets = d.ring or ((d.target,) if d.target else ())
            dial = "&".join(self._dial(t) for t in targets)
            return [Command(f"EXEC Dial {dial},{timeout}"), AfterDial(), Command("HANGUP")]
        steps: list[Step] = [Command("ANSWER")]
        if d.message:
            steps += self._say(d.message)
        if d.action is Action.VOICEMAIL or d.next == "voicemail":
            steps += self._voicemail(rec)
        elif d.action in (Action.REDIRECT, Action.TRANSFER) and d.target:
            # The covering point (or the switchboard) is rung; unanswered → the user's voicemail.
            steps += [Command(f"EXEC Dial {self._dial(d.target)},{timeout}"), AfterDial()]
        steps.append(Command("HANGUP"))
        return steps

    def _after_dial(self, rec: CallRecord) -> list[Command]:
        """Dial returned: nothing to do if answered; else voicemail if the user has it."""
        status = rec.commands[-1] if rec.commands else ""
        if "(ANSWER)" in status:
            return []
        return self._voicemail(rec)

    async def _submit(
        self, rec: CallRecord, command: str, *, wait: bool = True
    ) -> tuple[str, asyncio.Future[str]]:
        """Queue one AGI command on the channel (the AGI action's response); don't wait for it."""
        client = self.client()
        if client is None or not client.connected:
            raise AmiNotConnected("AGI")
        ended = self._ended.get(rec.channel)
        if ended is not None and ended.is_set() and wait:
            raise CallEnded(rec.channel)
        self._seq += 1
        cid = f"sb{self._seq}"
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        if wait:
            self._waiting[cid] = fut
        try:
            resp = await client.send_action(
                "AGI", [("Channel", rec.channel), ("Command", command), ("CommandID", cid)]
            )
        except BaseException:
            self._waiting.pop(cid, None)
            raise
        if not resp.success:
            self._waiting.pop(cid, None)
            raise CallEnded(rec.channel)  # "Channel … does not exist."
        return cid, fut

    async def _collect(
        self, rec: CallRecord, command: str, cid: str, fut: asyncio.Future[str]
    ) -> str:
        """Wait for the command's AsyncAGIExec, or for the channel to end."""
        ended = self._ended.get(rec.channel)
        ender = asyncio.ensure_future(ended.wait()) if ended is not None else None
        try:
            waiters: set[asyncio.Future[object]] = {fut}  # type: ignore[arg-type]
            if ender is not None:
                waiters.add(ender)  # type: ignore[arg-type]
            limit = self.agi_grace_s + (
                self.settings.dial_timeout_s if command.startswith("EXEC Dial") else 0
            )
            done, _ = await asyncio.wait(
                waiters, timeout=limit, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            self._waiting.pop(cid, None)
            if ender is not None and not ender.done():
                ender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ender
        if fut not in done:
            if ender is not None and ender in done:
                raise CallEnded(rec.channel)
            raise AgiTimeout(f"{command!r} got no AsyncAGIExec within {limit:g} s")
        result = fut.result()
        rec.commands.append(command)
        if command.startswith("EXEC Dial"):
            status = await self._agi(rec, "GET VARIABLE DIALSTATUS")
            rec.commands.append(status)
        return result

    async def _agi(self, rec: CallRecord, command: str, *, wait: bool = True) -> str:
        if self.renderer is not None and command.startswith("EXEC Playback "):
            text = self._texts.get(command[len("EXEC Playback ") :])
            if text is not None:
                await self.renderer.wait(text, within=self.settings.call_deadline_s)
        cid, fut = await self._submit(rec, command, wait=wait)
        if not wait:
            return ""
        return await self._collect(rec, command, cid, fut)

    async def stop(self) -> None:
        """Hand every call in progress back to the dialplan and wait for the tasks."""
        tasks = list(self._tasks.values())
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    def interrupt_all(self) -> None:
        """The AMI link broke: every call in progress ends as interrupted, none left hanging."""
        for fut in list(self._waiting.values()):
            if not fut.done():
                fut.set_exception(AmiConnectionError("ami", 0, "connection lost mid-call"))
        self._waiting.clear()
