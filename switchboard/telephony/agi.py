"""AGI commands on the channels of the calls in progress, and the status each step left.

A command goes over AsyncAGI (the AMI `AGI` action with a CommandID; its answer is the
AsyncAGIExec event with that id) or over the call's FastAGI connection. After every Playback,
Dial and VoiceMail the application's status variable is read (PLAYBACKSTATUS, DIALSTATUS,
VMSTATUS) into `CallRecord.results`; a step that failed is logged and marks the call. The calls
themselves are run by `switchboard.telephony.calls.CallController`.

A planned message's Playback never holds the caller for a render (issue 21): it plays what
is rendered — the message's file, else its pieces from the start (`Playback lead-in&a&b`),
else after a short wait (`first_audio_wait_s`) a generic prompt — and the rest follows in a
second Playback once rendered (at most `call_deadline_s`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from urllib.parse import unquote

from switchboard.telephony.ami import AmiClient, Message
from switchboard.telephony.config import TelephonySettings
from switchboard.telephony.errors import AmiConnectionError, AmiNotConnected, TelephonyError
from switchboard.telephony.fastagi import FastAgiClosed, FastAgiSession
from switchboard.telephony.latency import CallLatency
from switchboard.telephony.plan import CallRecord, Said
from switchboard.telephony.sounds import GENERIC_PROMPT, SoundRenderer

log = logging.getLogger("switchboard.telephony.calls")  # the calls' log, as before the split


class CallEnded(TelephonyError):
    """The channel went away (the caller hung up) while a command was running."""

    error_id = "call-ended"


class AgiTimeout(TelephonyError):
    """An AGI command got no AsyncAGIExec within its limit (the call is handed back)."""

    error_id = "agi-timeout"


# The variable each application leaves its status in, read after it ran.
STATUS_VARIABLES = {"Playback": "PLAYBACKSTATUS", "Dial": "DIALSTATUS", "VoiceMail": "VMSTATUS"}
DIAL_FAILED = ("INVALIDARGS",)  # a dial string Asterisk refused: our configuration is wrong
PLAYBACK = "EXEC Playback "


class AgiChannels:
    """The AGI round trip of every call in progress: send a command, wait for its answer (or
    for the channel to end), read the application's status."""

    def __init__(
        self,
        settings: TelephonySettings,
        client: Callable[[], AmiClient | None],
        latency: CallLatency,
        *,
        renderer: SoundRenderer | None = None,
        said: Callable[[str], Said | None] = lambda _sound: None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.latency = latency
        self.renderer = renderer
        self.said = said  # what a planned sound says, to play what of it is rendered
        self._waiting: dict[str, asyncio.Future[str]] = {}  # CommandID → result
        self._ended: dict[str, asyncio.Event] = {}
        self._links: dict[str, FastAgiSession] = {}  # FastAGI calls, by channel
        self._seq = 0
        self.agi_grace_s = 60.0  # longest wait for a command's AsyncAGIExec (Dial: + its timeout)
        self.first_audio_wait_s = 0.05  # nothing of a message rendered: then the generic prompt

    def open_async(self, channel: str) -> None:
        """An AsyncAGI call begins on `channel` (AsyncAGIStart)."""
        self._ended[channel] = asyncio.Event()

    def open_fastagi(self, session: FastAgiSession) -> None:
        """A FastAGI call begins: its commands go over the session."""
        self._links[session.channel] = session
        self._ended[session.channel] = session.hungup

    def close(self, channel: str) -> None:
        """The call on `channel` is no longer run."""
        self._ended.pop(channel, None)
        self._links.pop(channel, None)

    def on_event(self, msg: Message) -> None:
        """AsyncAGIExec answers a command; AsyncAGIEnd or Hangup ends a channel."""
        name = msg.name
        if name == "AsyncAGIExec":
            fut = self._waiting.pop(msg.get("CommandId") or msg.get("CommandID") or "", None)
            if fut is not None and not fut.done():
                fut.set_result(unquote(msg.get("Result") or ""))
        elif name in ("AsyncAGIEnd", "Hangup"):
            ended = self._ended.get(msg.get("Channel") or "")
            if ended is not None:
                ended.set()

    async def hand_back(self, rec: CallRecord) -> str:
        """Give the call back to the dialplan (its fallback routes it from AstDB)."""
        link = self._links.get(rec.channel)
        if link is not None:
            await link.close()  # AGI() returns; SWITCHBOARD_HANDLED is unset: fallback
            return ""
        return await self.run(rec, "ASYNCAGI BREAK", wait=False)

    async def submit(
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

    async def collect(
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
            answer = await self.run(rec, f"GET VARIABLE {variable}")
            rec.commands.append(answer)
            status = _value(answer)
            if app == "Playback" and result.startswith("200 result=-1"):
                status = "HANGUP"  # the caller hung up while it played (the status says SUCCESS)
            rec.results.append((app, status))
            self.check(rec, app, command, status)
        return result

    def check(self, rec: CallRecord, app: str, command: str, status: str) -> None:
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
            sounds = command.split(" ", 2)[2].split(",")[0].split("&")
            paths = ", ".join(str(self.renderer.root / f"{sound}.wav") for sound in sounds)
            where = f" (rendered as {paths})"
        log.error(
            "call %s: %s failed: %s=%s%s",
            rec.uniqueid,
            command,
            STATUS_VARIABLES[app],
            status or "unset",
            where,
            extra={"call_id": rec.uniqueid, "step": command},
        )

    async def run(self, rec: CallRecord, command: str, *, wait: bool = True) -> str:
        """Run one command (and read its status); `wait=False`: send it and go on. A planned
        message's Playback plays what of it is rendered (`play`)."""
        if self.renderer is not None and command.startswith(PLAYBACK):
            said = self.said(command[len(PLAYBACK) :])
            if said is not None:
                return await self.play(rec, command, said, self.renderer)
        return await self.send(rec, command, wait=wait)

    async def send(self, rec: CallRecord, command: str, *, wait: bool = True) -> str:
        """Send one command as it is, and (unless `wait=False`) read its answer and status."""
        cid, fut = await self.submit(rec, command, wait=wait)
        if not wait:
            return ""
        return await self.collect(rec, command, cid, fut)

    async def play(self, rec: CallRecord, command: str, said: Said, renderer: SoundRenderer) -> str:
        """Play a message without waiting for its render: what is rendered now (its file, its
        first pieces, or after `first_audio_wait_s` the generic prompt), then the rest once it
        is rendered (within `call_deadline_s`); what never came is logged, and fails the step."""
        deadline = self.settings.call_deadline_s
        now = await renderer.playable(
            said.segments, within=self.first_audio_wait_s, fallback=GENERIC_PROMPT
        )
        result = ""
        if now.now is not None:
            result = await self.send(rec, PLAYBACK + now.now)
            if not now.later or rec.hung_up or result.startswith("200 result=-1"):
                return result  # all said, or nobody left to hear the rest
        rest = await renderer.rest(said.segments, now.later, deadline, first=now.now is None)
        if rest is None:  # never block the call on a sound: go on without it
            log.warning("call %s: not rendered, not played: %s", rec.uniqueid, said.text)
            rec.failed = rec.failed or command  # the caller missed it: a failed step
            return result
        if now.now is not None:  # the platform's variables went with the first Playback
            await self.send(rec, f"SET VARIABLE SWITCHBOARD_KIND {said.kind}")
        return await self.send(rec, PLAYBACK + rest)

    def interrupt_all(self) -> None:
        """The AMI link broke: every command waiting for its answer fails as a lost link."""
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
