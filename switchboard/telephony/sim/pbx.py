"""The PBX model: channels, the dialplan (switchboard.telephony.dialplan) and its applications
(Answer, Playback, Dial, VoiceMail, …), the events and CDR records they produce."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from switchboard.telephony.dialplan import Channel, Dialplan, DialplanError, run
from switchboard.telephony.sim.agi_env import agi_env
from switchboard.telephony.sim.ami_server import AmiServer, frame
from switchboard.telephony.sim.cdr import cdr
from switchboard.telephony.sim.functions import builtin_variables, dialplan_functions
from switchboard.telephony.sim.models import SimCall, Step, VoicemailHook

# manager.conf `channelvars` of the deployment (docker/asterisk/manager.conf).
CHANNEL_VARIABLES = ("SWITCHBOARD_OUTCOME",)

log = logging.getLogger("switchboard.telephony.sim")


class Pbx(AmiServer, ABC):
    """The platform's state (AstDB, live calls, the loaded dialplan) and how calls run."""

    def __init__(
        self,
        *,
        username: str = "switchboard",
        secret: str = "switchboard",
        host: str = "127.0.0.1",
        port: int = 0,
        login_delay: float = 0.0,
        on_voicemail: VoicemailHook | None = None,
        clock: Callable[[], float] = time.time,
        sounds_dir: str | Path | None = None,
        dialplan: str | None = None,
        mailboxes: set[str] | None = None,
    ) -> None:
        super().__init__(
            username=username,
            secret=secret,
            host=host,
            port=port,
            login_delay=login_delay,
            clock=clock,
        )
        self.sounds_dir = Path(sounds_dir) if sounds_dir is not None else None
        self.dialplan = Dialplan.parse(dialplan) if dialplan is not None else None
        self.mailboxes = mailboxes  # None: every mailbox exists (else voicemail.conf's)
        self.on_voicemail = on_voicemail
        self.astdb: dict[str, dict[str, str]] = {}
        self.calls: dict[str, SimCall] = {}
        self.refreshed: list[str] = []  # VoicemailRefresh mailboxes
        self._call_ids = itertools.count(0)
        self._unique = itertools.count(1)
        self.stall_commands: tuple[str, ...] = ()  # AGI commands that never finish (a hung app)

    def load_dialplan(self, text: str, mailboxes: set[str] | None = None) -> None:
        """Run calls through this extensions.conf from now on (and know these mailboxes)."""
        self.dialplan = Dialplan.parse(text)
        if mailboxes is not None:
            self.mailboxes = mailboxes

    def _call_by_channel(self, channel: str) -> SimCall | None:
        return self.calls.get(channel)

    def _channel_event(
        self, call: SimCall, name: str, *extra: tuple[str, str], privilege: str
    ) -> bytes:
        return frame(("Event", name), ("Privilege", privilege), *call.channel_headers(), *extra)

    async def place_call(
        self,
        to: str,
        caller: str = "",
        caller_name: str = "",
        *,
        answer: bool = True,
        leave_message: str | None = None,
        hang_up_at: str | None = None,
        hold: asyncio.Event | None = None,
    ) -> SimCall:
        """Start an inbound call into `from-trunk`: Newchannel, then AsyncAGIStart."""
        n = next(self._call_ids)
        uid = f"{int(self.clock())}.{next(self._unique)}"
        context = "from-trunk"
        if self.dialplan is not None and self.dialplan.find(context, to) is None:
            context = "from-internal"  # staff calling out (ALV-19, HAL-09)
        device = "trunk" if context == "from-trunk" else (caller or "anonymous")
        call = SimCall(
            channel=f"PJSIP/{device}-{n:08x}",
            uniqueid=uid,
            linkedid=uid,
            exten=to,
            caller=caller,
            caller_name=caller_name,
            answer=answer,
            leave_message=leave_message,
            context=context,
            started=self.clock(),
            hang_up_at=hang_up_at,
            hold=hold,
        )
        if self.dialplan is not None:
            call.chanvars = CHANNEL_VARIABLES
        call.segment_start = call.started
        self.calls[call.channel] = call
        call.priority = 1
        self.broadcast(self._channel_event(call, "Newchannel", privilege="call,all"))
        if self.dialplan is not None:
            self._spawn(self._run_dialplan(call, self.dialplan))
            return call
        call.priority = 3
        call.application, call.application_data = "AGI", "agi:async"
        env = agi_env(call)
        self.broadcast(
            self._channel_event(call, "AsyncAGIStart", ("Env", env), privilege="agi,all")
        )
        return call

    # -- the dialplan ------------------------------------------------------------------------

    async def _run_dialplan(self, call: SimCall, plan: Dialplan) -> None:
        chan = Channel(call.context, call.exten, variables=call.variables)

        async def app(name: str, data: str) -> int:
            call.application, call.application_data = name, data
            call.priority = chan.priority - 1
            return await self._app(call, name, data)

        try:
            # Read the clock at each use (a test may set another one); the AstDB is the live dict.
            functions = dialplan_functions(call, self.astdb)
            await run(plan, chan, app, functions, builtin_variables(call, lambda: self.clock()))
        except DialplanError as exc:
            log.error("simulated dialplan: %s", exc)
        finally:
            call.context = chan.context
            await self._end_call(call, "caller" if call.dead else "dialplan", cause="16")

    async def _app(self, call: SimCall, name: str, data: str) -> int:
        """One dialplan application (also reached through AGI's EXEC): 0 go on, -1 hung up."""
        app = name.lower()
        call.last_app = (name, data)
        call.application, call.application_data = name, data
        if call.dead and app not in ("noop", "set", "verbose"):
            return -1
        if app == "answer":
            self._answer(call)
            return 0
        if app == "playback":
            sound = data.split(",")[0]
            kind = call.variables.get("SWITCHBOARD_KIND", "message")
            found = self._play(call, sound)
            call.variables["PLAYBACKSTATUS"] = "SUCCESS" if found else "FAILED"
            if found and call.hang_up_at == kind:
                self._caller_gone(call)  # mid-message: Playback returns -1 (status SUCCESS)
                return -1
            return 0
        if app == "dial":
            if call.hang_up_at == "ring":
                call.steps.append(Step("ring", {"target": data.split(",")[0], "answered": False}))
                call.variables["DIALSTATUS"] = "CANCEL"
                self._caller_gone(call)
                return -1
            if call.hold is not None:
                await call.hold.wait()
            self._dial(call, data)
            return 0
        if app == "voicemail":
            return await self._voicemail(call, data)
        if app == "agi":
            return await self._agi_app(call, data)
        if app == "hangup":
            return -1
        if app in ("wait", "noop", "set", "verbose", "progress", "ringing"):
            return 0
        log.warning("simulated dialplan: application %s is not simulated", name)
        return 0

    @abstractmethod
    async def _agi_app(self, call: SimCall, url: str) -> int:
        """AGI(url): the application that hands the channel to a script (the AGI layer)."""

    def _answer(self, call: SimCall) -> None:
        if call.state != 6:
            call.state = 6
            call.answered = self.clock()
            self.broadcast(self._channel_event(call, "Newstate", privilege="call,all"))

    def _play(self, call: SimCall, sound: str) -> bool:
        """Record what the caller hears; False when Asterisk would not find the file."""
        text = call.variables.get("SWITCHBOARD_TEXT")
        kind = call.variables.get("SWITCHBOARD_KIND", "message")
        # Like Asterisk, a relative sound name is looked up in the sounds directory as .wav;
        # `a&b&c` plays each in turn, and fails if one is missing.
        folder = self.sounds_dir
        files = [] if folder is None else [folder / f"{s}.wav" for s in sound.split("&")]
        audio = "&".join(str(f) for f in files) if folder is not None else sound
        found = all(f.exists() for f in files)
        detail: dict[str, object] = {"audio": audio, "sound": sound}
        if text:
            detail["text"] = text
        if not found:
            detail["missing"] = True  # "File … does not exist in any format": silence
        call.steps.append(Step(kind, detail))
        call.variables.pop("SWITCHBOARD_TEXT", None)
        call.variables.pop("SWITCHBOARD_KIND", None)
        return found

    def _dial(self, call: SimCall, data: str) -> str:
        if not data.split(",")[0]:
            call.variables["DIALSTATUS"] = "INVALIDARGS"
            return "200 result=0"
        target = data.split(",")[0]
        dest = f"{target}-{next(self._unique):08x}"
        dest_headers = (
            ("DestChannel", dest),
            ("DestChannelState", "0"),
            ("DestChannelStateDesc", "Down"),
            ("DestCallerIDNum", call.caller or "<unknown>"),
            ("DestCallerIDName", call.caller_name or "<unknown>"),
            ("DestConnectedLineNum", call.caller or "<unknown>"),
            ("DestConnectedLineName", "<unknown>"),
            ("DestLanguage", "en"),
            ("DestAccountCode", ""),
            ("DestContext", "from-internal"),
            ("DestExten", target.rsplit("/", 1)[-1]),
            ("DestPriority", "1"),
            ("DestUniqueid", f"{call.uniqueid}1"),
            ("DestLinkedid", call.linkedid),
        )
        self.broadcast(
            frame(
                ("Event", "DialBegin"),
                ("Privilege", "call,all"),
                *call.channel_headers(),
                *dest_headers,
                ("DialString", target),
            )
        )
        status = "ANSWER" if call.answer else "NOANSWER"
        call.steps.append(Step("ring", {"target": target, "answered": call.answer}))
        if call.answer and call.answered is None:
            call.answered = self.clock()
        self.broadcast(
            frame(
                ("Event", "DialEnd"),
                ("Privilege", "call,all"),
                *call.channel_headers(),
                *dest_headers,
                ("DialStatus", status),
            )
        )
        call.variables["DIALSTATUS"] = status
        # A Dial ends the channel's CDR record; the next one starts when it returns.
        self.broadcast(cdr(call, self.clock(), dest=dest, dial=(data, status)))
        call.segment_start = self.clock()
        return "200 result=0"

    async def _voicemail(self, call: SimCall, data: str) -> int:
        """app_voicemail: an unknown mailbox fails at once (VMSTATUS=FAILED, the caller still
        there); otherwise the beep, and with a dialplan loaded the caller hangs up after
        leaving the message (VMSTATUS=SUCCESS, MessageWaiting) or without one (FAILED)."""
        box, _, options = data.partition(",")
        mailbox, _, ctx = box.partition("@")
        ctx = ctx or "default"
        detail: dict[str, object] = {"mailbox": mailbox, "context": ctx}
        if options:
            detail["options"] = options  # s: no app_voicemail prompts, only the beep
        self._answer(call)
        if self.mailboxes is not None and mailbox not in self.mailboxes:
            # "No entry in voicemail config file for '…'"
            call.variables["VMSTATUS"] = "FAILED"
            detail["failed"] = "no such mailbox"
            call.steps.append(Step("voicemail", detail))
            return 0
        left = call.leave_message is not None
        if left and self.on_voicemail is not None:
            await self.on_voicemail(call, mailbox, ctx)
            detail["left_message"] = call.leave_message
            for var, key in (("VM_AUDIO", "audio"), ("VM_TXT", "spool")):
                if var in call.variables:
                    detail[key] = call.variables[var]
        call.steps.append(Step("voicemail", detail))
        if self.dialplan is None:
            call.variables["VMSTATUS"] = "SUCCESS"  # the AsyncAGI-only platform: as before
            return 0
        call.variables["VMSTATUS"] = "SUCCESS" if left else "FAILED"
        if left:
            self.broadcast(
                self._channel_event(
                    call,
                    "MessageWaiting",
                    ("Mailbox", f"{mailbox}@{ctx}"),
                    ("Waiting", "1"),
                    ("New", "1"),
                    ("Old", "0"),
                    privilege="call,all",
                )
            )
        self._caller_gone(call)  # a caller ends a voicemail by hanging up
        return -1

    def caller_hangs_up(self, call: SimCall) -> None:
        """The caller hangs up now (e.g. mid-message): with a dialplan, the running AGI gets
        `HANGUP` and the dialplan ends (h extension, Cdr, Hangup); else AsyncAGIEnd, Cdr and
        Hangup follow at once."""
        if self.dialplan is not None and not call.done.is_set():
            self._caller_gone(call)
            return
        self._spawn(self._end_call(call, "caller", cause="16"))

    def _caller_gone(self, call: SimCall) -> None:
        if call.dead:
            return
        call.dead = True
        call.ended_by = call.ended_by or "caller"
        if call.parked is not None and not call.parked.done():
            call.parked.set_result(-1)
        if call.agi is not None and not call.agi.writer.is_closing():
            call.agi.writer.write(b"HANGUP\n")  # res_agi tells a FastAGI script so

    async def _end_call(
        self, call: SimCall, by: str, *, cause: str, agi_ended: bool = False
    ) -> None:
        if call.done.is_set():
            return
        call.ended_by = call.ended_by or by
        if not agi_ended and self.dialplan is None:
            self.broadcast(self._channel_event(call, "AsyncAGIEnd", privilege="agi,all"))
        end = self.clock()
        record = cdr(call, end)
        if self.dialplan is None:
            self.broadcast(record)
        self.broadcast(
            self._channel_event(
                call,
                "Hangup",
                ("Cause", cause),
                ("Cause-txt", "Normal Clearing"),
                privilege="call,all",
            )
        )
        if self.dialplan is not None:
            self.broadcast(record)  # seen on Asterisk 22 too: the last record after the Hangup
        call.steps.append(Step("hangup", {"by": call.ended_by}))
        call.done.set()
        self.calls.pop(call.channel, None)
