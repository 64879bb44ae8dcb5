"""A simulated telephone platform: an AMI server on loopback that speaks Asterisk 22's bytes.

It keeps an AstDB and CustomPresence state, answers the actions the service uses, and plays
calls through AsyncAGI: `place_call` emits Newchannel and AsyncAGIStart and then follows the AGI
commands the service sends, recording what the caller experiences step by step. Frame shapes
(header names and order, URL-encoded Env and Result) follow tests/fixtures/ami/.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import shlex
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from switchboard.telephony.ami import FrameParser, Message, parse_frame

log = logging.getLogger(__name__)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
AGI_QUOTE_SAFE = "/.-_~()"


def frame(*headers: tuple[str, str]) -> bytes:
    """Encode headers as one AMI frame exactly as Asterisk writes it (empty value = 'Key: ')."""
    return "".join(f"{k}: {v}\r\n" for k, v in headers).encode("utf-8") + b"\r\n"


def agi_quote(text: str) -> str:
    """URL-encode like Asterisk's AsyncAGI Env/Result (spaces as %20, UTF-8 bytes escaped)."""
    return quote(text, safe=AGI_QUOTE_SAFE)


@dataclass
class Step:
    """One thing the caller experiences, as `switchboard call` prints it."""

    step: str
    detail: dict[str, object] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        """The JSON object for this step."""
        return {"step": self.step, **self.detail}


VoicemailHook = Callable[["SimCall", str, str], Awaitable[None]]


@dataclass(eq=False)
class SimCall:
    """One simulated inbound call: its channel, variables and the caller's experience."""

    channel: str
    uniqueid: str
    linkedid: str
    exten: str
    caller: str
    caller_name: str
    answer: bool = True
    leave_message: str | None = None
    context: str = "from-trunk"
    state: int = 4
    priority: int = 3
    variables: dict[str, str] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    started: float = 0.0
    answered: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    ended_by: str = ""

    @property
    def state_desc(self) -> str:
        """Asterisk's ChannelStateDesc."""
        return {0: "Down", 4: "Ring", 6: "Up"}.get(self.state, "Unknown")

    def channel_headers(self) -> list[tuple[str, str]]:
        """The channel snapshot headers Asterisk puts in every channel event."""
        return [
            ("Channel", self.channel),
            ("ChannelState", str(self.state)),
            ("ChannelStateDesc", self.state_desc),
            ("CallerIDNum", self.caller or "<unknown>"),
            ("CallerIDName", self.caller_name or "<unknown>"),
            ("ConnectedLineNum", self.caller or "<unknown>"),
            ("ConnectedLineName", "<unknown>"),
            ("Language", "en"),
            ("AccountCode", ""),
            ("Context", self.context),
            ("Exten", self.exten),
            ("Priority", str(self.priority)),
            ("Uniqueid", self.uniqueid),
            ("Linkedid", self.linkedid),
        ]

    async def wait(self, within: float) -> None:
        """Wait until the call has ended, at most `within` s."""
        async with asyncio.timeout(within):
            await self.done.wait()


@dataclass(eq=False)
class _Session:
    writer: asyncio.StreamWriter
    logged_in: bool = False


class SimulatedAsterisk:
    """The AMI server: start() on 127.0.0.1, then connect the ordinary AMI adapter to it."""

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
    ) -> None:
        self.sounds_dir = Path(sounds_dir) if sounds_dir is not None else None
        self.username = username
        self.secret = secret
        self.host = host
        self._port = port
        self.login_delay = login_delay
        self.on_voicemail = on_voicemail
        self.clock = clock
        self.astdb: dict[str, dict[str, str]] = {}
        self.calls: dict[str, SimCall] = {}
        self.received: list[Message] = []  # every action, for tests
        self.refreshed: list[str] = []  # VoicemailRefresh mailboxes
        self.started_at = time.monotonic()
        self._server: asyncio.Server | None = None
        self._sessions: set[_Session] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._jobs: set[asyncio.Task[None]] = set()
        self._after_response: list[bytes] = []
        self._call_ids = itertools.count(0)
        self._unique = itertools.count(1)
        self._wakeups: dict[str, asyncio.Event] = {}
        self.fail_after_actions: int | None = None  # drop every connection after N more actions
        self.stall_commands: tuple[str, ...] = ()  # AGI commands that never finish (a hung app)

    @property
    def sessions(self) -> int:
        """How many AMI connections are open."""
        return len(self._sessions)

    @property
    def port(self) -> int:
        """The listening port (chosen by the OS when 0 was given)."""
        assert self._server is not None, "not started"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Listen on host:port."""
        self._server = await asyncio.start_server(self._serve, self.host, self._port)
        self._port = self.port

    async def close(self) -> None:
        """Stop listening and close every session."""
        if self._server is not None:
            self._server.close()
        await self.drop_connections()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def drop_connections(self) -> None:
        """Close every AMI session abruptly, as a crashing Asterisk would."""
        # Close transports (handlers then see EOF); cancelling stream handlers makes asyncio log.
        for s in list(self._sessions):
            s.writer.close()
        for t in list(self._jobs):
            t.cancel()
        pending = list(self._handlers) + list(self._jobs)
        if pending:
            await asyncio.wait(pending, timeout=2)

    async def restart(self) -> None:
        """Drop connections and come back on the same port (AstDB survives, as it does on disk)."""
        await self.close()
        self._server = await asyncio.start_server(self._serve, self.host, self._port)

    # -- wire --------------------------------------------------------------------------------

    def _write(self, session: _Session, data: bytes) -> None:
        if not session.writer.is_closing():
            session.writer.write(data)

    def broadcast(self, data: bytes) -> None:
        """Send an event frame to every logged-in session."""
        for s in list(self._sessions):
            if s.logged_in:
                self._write(s, data)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        session = _Session(writer)
        self._sessions.add(session)
        parser = FrameParser(expect_banner=False)
        try:
            writer.write(BANNER)
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for msg in _parse_actions(parser, data):
                    if not await self._action(session, msg):
                        return
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._sessions.discard(session)
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _action(self, session: _Session, msg: Message) -> bool:
        """Answer one action; False when the session must close."""
        self.received.append(msg)
        if self.fail_after_actions is not None:
            if self.fail_after_actions <= 0:
                return False
            self.fail_after_actions -= 1
        name = (msg.get("Action") or "").lower()
        aid = msg.get("ActionID") or ""

        def ok(text: str) -> bytes:
            return frame(("Response", "Success"), ("ActionID", aid), ("Message", text))

        def err(text: str) -> bytes:
            return frame(("Response", "Error"), ("ActionID", aid), ("Message", text))

        if name == "login":
            if msg.get("Username") == self.username and msg.get("Secret") == self.secret:
                session.logged_in = True
                self._write(session, ok("Authentication accepted") + self._fully_booted())
                return True
            # Asterisk answers a failed login after about a second, then hangs up.
            await asyncio.sleep(self.login_delay)
            self._write(session, err("Authentication failed"))
            await session.writer.drain()
            return False
        if not session.logged_in:
            self._write(session, err("Permission denied"))
            return True
        handler = getattr(self, f"_act_{name}", None)
        if name == "logoff":
            self._write(
                session,
                frame(
                    ("Response", "Goodbye"),
                    ("ActionID", aid),
                    ("Message", "Thanks for all the fish."),
                ),
            )
            await session.writer.drain()
            return False
        if handler is None:
            self._write(
                session,
                err(
                    f"Invalid/unknown command: {msg.get('Action')}. "
                    "Use Action: ListCommands to show available commands."
                ),
            )
            return True
        data: bytes = handler(msg, aid)
        self._write(session, data)
        events, self._after_response = self._after_response, []
        for event in events:
            self.broadcast(event)
        return True

    def _fully_booted(self) -> bytes:
        up = str(int(time.monotonic() - self.started_at))
        return frame(
            ("Event", "FullyBooted"),
            ("Privilege", "system,all"),
            ("Uptime", up),
            ("LastReload", up),
            ("Status", "Fully Booted"),
        )

    def announce_fully_booted(self) -> None:
        """Send FullyBooted to every session, as after an Asterisk reload."""
        self.broadcast(self._fully_booted())

    # -- actions -----------------------------------------------------------------------------

    def _act_ping(self, msg: Message, aid: str) -> bytes:
        return frame(
            ("Response", "Success"),
            ("ActionID", aid),
            ("Ping", "Pong"),
            ("Timestamp", f"{self.clock():.6f}"),
        )

    def _act_dbput(self, msg: Message, aid: str) -> bytes:
        family, key = msg.get("Family") or "", msg.get("Key") or ""
        if not family or not key:
            return frame(("Response", "Error"), ("ActionID", aid), ("Message", "No key specified"))
        self.astdb.setdefault(family, {})[key] = msg.get("Val") or ""
        return frame(
            ("Response", "Success"), ("ActionID", aid), ("Message", "Updated database successfully")
        )

    def _act_dbget(self, msg: Message, aid: str) -> bytes:
        family, key = msg.get("Family") or "", msg.get("Key") or ""
        val = self.astdb.get(family, {}).get(key)
        if val is None:
            return frame(
                ("Response", "Error"), ("ActionID", aid), ("Message", "Database entry not found")
            )
        return (
            frame(
                ("Response", "Success"),
                ("ActionID", aid),
                ("EventList", "start"),
                ("Message", "Result will follow"),
            )
            + frame(
                ("Event", "DBGetResponse"),
                ("Family", family),
                ("Key", key),
                ("Val", val),
                ("ActionID", aid),
            )
            + frame(
                ("Event", "DBGetComplete"),
                ("ActionID", aid),
                ("EventList", "Complete"),
                ("ListItems", "1"),
            )
        )

    def _act_dbgettree(self, msg: Message, aid: str) -> bytes:
        family = msg.get("Family") or ""
        rows = sorted(self._tree(family))
        head = frame(
            ("Response", "Success"),
            ("ActionID", aid),
            ("EventList", "start"),
            ("Message", "Result will follow"),
        )
        # One join, not `+=` per row: 10,000 rows made the old loop quadratic (1.8 s).
        body = "".join(
            f"Event: DBGetTreeResponse\r\nKey: {path}\r\nVal: {val}\r\nActionID: {aid}\r\n\r\n"
            for path, val in rows
        ).encode("utf-8")
        tail = frame(
            ("Event", "DBGetTreeComplete"),
            ("ActionID", aid),
            ("EventList", "Complete"),
            ("ListItems", str(len(rows))),
        )
        return head + body + tail

    def _tree(self, family: str) -> list[tuple[str, str]]:
        # AstDB families are paths; Key "a/b" under "f" and family "f/a" name the same row.
        rows: list[tuple[str, str]] = []
        for fam, keys in self.astdb.items():
            for key, val in keys.items():
                full = f"{fam}/{key}"
                if full == family or full.startswith(family.rstrip("/") + "/"):
                    rows.append((f"/{full}", val))
        return rows

    def _act_dbdel(self, msg: Message, aid: str) -> bytes:
        family, key = msg.get("Family") or "", msg.get("Key") or ""
        if self.astdb.get(family, {}).pop(key, None) is None:
            return frame(
                ("Response", "Error"),
                ("ActionID", aid),
                ("Message", "Database entry could not be deleted"),
            )
        return frame(
            ("Response", "Success"), ("ActionID", aid), ("Message", "Key deleted successfully")
        )

    def _act_dbdeltree(self, msg: Message, aid: str) -> bytes:
        family = (msg.get("Family") or "").rstrip("/")
        key = msg.get("Key")
        prefix = f"{family}/{key}" if key else family
        gone = False
        for fam in list(self.astdb):
            keys = self.astdb[fam]
            for k in list(keys):
                full = f"{fam}/{k}"
                if full == prefix or full.startswith(prefix + "/"):
                    del keys[k]
                    gone = True
            if not keys:
                del self.astdb[fam]
        if not gone:
            return frame(
                ("Response", "Error"),
                ("ActionID", aid),
                ("Message", "Database entry could not be deleted"),
            )
        return frame(
            ("Response", "Success"), ("ActionID", aid), ("Message", "Key tree deleted successfully")
        )

    def _act_setvar(self, msg: Message, aid: str) -> bytes:
        variable, value = msg.get("Variable") or "", msg.get("Value") or ""
        out = frame(("Response", "Success"), ("ActionID", aid), ("Message", "Variable Set"))
        if variable.startswith("PRESENCE_STATE(CustomPresence:") and variable.endswith(")"):
            ext = variable[len("PRESENCE_STATE(CustomPresence:") : -1]
            self.astdb.setdefault("CustomPresence", {})[ext] = value
            status, _, rest = value.partition(",")
            subtype, _, message = rest.partition(",")
            # Asterisk sends the change event right after the response (to every session).
            self._event_later(
                frame(
                    ("Event", "PresenceStateChange"),
                    ("Privilege", "call,all"),
                    ("Presentity", f"CustomPresence:{ext}"),
                    ("Status", status),
                    ("Subtype", subtype),
                    ("Message", message),
                )
            )
            return out
        channel = msg.get("Channel")
        call = self._call_by_channel(channel) if channel else None
        if call is not None:
            call.variables[variable] = value
        return out

    def _act_presencestate(self, msg: Message, aid: str) -> bytes:
        provider = msg.get("Provider") or ""
        if not provider.startswith("CustomPresence:"):
            return frame(
                ("Response", "Error"),
                ("ActionID", aid),
                ("Message", f"Invalid provider {provider} or provider in invalid state"),
            )
        raw = self.astdb.get("CustomPresence", {}).get(provider.split(":", 1)[1])
        if raw is None:
            return frame(
                ("Response", "Success"),
                ("ActionID", aid),
                ("Message", "Presence State"),
                ("State", "not_set"),
            )
        status, _, rest = raw.partition(",")
        subtype, _, message = rest.partition(",")
        headers = [
            ("Response", "Success"),
            ("ActionID", aid),
            ("Message", "Presence State"),
            ("State", status),
        ]
        if subtype:
            headers.append(("Subtype", subtype))
        if message:
            headers += [("Message", message), ("PresenceMessage", message)]
        return frame(*headers)

    def _act_voicemailrefresh(self, msg: Message, aid: str) -> bytes:
        # Not in the captures; Asterisk acknowledges with a bare Success.
        self.refreshed.append(msg.get("Mailbox") or "")
        return frame(("Response", "Success"), ("ActionID", aid))

    def _act_command(self, msg: Message, aid: str) -> bytes:
        command = msg.get("Command") or ""
        if command == "core show version":
            lines = ["Asterisk 22.10.1 (simulated by switchboard)"]
        elif command == "database show":
            rows = sorted(self._tree(""))
            lines = [f"{k:<50}: {v}" for k, v in rows] + [f"{len(rows)} results found."]
        else:
            words = command.split()
            lines = [
                f"No such command '{command}' (type 'core show help {' '.join(words[:2])}' "
                "for other possible commands)"
            ]
            return frame(
                ("Response", "Error"),
                ("ActionID", aid),
                ("Message", "Command output follows"),
                *(("Output", line) for line in lines),
            )
        return frame(
            ("Response", "Success"),
            ("ActionID", aid),
            ("Message", "Command output follows"),
            *(("Output", line) for line in lines),
        )

    def _act_hangup(self, msg: Message, aid: str) -> bytes:
        call = self._call_by_channel(msg.get("Channel") or "")
        if call is None:
            return frame(("Response", "Error"), ("ActionID", aid), ("Message", "No such channel"))
        self._spawn(self._end_call(call, "hangup action", cause="16"))
        return frame(("Response", "Success"), ("ActionID", aid), ("Message", "Channel Hungup"))

    def _act_agi(self, msg: Message, aid: str) -> bytes:
        channel = msg.get("Channel") or ""
        call = self._call_by_channel(channel)
        if call is None or call.done.is_set():
            return frame(
                ("Response", "Error"),
                ("ActionID", aid),
                ("Message", f"Channel {channel} does not exist."),
            )
        command = msg.get("Command") or ""
        command_id = msg.get("CommandID") or ""
        self._spawn(self._run_agi(call, command, command_id))
        return frame(
            ("Response", "Success"), ("ActionID", aid), ("Message", "Added AGI command to queue")
        )

    # -- calls -------------------------------------------------------------------------------

    def _call_by_channel(self, channel: str) -> SimCall | None:
        return self.calls.get(channel)

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            await coro

        task = asyncio.get_running_loop().create_task(run())
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    def _event_later(self, data: bytes) -> None:
        self._after_response.append(data)

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
    ) -> SimCall:
        """Start an inbound call into `from-trunk`: Newchannel, then AsyncAGIStart."""
        n = next(self._call_ids)
        uid = f"{int(self.clock())}.{next(self._unique)}"
        call = SimCall(
            channel=f"PJSIP/trunk-{n:08x}",
            uniqueid=uid,
            linkedid=uid,
            exten=to,
            caller=caller,
            caller_name=caller_name,
            answer=answer,
            leave_message=leave_message,
            started=self.clock(),
        )
        self.calls[call.channel] = call
        call.priority = 1
        self.broadcast(self._channel_event(call, "Newchannel", privilege="call,all"))
        call.priority = 3
        env = _agi_env(call)
        self.broadcast(
            self._channel_event(call, "AsyncAGIStart", ("Env", env), privilege="agi,all")
        )
        return call

    async def _run_agi(self, call: SimCall, command: str, command_id: str) -> None:
        call.commands.append(command)
        if command.startswith(self.stall_commands) and self.stall_commands:
            return  # accepted, never answered: AsyncAGIExec does not come
        result = await self._execute(call, command)
        if call.done.is_set():
            return
        self.broadcast(
            self._channel_event(
                call,
                "AsyncAGIExec",
                ("Result", agi_quote(result + "\n")),
                ("CommandId", command_id),
                privilege="agi,all",
            )
        )
        verb = command.split(" ", 1)[0].upper()
        if verb == "HANGUP":
            await self._end_call(call, "agi hangup", cause="16")
        elif command.upper().startswith("ASYNCAGI BREAK"):
            self.broadcast(self._channel_event(call, "AsyncAGIEnd", privilege="agi,all"))
            call.steps.append(Step("dialplan", {"fallback": "AstDB switchboard/redirect"}))
            await self._end_call(call, "dialplan", cause="16", agi_ended=True)

    async def _execute(self, call: SimCall, command: str) -> str:
        try:
            # Most commands carry no quotes: a plain split is 10x cheaper than shlex.
            words = shlex.split(command) if '"' in command or "'" in command else command.split()
        except ValueError:
            return "520 Invalid command syntax."
        if not words:
            return "510 Invalid or unknown command"
        verb = words[0].upper()
        if verb == "ANSWER":
            if call.state != 6:
                call.state = 6
                call.answered = self.clock()
                self.broadcast(self._channel_event(call, "Newstate", privilege="call,all"))
            return "200 result=0"
        if verb == "HANGUP":
            return "200 result=1"
        if verb == "SET" and len(words) >= 4 and words[1].upper() == "VARIABLE":
            call.variables[words[2]] = words[3]
            return "200 result=1"
        if verb == "GET" and len(words) >= 3 and words[1].upper() == "VARIABLE":
            value = {"CALLERID(name)": call.caller_name, "CALLERID(num)": call.caller}.get(
                words[2], call.variables.get(words[2])
            )
            return "200 result=0" if value is None else f"200 result=1 ({value})"
        if verb == "STREAM" and len(words) >= 2:
            self._play(
                call, words[2] if len(words) > 2 and words[1].upper() == "FILE" else words[1]
            )
            return "200 result=0 endpos=8000"
        if verb == "EXEC" and len(words) >= 2:
            app = words[1].lower()
            data = " ".join(words[2:])
            if app == "playback":
                self._play(call, data.split(",")[0])
                return "200 result=0"
            if app == "dial":
                return self._dial(call, data)
            if app == "voicemail":
                await self._voicemail(call, data)
                return "200 result=0"
            if app in ("wait", "noop", "set"):
                return "200 result=0"
            return "200 result=-2"
        return "510 Invalid or unknown command"

    def _play(self, call: SimCall, sound: str) -> None:
        text = call.variables.get("SWITCHBOARD_TEXT")
        kind = call.variables.get("SWITCHBOARD_KIND", "message")
        # Like Asterisk, a relative sound name is looked up in the sounds directory as .wav.
        audio = str(self.sounds_dir / f"{sound}.wav") if self.sounds_dir is not None else sound
        detail: dict[str, object] = {"audio": audio, "sound": sound}
        if text:
            detail["text"] = text
        call.steps.append(Step(kind, detail))
        call.variables.pop("SWITCHBOARD_TEXT", None)
        call.variables.pop("SWITCHBOARD_KIND", None)

    def _dial(self, call: SimCall, data: str) -> str:
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
        return "200 result=0"

    async def _voicemail(self, call: SimCall, data: str) -> None:
        mailbox, _, ctx = data.split(",")[0].partition("@")
        detail: dict[str, object] = {"mailbox": mailbox, "context": ctx or "default"}
        if call.leave_message is not None and self.on_voicemail is not None:
            await self.on_voicemail(call, mailbox, ctx or "default")
            detail["left_message"] = call.leave_message
            for var, key in (("VM_AUDIO", "audio"), ("VM_TXT", "spool")):
                if var in call.variables:
                    detail[key] = call.variables[var]
        call.variables["VMSTATUS"] = "SUCCESS"
        call.steps.append(Step("voicemail", detail))

    def caller_hangs_up(self, call: SimCall) -> None:
        """The caller hangs up now (e.g. mid-message): AsyncAGIEnd, Cdr and Hangup follow."""
        self._spawn(self._end_call(call, "caller", cause="16"))

    async def _end_call(
        self, call: SimCall, by: str, *, cause: str, agi_ended: bool = False
    ) -> None:
        if call.done.is_set():
            return
        call.ended_by = by
        if not agi_ended:
            self.broadcast(self._channel_event(call, "AsyncAGIEnd", privilege="agi,all"))
        end = self.clock()
        self.broadcast(_cdr(call, end))
        self.broadcast(
            self._channel_event(
                call,
                "Hangup",
                ("Cause", cause),
                ("Cause-txt", "Normal Clearing"),
                privilege="call,all",
            )
        )
        call.steps.append(Step("hangup", {"by": by}))
        call.done.set()
        self.calls.pop(call.channel, None)


def _parse_actions(parser: FrameParser, data: bytes) -> list[Message]:
    return [m for m in parser.feed(data) if m.kind == "action"]


def _agi_env(call: SimCall) -> str:
    env = [
        ("agi_request", "async"),
        ("agi_channel", call.channel),
        ("agi_language", "en"),
        ("agi_type", call.channel.split("/", 1)[0]),
        ("agi_uniqueid", call.uniqueid),
        ("agi_version", "22.10.1"),
        ("agi_callerid", call.caller or "unknown"),
        ("agi_calleridname", call.caller_name or "unknown"),
        ("agi_callingpres", "0"),
        ("agi_callingani2", "0"),
        ("agi_callington", "0"),
        ("agi_callingtns", "0"),
        ("agi_dnid", call.exten),
        ("agi_rdnis", "unknown"),
        ("agi_context", call.context),
        ("agi_extension", call.exten),
        ("agi_priority", str(call.priority)),
        ("agi_enhanced", "0.0"),
        ("agi_accountcode", ""),
        ("agi_threadid", "140182715438784"),
    ]
    return agi_quote("".join(f"{k}: {v}\n" for k, v in env) + "\n")


def _cdr(call: SimCall, end: float) -> bytes:
    def stamp(t: float | None) -> str:
        return "" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")

    billable = int(end - call.answered) if call.answered is not None else 0
    last_app = "AGI"
    return frame(
        ("Event", "Cdr"),
        ("Privilege", "cdr,all"),
        ("AccountCode", ""),
        ("Source", call.caller),
        ("Destination", call.exten),
        ("DestinationContext", call.context),
        ("CallerID", f'"{call.caller_name}" <{call.caller}>'),
        ("Channel", call.channel),
        ("DestinationChannel", ""),
        ("LastApplication", last_app),
        ("LastData", "agi:async"),
        ("StartTime", stamp(call.started)),
        ("AnswerTime", stamp(call.answered)),
        ("EndTime", stamp(end)),
        ("Duration", str(int(end - call.started))),
        ("BillableSeconds", str(billable)),
        ("Disposition", "ANSWERED" if call.answered is not None else "NO ANSWER"),
        ("AMAFlags", "DOCUMENTATION"),
        ("UniqueID", call.uniqueid),
        ("UserField", ""),
    )


__all__ = ["BANNER", "SimCall", "SimulatedAsterisk", "Step", "agi_quote", "frame", "parse_frame"]
