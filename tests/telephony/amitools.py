"""Test helpers (maintained like product code): captured AMI sessions and a replaying AMI server."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from switchboard.telephony.ami import FrameParser, Message

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"
_MARKER = re.compile(rb"^### (<<< RX|>>> TX|===) .*?(?:len=(\d+))?\n", re.M)


@dataclass(frozen=True)
class Block:
    """One TCP read (rx) or write (tx) of a capture, or the server's EOF."""

    direction: Literal["rx", "tx", "eof"]
    data: bytes


def load_capture(name: str) -> list[Block]:
    """The blocks of `NAME.interleaved.txt`, bytes exact."""
    raw = (FIXTURES / f"{name}.interleaved.txt").read_bytes()
    blocks: list[Block] = []
    pos = 0
    while pos < len(raw):
        m = _MARKER.match(raw, pos)
        assert m is not None, f"{name}: no marker at byte {pos}"
        kind, length = m.group(1), int(m.group(2) or 0)
        start = m.end()
        if kind == b"===":
            blocks.append(Block("eof", b""))
        else:
            blocks.append(Block("rx" if kind == b"<<< RX" else "tx", raw[start : start + length]))
        pos = start + length
    return blocks


def rx_bytes(blocks: list[Block]) -> bytes:
    """Every byte Asterisk sent, in order."""
    return b"".join(b.data for b in blocks if b.direction == "rx")


def tx_bytes(blocks: list[Block]) -> bytes:
    """Every byte sent to Asterisk, in order."""
    return b"".join(b.data for b in blocks if b.direction == "tx")


def messages(data: bytes, *, banner: bool = True) -> list[Message]:
    """Parse a whole byte stream into messages."""
    return FrameParser(expect_banner=banner).feed(data)


@dataclass(eq=False)
class ReplayServer:
    """Plays a capture's rx blocks on 127.0.0.1; each tx block waits for one action frame."""

    blocks: list[Block]
    received: list[bytes] = field(default_factory=list)
    server: asyncio.Server | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def port(self) -> int:
        """The listening port."""
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            for block in self.blocks:
                if block.direction == "rx":
                    writer.write(block.data)
                    await writer.drain()
                elif block.direction == "tx":
                    self.received.append(await reader.readuntil(b"\r\n\r\n"))
                else:
                    break
            else:
                # No EOF in the script: keep the connection until the client goes.
                while await reader.read(65536):
                    pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self.finished.set()
            self._tasks.discard(task)

    async def close(self) -> None:
        """Stop the server and its session."""
        assert self.server is not None
        self.server.close()
        # Close the transports rather than cancel the handlers: asyncio logs cancelled handlers.
        for w in list(self._writers):
            w.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
        await self.server.wait_closed()


@contextlib.asynccontextmanager
async def replay(blocks: list[Block]) -> AsyncIterator[ReplayServer]:
    """Run a ReplayServer for the duration of the block."""
    srv = ReplayServer(blocks)
    srv.server = await asyncio.start_server(srv._serve, "127.0.0.1", 0)
    try:
        yield srv
    finally:
        await srv.close()


# Asterisk 22's own frames (tests/fixtures/ami/a_login_ok.interleaved.txt), ActionID filled in.
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
LOGIN_OK = (
    b"Response: Success\r\nActionID: %s\r\nMessage: Authentication accepted\r\n\r\n"
    b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 81\r\nLastReload: 81\r\n"
    b"Status: Fully Booted\r\n\r\n"
)
PONG = b"Response: Success\r\nActionID: %s\r\nPing: Pong\r\nTimestamp: 1795449795.576443\r\n\r\n"


def captured_frame(capture: str, first_line: bytes) -> bytes:
    """The first frame Asterisk sent in a capture that starts with `first_line`, bytes exact
    (with its blank line)."""
    rx = rx_bytes(load_capture(capture))
    start = rx.index(first_line + b"\r\n")
    return rx[start : rx.index(b"\r\n\r\n", start) + 4]


@dataclass(eq=False)
class MutePeer:
    """An AMI peer on 127.0.0.1 that accepts every Login, then goes mute.

    It answers Ping only while `answering` is set (cleared: the half-open link of a hung
    Asterisk or a dead NAT entry, where the TCP connection stays open but nothing comes back)
    and never answers any other action. Every action it reads is kept in `received`.
    """

    answering: bool = False
    received: list[Message] = field(default_factory=list)
    logins: int = 0
    server: asyncio.Server | None = None
    login_seen: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def port(self) -> int:
        """The listening port."""
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    @property
    def open_connections(self) -> int:
        """Sessions whose TCP connection is still open."""
        return sum(1 for w in self._writers if not w.is_closing())

    def actions(self, name: str) -> list[Message]:
        """The received actions called `name`."""
        return [m for m in self.received if (m.get("Action") or "").lower() == name.lower()]

    def send(self, data: bytes) -> None:
        """Write `data` (e.g. a captured event) to every open session."""
        for w in self._writers:
            if not w.is_closing():
                w.write(data)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        parser = FrameParser(expect_banner=False)
        try:
            writer.write(BANNER)
            while data := await reader.read(65536):
                for msg in parser.feed(data):
                    self.received.append(msg)
                    aid = (msg.action_id or "").encode()
                    action = (msg.get("Action") or "").lower()
                    if action == "login":
                        self.logins += 1
                        self.login_seen.set()
                        writer.write(LOGIN_OK % aid)
                    elif action == "ping" and self.answering:
                        writer.write(PONG % aid)
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self._writers.discard(writer)
            self._tasks.discard(task)

    async def close(self) -> None:
        """Stop listening and close every session."""
        assert self.server is not None
        self.server.close()
        for w in list(self._writers):
            w.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
        await self.server.wait_closed()


@contextlib.asynccontextmanager
async def mute_peer(*, answering: bool = False) -> AsyncIterator[MutePeer]:
    """Run a MutePeer for the duration of the block."""
    peer = MutePeer(answering=answering)
    peer.server = await asyncio.start_server(peer._serve, "127.0.0.1", 0)
    try:
        yield peer
    finally:
        await peer.close()
