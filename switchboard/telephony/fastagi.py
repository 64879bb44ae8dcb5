"""FastAGI: Asterisk's `AGI(agi://host:port/…)` connects to the service once per call.

Why FastAGI rather than AsyncAGI for the dialplan we ship: when nobody listens (the service is
down, restarting, or this node is not the leader) Asterisk's connect is refused and `AGI()`
returns at once with `AGISTATUS=FAILURE`, so the dialplan's own fallback runs; when the service
dies mid-call the kernel closes the socket and `AGI()` returns too. `AGI(agi:async)` instead waits
for a command with no timeout (res_agi.c), so a call sits in silence until someone hangs up.

The wire format (res_agi.c): Asterisk sends `agi_<name>: <value>` lines and a blank line; then
the client writes one command per line and reads one answer per command (`200 result=…`, `510 …`,
`511 …` on a dead channel, or a multi-line `520-…` usage ending with `520 …`). When the caller
hangs up Asterisk writes a `HANGUP` line (between answers) and keeps answering commands in "dead
channel" mode (GET VARIABLE works, EXEC returns at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from switchboard.telephony.errors import TelephonyError

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024
ENV_DEADLINE_S = 5.0


class FastAgiClosed(TelephonyError):
    """Asterisk closed the FastAGI connection (the AGI application ended)."""

    error_id = "fastagi-closed"


class FastAgiSession:
    """One call's FastAGI connection: the environment, then commands and their answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.env: dict[str, str] = {}
        self.hungup = asyncio.Event()  # Asterisk said HANGUP: the caller has gone
        self.closed = asyncio.Event()  # the connection is gone
        self._waiting: deque[asyncio.Future[str]] = deque()
        self._reader: asyncio.Task[None] | None = None

    @property
    def channel(self) -> str:
        """The channel name (`agi_channel`)."""
        return self.env.get("agi_channel", "")

    async def read_env(self, within: float = ENV_DEADLINE_S) -> dict[str, str]:
        """Read the `agi_*` lines up to the blank line; then start reading answers."""
        async with asyncio.timeout(within):
            while True:
                line = await self.reader.readline()
                if not line:
                    raise FastAgiClosed("closed before the AGI environment ended")
                text = line.decode("utf-8", errors="replace").rstrip("\r\n")
                if not text:
                    break
                key, sep, value = text.partition(": ")
                if sep:
                    self.env[key] = value
        self._reader = asyncio.create_task(self._read_answers())
        return self.env

    def send(self, command: str) -> asyncio.Future[str]:
        """Write one command; the future gives its answer (FastAgiClosed if the link ends)."""
        if any(c in command for c in "\r\n"):
            raise ValueError("an AGI command is one line")
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(_retrieved)  # a command nobody waits for (a hand-back) is fine
        if self.closed.is_set() or self.writer.is_closing():
            fut.set_exception(FastAgiClosed(f"{command!r} not sent: the connection is closed"))
            return fut
        self._waiting.append(fut)
        self.writer.write(command.encode("utf-8") + b"\n")
        return fut

    async def _read_answers(self) -> None:
        usage: list[str] = []
        try:
            while True:
                raw = await self.reader.readline()
                if not raw:
                    break
                text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if text == "HANGUP":
                    self.hungup.set()
                    continue
                if text.startswith("520-") or usage:
                    usage.append(text)  # a usage text: the answer is complete at "520 …"
                    if not text.startswith("520 "):
                        continue
                    text, usage = "\n".join(usage), []
                if self._waiting:
                    fut = self._waiting.popleft()
                    if not fut.done():
                        fut.set_result(text)
                else:
                    log.debug("fastagi: an answer nobody asked for: %r", text)
        except (OSError, ValueError) as exc:  # a reset, or a line beyond the stream limit
            log.debug("fastagi read ended: %s", exc)
        finally:
            self._finish()

    def _finish(self) -> None:
        self.closed.set()
        self.hungup.set()  # no connection: nothing more reaches the caller through us
        while self._waiting:
            fut = self._waiting.popleft()
            if not fut.done():
                fut.set_exception(FastAgiClosed("the AGI connection ended"))

    async def close(self) -> None:
        """Close the connection: Asterisk's AGI() returns and the dialplan continues."""
        self.writer.close()
        with contextlib.suppress(OSError, RuntimeError):
            await self.writer.wait_closed()
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._finish()


def _retrieved(fut: asyncio.Future[str]) -> None:
    if not fut.cancelled():
        fut.exception()


SessionHandler = Callable[[FastAgiSession], Awaitable[None]]


class FastAgiServer:
    """Listens for Asterisk's FastAGI connections and hands each call to `handler`."""

    def __init__(self, host: str, port: int, handler: SessionHandler) -> None:
        self.host = host
        self._port = port
        self.handler = handler
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.accepted = 0

    @property
    def port(self) -> int:
        """The listening port (chosen by the OS when 0 was asked for)."""
        if self._server is None or not self._server.sockets:
            return self._port
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def listening(self) -> bool:
        """True while the socket is open."""
        return self._server is not None

    async def start(self) -> None:
        """Bind and listen; OSError (e.g. the port is taken) propagates."""
        self._server = await asyncio.start_server(
            self._serve, self.host, self._port, limit=MAX_LINE
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.accepted += 1
        session = FastAgiSession(reader, writer)
        try:
            await session.read_env()
            await self.handler(session)
        except (FastAgiClosed, TimeoutError, OSError) as exc:
            log.warning("fastagi connection ended before the call was handled: %s", exc)
        except asyncio.CancelledError:
            # Stopping: the connection closes (Asterisk's AGI() returns, the dialplan goes
            # on). Not re-raised: asyncio's stream callback cannot take a cancelled handler.
            pass
        finally:
            self._tasks.discard(task)
            await session.close()

    async def close(self) -> None:
        """Stop listening; calls under way have been handed back by the controller."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if server is not None:
            await server.wait_closed()
