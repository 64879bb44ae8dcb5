"""The simulated platform speaks the same frames as the captured Asterisk 22 sessions."""

from __future__ import annotations

import asyncio
from urllib.parse import unquote

from switchboard.telephony.ami import FrameParser, Message
from switchboard.telephony.sim import SimulatedAsterisk

from .amitools import load_capture, messages, rx_bytes, tx_bytes

VOLATILE = {"Uptime", "LastReload", "Timestamp"}


def _shape(m: Message) -> tuple[str, tuple[str, ...]]:
    return (m.kind, tuple(k for k, _ in m.headers))


def _values(m: Message) -> list[tuple[str, str]]:
    return [(k, v) for k, v in m.headers if k not in VOLATILE]


async def _drive(
    sim: SimulatedAsterisk, actions: bytes, expect: int
) -> tuple[bytes, list[Message]]:
    """Send raw captured action bytes, one frame at a time, and read `expect` messages back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    parser = FrameParser()
    got: list[Message] = []
    raw = b""
    try:
        async with asyncio.timeout(3):
            for f in [f + b"\r\n\r\n" for f in actions.split(b"\r\n\r\n") if f]:
                writer.write(f)
            while len(got) < expect:
                data = await reader.read(65536)
                if not data:
                    break
                raw += data
                got += parser.feed(data)
    finally:
        writer.close()
        await writer.wait_closed()
    return raw, got


async def _replay_against_sim(name: str, keep: set[str] | None = None) -> None:
    blocks = load_capture(name)
    expected = messages(rx_bytes(blocks))
    sent = tx_bytes(blocks)
    if keep is not None:
        frames = [f for f in sent.split(b"\r\n\r\n") if f]
        kept = [f for f in frames if any(f"ActionID: {a}\r".encode() in f + b"\r" for a in keep)]
        sent = b"".join(f + b"\r\n\r\n" for f in kept)
        expected = [
            m
            for m in expected
            if m.kind == "banner"
            or m.action_id in keep
            or (m.action_id is None and m.kind == "event")
        ]
    sim = SimulatedAsterisk(username="switchboard", secret="test")
    await sim.start()
    try:
        _, got = await _drive(sim, sent, len(expected))
    finally:
        await sim.close()
    assert [_shape(m) for m in got] == [_shape(m) for m in expected]
    assert [_values(m) for m in got] == [_values(m) for m in expected]


async def test_login_ping_logoff_same_frames() -> None:
    """Banner, Login, FullyBooted, Ping, Logoff: identical headers and values (but clocks)."""
    await _replay_against_sim("a_login_ok")


async def test_bad_secret_same_frames() -> None:
    """Unauthenticated Ping → Permission denied; wrong secret → Authentication failed, then EOF."""
    await _replay_against_sim("b_login_bad_secret")


async def test_astdb_same_frames() -> None:
    """Every AstDB action of the capture, with event lists and errors, byte-for-byte in shape."""
    await _replay_against_sim("c_astdb")


async def test_presence_same_frames() -> None:
    """Setvar on CustomPresence, PresenceState (set, unset, bad provider) and the change events."""
    keep = {
        "d-login-1",
        "d-set-1",
        "d-ps-2",
        "d-ps-unset-9",
        "d-ps-bad-10",
        "d-set-11",
        "d-ps-12",
        "d-logoff-2",
    }
    await _replay_against_sim("d_presence", keep)


async def test_unknown_action_same_frame() -> None:
    """An unknown action gets Asterisk's exact error text."""
    await _replay_against_sim("g_command", {"g-login-1", "g-unknown-7", "g-ping-8", "g-logoff-2"})


async def test_asyncagi_frames_have_the_captured_shape() -> None:
    """AsyncAGIStart/Exec/End carry the captured headers; Env and Result are URL-encoded alike."""
    captured = messages(rx_bytes(load_capture("e_originate_asyncagi")))
    cap = {m.name: m for m in reversed(captured) if m.kind == "event"}
    sim = SimulatedAsterisk(secret="test")
    await sim.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
        parser = FrameParser()
        got: list[Message] = []

        async def until(name: str) -> Message:
            async with asyncio.timeout(3):
                while True:
                    for m in got:
                        if m.name == name or m.action_id == name:
                            got.remove(m)
                            return m
                    got.extend(parser.feed(await reader.read(65536)))

        writer.write(
            b"Action: Login\r\nActionID: l\r\nUsername: switchboard\r\nSecret: test\r\n\r\n"
        )
        await until("l")
        call = await sim.place_call("02683012", "0701234567", "Örjan Öst")
        start = await until("AsyncAGIStart")
        channel = start["Channel"]
        cmd = f"Action: AGI\r\nActionID: a1\r\nChannel: {channel}\r\nCommand: GET VARIABLE CALLERID(name)\r\n"
        writer.write(cmd.encode() + b"CommandID: c1\r\n\r\n")
        ack = await until("a1")
        exec_ = await until("AsyncAGIExec")
        writer.write(
            f"Action: AGI\r\nActionID: a2\r\nChannel: {channel}\r\nCommand: HANGUP\r\n"
            "CommandID: c2\r\n\r\n".encode()
        )
        end = await until("AsyncAGIEnd")
        cdr = await until("Cdr")
        hangup = await until("Hangup")
        await call.wait(2)
        writer.close()
        await writer.wait_closed()
    finally:
        await sim.close()
    for ours in (start, exec_, end, cdr):
        assert _shape(ours) == _shape(cap[ours.name]), ours.name
    assert [k for k, _ in hangup.headers][:-2] == [k for k, _ in cap["Hangup"].headers][:-2]
    assert ack["Message"] == "Added AGI command to queue"

    def env_keys(m: Message) -> list[str]:
        return [ln.split(":")[0] for ln in unquote(m["Env"]).split("\n") if ln]

    assert env_keys(start) == env_keys(cap["AsyncAGIStart"])
    assert "agi_calleridname: Örjan Öst" in unquote(start["Env"])
    assert "%C3%96rjan%20%C3%96st" in start["Env"]
    assert exec_["CommandId"] == "c1"
    assert unquote(exec_["Result"]) == "200 result=1 (Örjan Öst)\n"
    assert exec_["Result"] == "200%20result%3D1%20(%C3%96rjan%20%C3%96st)%0A"  # as captured


async def test_parked_call_in_coreshowchannels_has_the_captured_shape() -> None:
    """A call parked in AGI(agi:async) is listed by CoreShowChannels as Asterisk 22 lists it
    (i_call_in_progress_queries): the same headers, Application AGI, ApplicationData agi:async
    — what the service looks for on every connection to hand such calls back (issue 14.1)."""
    captured = messages(rx_bytes(load_capture("i_call_in_progress_queries")))
    cap = [m for m in captured if m.name == "CoreShowChannel"][-1]
    sim = SimulatedAsterisk(secret="test")
    await sim.start()
    try:
        call = await sim.place_call("02683012", "0701234567", "Örjan Öst")
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
        writer.write(
            b"Action: Login\r\nActionID: l\r\nUsername: switchboard\r\nSecret: test\r\n\r\n"
            b"Action: CoreShowChannels\r\nActionID: c\r\n\r\n"
        )
        parser = FrameParser()
        got: list[Message] = []
        async with asyncio.timeout(3):
            while not any(m.name == "CoreShowChannelsComplete" for m in got):
                got.extend(parser.feed(await reader.read(65536)))
        writer.close()
        await writer.wait_closed()
        sim.caller_hangs_up(call)
        await call.wait(2)
    finally:
        await sim.close()
    ours = next(m for m in got if m.name == "CoreShowChannel")
    assert _shape(ours) == _shape(cap)
    assert ours["Application"] == cap["Application"] == "AGI"
    assert ours["ApplicationData"] == cap["ApplicationData"] == "agi:async"
