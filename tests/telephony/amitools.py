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
