"""Hostile AMI peers (issue 15, item 5): whatever one connection attempt meets, the supervisor
reconnects; it never ends. Each peer below answers the first connection with its input and
every later one by passing the bytes through to the simulated platform (real AMI on
127.0.0.1). Plus fuzzers of the frame parser with bounded time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.telephony.ami import (
    MAX_FRAME,
    AmiClient,
    AmiSettings,
    AmiSupervisor,
    Backoff,
    FrameParser,
    parse_frame,
)
from switchboard.telephony.errors import AmiConnectionError, TelephonyError
from switchboard.telephony.sim import SimulatedAsterisk

BANNER = b"Asterisk Call Manager/9.0.0\r\n"
Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def sends(data: bytes, *, then_wait: bool = True) -> Behaviour:
    """A peer that writes `data` and then waits (or closes)."""

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()
        if then_wait:
            await reader.read()  # until the client gives up and closes

    return peer


# One input per entry: what a hostile or broken peer does with the first connection.
HOSTILE: dict[str, Behaviour] = {
    "more_than_1_mib_without_crlf_before_the_banner": sends(b"A" * (MAX_FRAME + 4096)),
    "banner_then_more_than_1_mib_without_a_blank_line": sends(
        BANNER + b"Event: X\r\n" + b"B" * (MAX_FRAME + 4096)
    ),
    "http_instead_of_ami": sends(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"),
    "nul_and_invalid_utf8_banner": sends(b"\x00\xff\xfe" * 4000 + b"\r\n"),
    "closes_before_the_banner": sends(b"Asterisk Call", then_wait=False),
    "banner_then_silence": sends(BANNER),
    "banner_then_a_flood_of_empty_frames": sends(BANNER + b"\r\n\r\n" * 50_000),
    "login_answered_with_garbage": sends(BANNER + b"Response: Success\r\nActionID: \x00\r\n\r\n"),
}


class HostileThenReal:
    """An AMI address whose first connection gets a hostile behaviour; later ones reach the
    simulated platform through a byte-for-byte pipe."""

    def __init__(self, behaviour: Behaviour, platform: SimulatedAsterisk) -> None:
        self.behaviour = behaviour
        self.platform = platform
        self.connections = 0
        self.server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The listening port on 127.0.0.1."""
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Listen on 127.0.0.1 (any free port)."""
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def close(self) -> None:
        """Stop listening and end every connection."""
        assert self.server is not None
        self.server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self.connections == 1:
                await self.behaviour(reader, writer)
            else:
                await self._pipe(reader, writer)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.platform.port)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))


@contextlib.asynccontextmanager
async def hostile_peer(behaviour: Behaviour) -> AsyncIterator[tuple[HostileThenReal, str]]:
    """The hostile address and the platform's AMI secret."""
    sim = SimulatedAsterisk(secret="s3cret")
    await sim.start()
    peer = HostileThenReal(behaviour, sim)
    await peer.start()
    try:
        yield peer, sim.secret
    finally:
        await peer.close()
        await sim.close()


async def _no_wait(_delay: float) -> None:
    await asyncio.sleep(0)


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_supervisor_survives_a_hostile_peer_and_reconnects(name: str) -> None:
    """Issue 15.5: the attempt fails, is logged, and the next connection logs in; the
    supervisor's task is still running."""
    async with hostile_peer(HOSTILE[name]) as (peer, secret):
        sup = AmiSupervisor(
            AmiSettings(port=peer.port, secret=secret, connect_timeout=1, action_timeout=1),
            backoff=Backoff(initial=0.01, maximum=0.01, jitter=0),
            sleep=_no_wait,
        )
        task = asyncio.create_task(sup.run())
        try:
            await sup.wait_connected(15)
            assert not task.done()
            assert peer.connections >= 2 and sup.connections == 1
            assert isinstance(sup.last_error, TelephonyError)
            assert (await sup.send_action("Ping")).success
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_connect_turns_a_stream_that_is_not_ami_into_a_connection_error() -> None:
    """Issue 15.5: the parser's refusal of > 1 MiB without a line end is an AmiConnectionError
    of that attempt (it used to escape `connect()` as a ValueError)."""
    async with hostile_peer(HOSTILE["more_than_1_mib_without_crlf_before_the_banner"]) as (
        peer,
        secret,
    ):
        client = AmiClient()
        with pytest.raises(AmiConnectionError, match="not an AMI stream"):
            await client.connect("127.0.0.1", peer.port, "switchboard", secret, deadline=10)
        assert not client.connected


# ---------------------------------------------------------------- fuzzing the frame parser

HEADER_TEXT = st.text(
    alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]), max_size=30
)
HEADER = st.tuples(
    st.text(alphabet="ActionIDEventRspnsMgUqu-", min_size=1, max_size=12), HEADER_TEXT
)


@settings(max_examples=300, deadline=1000, derandomize=True)
@given(st.lists(st.binary(max_size=300), max_size=20), st.booleans())
def test_fuzz_frame_parser_only_ever_refuses_with_value_error(
    chunks: list[bytes], banner: bool
) -> None:
    """Any bytes in any chunks: messages, or the one ValueError of a stream that is not AMI."""
    parser = FrameParser(expect_banner=banner)
    for chunk in chunks:
        for msg in parser.feed(chunk):
            assert msg.kind in ("banner", "event", "response", "action")
        assert parser.pending <= MAX_FRAME


@settings(max_examples=300, deadline=1000, derandomize=True)
@given(st.binary(max_size=2000))
def test_fuzz_parse_frame_never_raises(frame: bytes) -> None:
    """One frame of any bytes: a message or None."""
    msg = parse_frame(frame)
    if msg is not None:
        assert msg.headers and isinstance(msg.name, str)


@settings(max_examples=200, deadline=1000, derandomize=True)
@given(
    frames=st.lists(
        st.tuples(st.sampled_from(["Event", "Response", "Action"]), HEADER_TEXT, st.lists(HEADER)),
        max_size=8,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=12),
)
def test_fuzz_frame_parser_is_independent_of_tcp_reads(
    frames: list[tuple[str, str, list[tuple[str, str]]]], cuts: list[int]
) -> None:
    """The same stream split into reads anywhere (even inside a UTF-8 character) gives the
    same messages as read at once."""
    stream = BANNER + b"".join(
        (f"{kind}: {value}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode()
        for kind, value, headers in frames
    )
    whole = FrameParser().feed(stream)
    parser = FrameParser()
    pieces: list[object] = []
    last = 0
    for cut in sorted({c % (len(stream) + 1) for c in cuts}):
        pieces += parser.feed(stream[last:cut])
        last = cut
    pieces += parser.feed(stream[last:])
    assert pieces == whole
    assert len(whole) == 1 + len(frames)
