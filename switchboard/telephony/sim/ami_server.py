"""The simulated platform's AMI server: TCP on loopback, the banner, framing, Login/Logoff,
one handler per action (`_act_<name>`, defined by the layers above), events to every session."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from switchboard.telephony.ami.protocol import FrameParser, Message

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def frame(*headers: tuple[str, str]) -> bytes:
    """Encode headers as one AMI frame exactly as Asterisk writes it (empty value = 'Key: ')."""
    return "".join(f"{k}: {v}\r\n" for k, v in headers).encode("utf-8") + b"\r\n"


@dataclass(eq=False)
class _Session:
    writer: asyncio.StreamWriter
    logged_in: bool = False


class AmiServer:
    """Listens on host:port and answers actions with the `_act_<name>` methods of its subclass."""

    def __init__(
        self,
        *,
        username: str,
        secret: str,
        host: str,
        port: int,
        login_delay: float,
        clock: Callable[[], float],
    ) -> None:
        self.username = username
        self.secret = secret
        self.host = host
        self._port = port
        self.login_delay = login_delay
        self.clock = clock
        self.received: list[Message] = []  # every action, for tests
        self.started_at = time.monotonic()
        self._server: asyncio.Server | None = None
        self._sessions: set[_Session] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._jobs: set[asyncio.Task[None]] = set()
        self._after_response: list[bytes] = []
        self.fail_after_actions: int | None = None  # drop every connection after N more actions

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

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            await coro

        task = asyncio.get_running_loop().create_task(run())
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    def _event_later(self, data: bytes) -> None:
        self._after_response.append(data)


def _parse_actions(parser: FrameParser, data: bytes) -> list[Message]:
    return [m for m in parser.feed(data) if m.kind == "action"]
