"""A simulated telephone platform: an AMI server on loopback that speaks Asterisk 22's bytes.

It keeps an AstDB and CustomPresence state, answers the actions the service uses, and plays
calls, recording what the caller experiences step by step:

- with a dialplan loaded (`load_dialplan`, what the service does with the one it generates),
  `place_call` runs that extensions.conf as Asterisk does (switchboard.telephony.dialplan): its
  `AGI(agi://…)` connects to the service's FastAGI port and falls through when nobody listens,
  its fallback reads AstDB, Playback/Dial/VoiceMail set PLAYBACKSTATUS/DIALSTATUS/VMSTATUS;
- without one, every call enters `AGI(agi:async)`: AsyncAGIStart, then the AGI actions the
  service sends. Like Asterisk, it waits for a command forever (no timeout); a channel parked so
  is listed by CoreShowChannels.

Frame shapes (header names and order, URL-encoded Env and Result, Cdr fields: one Cdr per CDR
segment, a Dial ending one, the last one sometimes after the Hangup) follow tests/fixtures/ami/
and the captures in docs/asterisk.md.
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
from switchboard.telephony.dialplan import Channel, Dialplan, DialplanError, run

# manager.conf `channelvars` of the deployment (docker/asterisk/manager.conf).
CHANNEL_VARIABLES = ("SWITCHBOARD_OUTCOME",)
# Dial statuses as CDR dispositions (cdr.c).
DISPOSITIONS = {"ANSWER": "ANSWERED", "NOANSWER": "NO ANSWER", "BUSY": "BUSY"}

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
    dead: bool = False  # the caller has hung up (dialplan mode: apps return -1)
    application: str = ""  # what the channel runs now (CoreShowChannels)
    application_data: str = ""
    segment_start: float = 0.0  # CDR: the current record's start
    last_app: tuple[str, str] = ("", "")  # CDR: LastApplication, LastData
    agi: _SimAgi | None = None  # the FastAGI connection while AGI() runs
    chanvars: tuple[str, ...] = ()  # manager.conf channelvars: ChanVariable in every event
    hang_up_at: str | None = None  # the caller hangs up when this step begins (message, ring…)
    hold: asyncio.Event | None = None  # a Dial rings until this is set (a test's pause)
    parked: asyncio.Future[int] | None = None  # in AGI(agi:async): ASYNCAGI BREAK 0, HANGUP -1

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
            *(("ChanVariable", f"{v}={self.variables.get(v, '')}") for v in self.chanvars),
        ]

    async def wait(self, within: float) -> None:
        """Wait until the call has ended, at most `within` s."""
        async with asyncio.timeout(within):
            await self.done.wait()


@dataclass(eq=False)
class _SimAgi:
    writer: asyncio.StreamWriter


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
        dialplan: str | None = None,
        mailboxes: set[str] | None = None,
    ) -> None:
        self.sounds_dir = Path(sounds_dir) if sounds_dir is not None else None
        self.dialplan = Dialplan.parse(dialplan) if dialplan is not None else None
        self.mailboxes = mailboxes  # None: every mailbox exists (else voicemail.conf's)
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

    def load_dialplan(self, text: str, mailboxes: set[str] | None = None) -> None:
        """Run calls through this extensions.conf from now on (and know these mailboxes)."""
        self.dialplan = Dialplan.parse(text)
        if mailboxes is not None:
            self.mailboxes = mailboxes

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

    async def drop_sessions(self) -> None:
        """Close every AMI session (a broken AMI link); calls and their AGI go on."""
        for s in list(self._sessions):
            s.writer.close()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=2)

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

    async def shut_down(self, *, restart: bool = True) -> None:
        """`core restart`: the Shutdown event to every session (as captured in j_shutdown),
        then the sessions close and nothing listens until `restart()`."""
        self.broadcast(
            frame(
                ("Event", "Shutdown"),
                ("Privilege", "system,all"),
                ("Shutdown", "Cleanly"),
                ("Restart", "True" if restart else "False"),
            )
        )
        await self.close()

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

    def _act_coreshowchannels(self, msg: Message, aid: str) -> bytes:
        """Every live channel as a CoreShowChannel event (as captured: Application, Data)."""
        live = [c for c in self.calls.values() if not c.done.is_set()]
        head = frame(
            ("Response", "Success"),
            ("ActionID", aid),
            ("EventList", "start"),
            ("Message", "Channels will follow"),
        )
        body = b""
        for call in live:
            seconds = int(max(0.0, self.clock() - call.started))
            body += frame(
                ("Event", "CoreShowChannel"),
                ("ActionID", aid),
                *call.channel_headers(),
                ("Application", call.application),
                ("ApplicationData", call.application_data),
                ("Duration", f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"),
                ("BridgeId", ""),
            )
        tail = frame(
            ("Event", "CoreShowChannelsComplete"),
            ("ActionID", aid),
            ("EventList", "Complete"),
            ("ListItems", str(len(live))),
        )
        return head + body + tail

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
        env = _agi_env(call)
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
            await run(plan, chan, app, self._functions(call), self._builtin(call))
        except DialplanError as exc:
            log.error("simulated dialplan: %s", exc)
        finally:
            call.context = chan.context
            await self._end_call(call, "caller" if call.dead else "dialplan", cause="16")

    def _builtin(self, call: SimCall) -> Callable[[str], str | None]:
        def value(name: str) -> str | None:
            if name == "EPOCH":
                return str(int(self.clock()))
            if name == "CHANNEL":
                return call.channel
            if name == "UNIQUEID":
                return call.uniqueid
            return None

        return value

    def _functions(self, call: SimCall) -> dict[str, Callable[[str], str]]:
        def db(arg: str) -> str:
            family, _, key = arg.rpartition("/")
            return self.astdb.get(family, {}).get(key, "")

        def cut(arg: str) -> str:
            name, delim, field_spec = [*arg.split(","), "", ""][:3]
            parts = call.variables.get(name, "").split(delim or "-")
            index = int(field_spec or 1) - 1
            return parts[index] if 0 <= index < len(parts) else ""

        def callerid(arg: str) -> str:
            which = arg.lower()
            if which == "name":
                return call.caller_name
            if which == "all":
                return f'"{call.caller_name}" <{call.caller}>'
            return call.caller

        def channel(arg: str) -> str:
            return call.variables.get(f"CHANNEL({arg})", "en" if arg == "language" else "")

        def if_(arg: str) -> str:
            condition, _, branches = arg.partition("?")
            yes, _, no = branches.partition(":")
            return yes if condition.strip() not in ("", "0") else no

        return {
            "DB": db,
            "CUT": cut,
            "CALLERID": callerid,
            "CHANNEL": channel,
            "IF": if_,
            "LEN": lambda arg: str(len(arg)),
        }

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

    async def _async_agi(self, call: SimCall) -> int:
        """AGI(agi:async): AsyncAGIStart, then wait — without any timeout, as res_agi.c does —
        for ASYNCAGI BREAK (the dialplan goes on) or HANGUP."""
        call.parked = asyncio.get_running_loop().create_future()
        env = _agi_env(call)
        self.broadcast(
            self._channel_event(call, "AsyncAGIStart", ("Env", env), privilege="agi,all")
        )
        try:
            result = await call.parked
        finally:
            call.parked = None
        self.broadcast(self._channel_event(call, "AsyncAGIEnd", privilege="agi,all"))
        call.variables["AGISTATUS"] = "SUCCESS"
        if result == 0:
            call.steps.append(Step("fallback", {"reason": "ASYNCAGI BREAK"}))
        return result

    async def _agi_app(self, call: SimCall, url: str) -> int:
        """AGI(agi://host:port/script): connect (refused → AGISTATUS=FAILURE at once), send
        the environment, run commands until the client closes; HANGUP ends the channel."""
        if url.startswith("agi:async"):
            return await self._async_agi(call)
        if not url.startswith("agi://"):
            call.variables["AGISTATUS"] = "FAILURE"
            return 0
        hostport, _, script = url[len("agi://") :].partition("/")
        host, _, port_text = hostport.partition(":")
        try:
            reader, writer = await asyncio.open_connection(host, int(port_text or 4573))
        except (OSError, ValueError):
            call.variables["AGISTATUS"] = "FAILURE"
            call.steps.append(Step("fallback", {"reason": f"nobody answers {url}"}))
            return 0
        call.agi = _SimAgi(writer)
        env = _fastagi_env(call, script)
        hung_up = False
        try:
            writer.write(env.encode("utf-8"))
            while True:
                line = await reader.readline()
                if not line:
                    break
                command = line.decode("utf-8", errors="replace").strip()
                if not command:
                    continue
                if self.stall_commands and command.startswith(self.stall_commands):
                    call.commands.append(command)
                    continue  # a hung application: no answer (the client gives up)
                result = await self._execute(call, command)
                call.commands.append(command)
                if not writer.is_closing():
                    writer.write(result.encode("utf-8") + b"\n")
                if command.split(" ", 1)[0].upper() == "HANGUP":
                    hung_up = True
                    call.ended_by = call.ended_by or "agi hangup"
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            call.agi = None
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
        call.variables["AGISTATUS"] = "SUCCESS"
        if not hung_up and not call.dead:
            call.steps.append(Step("fallback", {"reason": "the service handed the call back"}))
        return -1 if hung_up or call.dead else 0

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
        if call.parked is not None:  # AGI(agi:async) in a dialplan: the dialplan goes on
            if verb == "HANGUP" and not call.parked.done():
                call.parked.set_result(-1)
            elif command.upper().startswith("ASYNCAGI BREAK") and not call.parked.done():
                call.parked.set_result(0)
            return
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
            if call.dead:
                return "511 Command Not Permitted on a dead channel or intercepted channel"
            self._answer(call)
            return "200 result=0"
        if verb == "HANGUP":
            return "200 result=1"
        if verb == "ASYNCAGI":
            return "200 result=0"
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
            if app not in ("playback", "dial", "voicemail", "wait", "noop", "set"):
                return "200 result=-2"
            return f"200 result={await self._app(call, words[1], data)}"
        return "510 Invalid or unknown command"

    def _answer(self, call: SimCall) -> None:
        if call.state != 6:
            call.state = 6
            call.answered = self.clock()
            self.broadcast(self._channel_event(call, "Newstate", privilege="call,all"))

    def _play(self, call: SimCall, sound: str) -> bool:
        """Record what the caller hears; False when Asterisk would not find the file."""
        text = call.variables.get("SWITCHBOARD_TEXT")
        kind = call.variables.get("SWITCHBOARD_KIND", "message")
        # Like Asterisk, a relative sound name is looked up in the sounds directory as .wav.
        audio = str(self.sounds_dir / f"{sound}.wav") if self.sounds_dir is not None else sound
        found = self.sounds_dir is None or Path(audio).exists()
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
        self.broadcast(_cdr(call, self.clock(), dest=dest, dial=(data, status)))
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
        cdr = _cdr(call, end)
        if self.dialplan is None:
            self.broadcast(cdr)
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
            self.broadcast(cdr)  # seen on Asterisk 22 too: the last record after the Hangup
        call.steps.append(Step("hangup", {"by": call.ended_by}))
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


def _fastagi_env(call: SimCall, script: str) -> str:
    """The environment res_agi sends a FastAGI script (agi_network, then the channel's)."""
    env = [
        ("agi_network", "yes"),
        ("agi_network_script", script),
        ("agi_request", f"agi://127.0.0.1/{script}"),
        ("agi_channel", call.channel),
        ("agi_language", call.variables.get("CHANNEL(language)", "en")),
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
    return "".join(f"{k}: {v}\n" for k, v in env) + "\n"


def _cdr(
    call: SimCall, end: float, *, dest: str = "", dial: tuple[str, str] | None = None
) -> bytes:
    """One CDR record of the channel, as cdr_manager writes it: no Linkedid, UniqueID of the
    channel, times in the server's zone (UTC here), a Dial closing the record it ran in."""

    def stamp(t: float | None) -> str:
        return "" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")

    start = call.segment_start or call.started
    answered = None if call.answered is None else max(call.answered, start)
    billable = int(end - answered) if answered is not None else 0
    if dial is not None:
        last_app, last_data = "Dial", dial[0]
        disposition = DISPOSITIONS.get(dial[1], "FAILED")
    elif call.last_app[0]:
        last_app, last_data = call.last_app
        disposition = "ANSWERED" if answered is not None else "NO ANSWER"
    else:
        last_app, last_data = "AGI", "agi:async"
        disposition = "ANSWERED" if answered is not None else "NO ANSWER"
    return frame(
        ("Event", "Cdr"),
        ("Privilege", "cdr,all"),
        ("AccountCode", ""),
        ("Source", call.caller),
        ("Destination", call.exten),
        ("DestinationContext", call.context),
        ("CallerID", f'"{call.caller_name}" <{call.caller}>'),
        ("Channel", call.channel),
        ("DestinationChannel", dest),
        ("LastApplication", last_app),
        ("LastData", last_data),
        ("StartTime", stamp(start)),
        ("AnswerTime", stamp(answered)),
        ("EndTime", stamp(end)),
        ("Duration", str(int(end - start))),
        ("BillableSeconds", str(billable)),
        ("Disposition", disposition),
        ("AMAFlags", "DOCUMENTATION"),
        ("UniqueID", call.uniqueid),
        ("UserField", ""),
    )


__all__ = ["BANNER", "SimCall", "SimulatedAsterisk", "Step", "agi_quote", "frame", "parse_frame"]
