"""Per-call control over AGI: a call arrives (FastAGI connection, or AsyncAGIStart over AMI)
→ routing decision → AGI commands, each step's status checked.

A call never waits on the service: if no decision is under way within the per-call deadline,
the call is handed back to the dialplan (FastAGI: the connection is closed; AsyncAGI:
`ASYNCAGI BREAK`), which routes it from AstDB. After every Playback, Dial and VoiceMail the
service reads PLAYBACKSTATUS, DIALSTATUS or VMSTATUS: the outcome says what the caller got
(docs/calllog.md), and a failed step is its own outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import unquote

from routing.decide import mailbox_enabled
from routing.effective import EffectiveState
from routing.models import Action, Call, Organisation, RouteDecision
from routing.spoken import speakable_segments
from switchboard.telephony.ami import AmiClient, Message
from switchboard.telephony.config import TelephonySettings
from switchboard.telephony.dialstrings import Dialler
from switchboard.telephony.errors import (
    AmiActionTimeout,
    AmiConnectionError,
    AmiNotConnected,
    TelephonyError,
)
from switchboard.telephony.fastagi import FastAgiClosed, FastAgiSession
from switchboard.telephony.latency import CallLatency
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

# The variable each application leaves its status in, read after it ran.
STATUS_VARIABLES = {"Playback": "PLAYBACKSTATUS", "Dial": "DIALSTATUS", "VoiceMail": "VMSTATUS"}
DIAL_FAILED = ("INVALIDARGS",)  # a dial string Asterisk refused: our configuration is wrong
PLAYED_VARIABLE = "SWITCHBOARD_PLAYED"  # the caller has heard the message (asterisk_config.py)


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
    transport: str = "async"  # "fastagi" or "async" (AsyncAGI over AMI)
    results: list[tuple[str, str]] = field(default_factory=list)  # (application, status)
    failed: str | None = None  # the first step that failed, e.g. "Playback switchboard/…"
    hung_up: bool = False  # the caller went away while the service handled the call
    first_answer_s: float | None = None  # call reached us → the first command's answer


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
        # sound name → (spoken segments, written text), for rendering before Playback
        self._texts: dict[str, tuple[tuple[str, ...], str]] = {}
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
        # ALV-11: the sound of the owner's own recorded greeting, None for the generated one
        # (set by the composition root from `voicemail.owner_greeting.OwnerGreetings`)
        self.own_greeting: Callable[[str], str | None] = lambda _user_id: None
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
        self.latency = CallLatency()  # histograms for /metrics
        self._links: dict[str, FastAgiSession] = {}  # FastAGI calls, by channel
        self.dialler = Dialler(
            org.plan, settings.internal_dial, settings.external_dial, settings.outbound_format
        )

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

    async def run_fastagi(self, session: FastAgiSession) -> None:
        """Handle one call that arrived over FastAGI (the server awaits it, then closes)."""
        channel = session.channel
        if not channel or channel in self._tasks:
            return  # nothing to handle: the connection closes and the dialplan continues
        self._links[channel] = session
        self._ended[channel] = session.hungup
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
                    first = self._plan(rec, decision)
                    assert isinstance(first[0], Command)
                    cid, fut = await self._submit(rec, first[0].text)
                    self.latency.decision.observe(time.perf_counter() - t0)
            except TimeoutError:
                rec.outcome = "handed_back"
                await self._hand_back(rec)
                return
            await self._collect(rec, first[0].text, cid, fut)
            rec.first_answer_s = time.perf_counter() - t0
            self.latency.first_command.observe(rec.first_answer_s)
            for step in first[1:]:
                commands = self._after_dial(rec) if isinstance(step, AfterDial) else [step]
                for command in commands:
                    if rec.hung_up and command.text != "HANGUP":
                        raise CallEnded(rec.channel)  # nobody left to hear the rest
                    await self._agi(rec, command.text)
            rec.outcome = self._outcome(rec)
        except CallEnded:
            rec.hung_up = True
            rec.outcome = self._outcome(rec)
        except AgiTimeout as exc:
            rec.outcome = "timeout"
            log.warning("call %s: %s; handed back to the dialplan", rec.uniqueid, exc)
            with contextlib.suppress(TelephonyError):
                await self._hand_back(rec)
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
                await self._hand_back(rec)
            except Exception as again:
                log.error("call %s not handed back: %s", rec.uniqueid, type(again).__name__)
        except asyncio.CancelledError:
            rec.outcome = "handed_back"
            hand_back = asyncio.ensure_future(self._hand_back(rec))
            hand_back.add_done_callback(_log_failure)  # also when a second cancel leaves it
            with contextlib.suppress(TelephonyError, asyncio.CancelledError):
                await asyncio.shield(hand_back)
            raise
        finally:
            self._tasks.pop(channel, None)
            self._ended.pop(channel, None)
            self._links.pop(channel, None)
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

    async def _hand_back(self, rec: CallRecord) -> str:
        """Give the call back to the dialplan (its fallback routes it from AstDB)."""
        link = self._links.get(rec.channel)
        if link is not None:
            await link.close()  # AGI() returns; SWITCHBOARD_HANDLED is unset: fallback
            return ""
        return await self._agi(rec, "ASYNCAGI BREAK", wait=False)

    def _dial(self, e164: str) -> str:
        return self.dialler.dial(e164)  # internal series, or the trunk in `outbound_format`

    def _outcome(self, rec: CallRecord) -> str:
        """What the caller got, from the decision and each step's status (docs/calllog.md)."""
        if rec.failed:
            return "failed_step"
        statuses = dict(reversed(rec.results))  # the first status of each application
        last = dict(rec.results)
        vm = last.get("VoiceMail")
        if vm == "SUCCESS":
            return "voicemail_left"
        d = rec.decision
        if any(app == "Dial" and status == "ANSWER" for app, status in rec.results):
            if d is None or d.action is Action.RING:
                return "answered"
            switchboard = self.org.directory.switchboard
            if d.action is Action.TRANSFER or d.next == "transfer" or d.target == switchboard:
                return "transfer"
            return "covering_point"
        if vm is not None:
            return "voicemail_empty"  # reached the mailbox, left nothing (VMSTATUS FAILED)
        if statuses.get("Playback") == "SUCCESS":
            return "rejected" if d is not None and d.action is Action.REJECT else "message"
        if rec.hung_up:
            return "caller_hung_up"
        if "Dial" in statuses:
            return "no_answer"
        return "rejected" if d is not None and d.action is Action.REJECT else "no_answer"

    def _say(self, text: str, kind: str = "message", spoken: Sequence[str] = ()) -> list[Command]:
        # The sound is rendered from the spoken segments (the decision's prompts, else the
        # text's spoken form); the written text rides along as a channel variable so the log
        # and the simulated caller can show what was said.
        segments = tuple(spoken) or speakable_segments(text)
        sound = sound_name(segments)
        if self.renderer is not None:
            if len(self._texts) > 4096:
                self._texts.clear()
            self._texts[sound] = (segments, text)
            self.renderer.ensure(segments)  # starts now; Playback waits for it (bounded)
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
        own = self.own_greeting(user.id)
        greeting = (
            [Command("SET VARIABLE SWITCHBOARD_KIND greeting"), Command(f"EXEC Playback {own}")]
            if own
            else self._say(self.greeting(user.name), "greeting")
        )
        return [
            *greeting,
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
            steps += self._say(d.message, spoken=d.prompts)
            # Should we die from here on, the dialplan's fallback does not play it again.
            steps.append(Command(f"SET VARIABLE {PLAYED_VARIABLE} 1"))
        if d.action is Action.VOICEMAIL or d.next == "voicemail":
            steps += self._voicemail(rec)
        elif d.action in (Action.REDIRECT, Action.TRANSFER) and d.target:
            # The covering point (or the switchboard) is rung; unanswered → the user's voicemail.
            steps += [Command(f"EXEC Dial {self._dial(d.target)},{timeout}"), AfterDial()]
        steps.append(Command("HANGUP"))
        return steps

    def _after_dial(self, rec: CallRecord) -> list[Command]:
        """Dial returned: nothing to do if answered; else voicemail if the user has it."""
        dials = [status for app, status in rec.results if app == "Dial"]
        if dials and dials[-1] == "ANSWER":
            return []
        return self._voicemail(rec)

    async def _submit(
        self, rec: CallRecord, command: str, *, wait: bool = True
    ) -> tuple[str, asyncio.Future[str]]:
        """Queue one AGI command on the channel (the AGI action's response); don't wait for it."""
        link = self._links.get(rec.channel)
        if link is not None:
            self._seq += 1
            return f"fa{self._seq}", link.send(command)
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
        """Wait for the command's answer (AsyncAGI: or for the channel to end), then read the
        application's status variable."""
        sent = time.perf_counter()
        # FastAGI answers every command, also after a hangup (dead-channel mode): wait for it.
        fast = rec.channel in self._links
        ended = None if fast else self._ended.get(rec.channel)
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
            raise AgiTimeout(f"{command!r} got no answer within {limit:g} s")
        try:
            result = fut.result()
        except FastAgiClosed:
            raise CallEnded(rec.channel) from None
        self.latency.agi(command, time.perf_counter() - sent)
        rec.commands.append(command)
        if fast and command != "HANGUP" and self._links[rec.channel].hungup.is_set():
            rec.hung_up = True  # the caller went away (our own HANGUP does not count)
        words = command.split(" ", 2)
        app = words[1] if len(words) > 1 and words[0] == "EXEC" else ""
        variable = STATUS_VARIABLES.get(app)
        if variable is not None:
            answer = await self._agi(rec, f"GET VARIABLE {variable}")
            rec.commands.append(answer)
            status = _value(answer)
            if app == "Playback" and result.startswith("200 result=-1"):
                status = "HANGUP"  # the caller hung up while it played (the status says SUCCESS)
            rec.results.append((app, status))
            self._check(rec, app, command, status)
        return result

    def _check(self, rec: CallRecord, app: str, command: str, status: str) -> None:
        """A step that failed is logged with what Asterisk could not do, and ends as
        `failed_step` (a caller who hung up during VoiceMail simply left no message)."""
        failed = (
            (app == "Playback" and status in ("FAILED", ""))
            or (app == "VoiceMail" and status not in ("SUCCESS", "USEREXIT") and not rec.hung_up)
            or (app == "Dial" and status in DIAL_FAILED)
        )
        if app == "Dial" and status == "CHANUNAVAIL":
            log.warning("call %s: %s: the channel is unavailable", rec.uniqueid, command)
        if not failed:
            return
        rec.failed = rec.failed or command
        where = ""
        if app == "Playback" and self.renderer is not None:
            sound = command.split(" ", 2)[2].split(",")[0]
            key = sound.rsplit("/", 1)[-1]
            where = f" (rendered as {self.renderer.folder / (key + '.wav')})"
        log.error(
            "call %s: %s failed: %s=%s%s",
            rec.uniqueid,
            command,
            STATUS_VARIABLES[app],
            status or "unset",
            where,
            extra={"call_id": rec.uniqueid, "step": command},
        )

    async def _agi(self, rec: CallRecord, command: str, *, wait: bool = True) -> str:
        if self.renderer is not None and command.startswith("EXEC Playback "):
            said = self._texts.get(command[len("EXEC Playback ") :])
            if said is not None:
                rendered = await self.renderer.wait(said[0], within=self.settings.call_deadline_s)
                if rendered is None:  # never block the call on a sound: go on without it
                    log.warning("call %s: not rendered, not played: %s", rec.uniqueid, said[1])
                    rec.failed = rec.failed or command  # the caller missed it: a failed step
                    return ""
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
        for fut in list(self._waiting.values()):
            if not fut.done():
                fut.set_exception(AmiConnectionError("ami", 0, "connection lost mid-call"))
        self._waiting.clear()


def _value(answer: str) -> str:
    """The value of a `GET VARIABLE` answer (`200 result=1 (NOANSWER)` → NOANSWER)."""
    head, sep, rest = answer.strip().partition("(")
    if not sep or not head.startswith("200 result=1"):
        return ""
    return rest.rsplit(")", 1)[0]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)
