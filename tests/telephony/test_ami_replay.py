"""The AMI client over TCP against replayed Asterisk 22 sessions and misbehaving servers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from switchboard.telephony.ami import AmiClient, Message
from switchboard.telephony.errors import (
    AmiActionTimeout,
    AmiAuthenticationError,
    AmiConnectionError,
    AmiNotConnected,
    UnsafeHeader,
)

from .amitools import Block, load_capture, replay, tx_bytes

HOST = "127.0.0.1"


def _tx_frames(blocks: list[Block]) -> list[bytes]:
    return [f + b"\r\n\r\n" for f in tx_bytes(blocks).split(b"\r\n\r\n") if f]


async def _login(client: AmiClient, port: int, action_id: str, secret: str = "test") -> None:
    await client.connect(HOST, port, "switchboard", secret, deadline=2, login_action_id=action_id)


async def test_login_ok_ping_logoff_bytes_match_capture() -> None:
    """Login, Ping and Logoff are byte-identical to what was sent to the real Asterisk."""
    blocks = load_capture("a_login_ok")
    events: list[Message] = []
    async with replay(blocks) as srv:
        client = AmiClient()
        client.subscribe(events.append)
        await _login(client, srv.port, "a-login-1")
        assert client.connected and client.banner == "Asterisk Call Manager/11.0.0"
        pong = await client.send_action("Ping", action_id="a-ping-1")
        assert pong.get("Ping") == "Pong"
        bye = await client.send_action("Logoff", action_id="a-logoff-2")
        assert bye.response.name == "Goodbye"
        await asyncio.wait_for(client.wait_closed(), 2)
        await client.close()
    assert [e.name for e in events] == ["FullyBooted"]
    assert srv.received == _tx_frames(blocks)


@pytest.mark.parametrize("name", ["b_login_bad_secret", "b2_login_unknown_user"])
async def test_wrong_credentials_raise_a_clear_error(name: str) -> None:
    """A refused Login raises AmiAuthenticationError naming the user (panoramisk fails silently)."""
    blocks = load_capture(name)
    # Skip the unauthenticated Ping the capture made first: start at the Login.
    login_at = next(i for i, b in enumerate(blocks) if b.data.startswith(b"Action: Login"))
    script = [blocks[0], *blocks[login_at:]]
    async with replay(script) as srv:
        client = AmiClient()
        with pytest.raises(AmiAuthenticationError) as err:
            await _login(
                client, srv.port, script[1].data.split(b"\r\n")[1].split(b": ")[1].decode()
            )
        assert "Authentication failed" in str(err.value)
        assert not client.connected


async def test_astdb_session_replays_with_event_lists_and_errors() -> None:
    """DBPut/DBGet/DBGetTree/DBDel/DBDelTree: results, event lists and errors as Asterisk sends them."""
    blocks = load_capture("c_astdb")
    async with replay(blocks) as srv:
        c = AmiClient()
        await _login(c, srv.port, "c-login-1")
        put = await c.send_action(
            "DBPut",
            [("Family", "switchboard"), ("Key", "83012/status"), ("Val", "away")],
            action_id="c-put-1",
        )
        assert put.success and put.message == "Updated database successfully"
        get = await c.send_action(
            "DBGet", [("Family", "switchboard"), ("Key", "83012/status")], action_id="c-get-2"
        )
        assert [e.get("Val") for e in get.events] == ["away", None]
        await c.send_action(
            "DBPut",
            [("Family", "switchboard"), ("Key", "83012/note"), ("Val", "Möte, åter 14.30")],
            action_id="c-put-3",
        )
        get = await c.send_action(
            "DBGet", [("Family", "switchboard"), ("Key", "83012/note")], action_id="c-get-4"
        )
        assert get.events[0]["Val"] == "Möte, åter 14.30"
        tree = await c.send_action("DBGetTree", [("Family", "switchboard")], action_id="c-tree-5")
        assert [e.get("Key") for e in tree.events[:-1]] == [
            "/switchboard/83012/note",
            "/switchboard/83012/status",
        ]
        missing = await c.send_action(
            "DBGet",
            [("Family", "switchboard"), ("Key", "99999/status")],
            action_id="c-get-missing-6",
        )
        assert not missing.success and missing.message == "Database entry not found"
        for aid in ("c-del-7", "c-del-again-8"):
            await c.send_action(
                "DBDel", [("Family", "switchboard"), ("Key", "83012/status")], action_id=aid
            )
        await c.send_action("DBDelTree", [("Family", "switchboard")], action_id="c-deltree-9")
        empty = await c.send_action(
            "DBGetTree", [("Family", "switchboard")], action_id="c-tree-empty-10"
        )
        assert [e.name for e in empty.events] == ["DBGetTreeComplete"]
        await c.send_action("Logoff", action_id="c-logoff-2")
        await c.close()
    assert srv.received == _tx_frames(blocks)


async def test_presence_setvar_and_change_event() -> None:
    """Setvar on PRESENCE_STATE(CustomPresence:83012) and the PresenceStateChange event after it."""
    blocks = load_capture("d_presence")
    changes: list[Message] = []
    changed = asyncio.Event()
    async with replay(blocks[:6]) as srv:
        c = AmiClient()
        c.subscribe(changes.append, ["PresenceStateChange"])
        c.subscribe(lambda _m: changed.set(), ["PresenceStateChange"])
        await _login(c, srv.port, "d-login-1")
        resp = await c.send_action(
            "Setvar",
            [
                ("Variable", "PRESENCE_STATE(CustomPresence:83012)"),
                ("Value", "away,Möte,åter 14.30"),
            ],
            action_id="d-set-1",
        )
        assert resp.message == "Variable Set"
        await asyncio.wait_for(changed.wait(), 2)
        await c.close(logoff=False)
    assert [(m["Status"], m["Subtype"], m["Message"]) for m in changes] == [
        ("away", "Möte", "åter 14.30")
    ]
    assert srv.received == _tx_frames(blocks[:6])


async def test_presence_state_response_split_over_five_reads() -> None:
    """A response whose headers came in five TCP reads is reassembled (d-ps-2)."""
    blocks = load_capture("d_presence")
    end = next(i for i, b in enumerate(blocks) if b"d-get-3" in b.data)
    assert [b.direction for b in blocks[end - 6 : end]] == ["tx", "rx", "rx", "rx", "rx", "rx"]
    async with replay(blocks[:end]) as srv:
        c = AmiClient()
        await _login(c, srv.port, "d-login-1")
        await c.send_action(
            "Setvar",
            [
                ("Variable", "PRESENCE_STATE(CustomPresence:83012)"),
                ("Value", "away,Möte,åter 14.30"),
            ],
            action_id="d-set-1",
        )
        ps = await c.send_action(
            "PresenceState", [("Provider", "CustomPresence:83012")], action_id="d-ps-2"
        )
        assert ps.get("State") == "away"
        assert ps.response.get_all("Message") == ["Presence State", "åter 14.30"]
        await c.close(logoff=False)


async def test_asyncagi_session_events_responses_and_originate_response() -> None:
    """AsyncAGIStart, AGI responses interleaved with events, OriginateResponse as an event."""
    blocks = load_capture("e_originate_asyncagi")
    seen: list[Message] = []
    hung_up = asyncio.Event()
    interesting = [
        "AsyncAGIStart",
        "AsyncAGIExec",
        "AsyncAGIEnd",
        "OriginateResponse",
        "Cdr",
        "Hangup",
    ]
    async with replay(blocks) as srv:
        c = AmiClient()
        c.subscribe(seen.append, interesting)
        c.subscribe(lambda _m: hung_up.set(), ["Hangup"])
        await _login(c, srv.port, "e-login-1")
        tx = [b for b in blocks if b.direction == "tx"][1:]
        for block in tx:
            headers = [
                tuple(line.decode().split(": ", 1)) for line in block.data.split(b"\r\n") if line
            ]
            action, aid, rest = headers[0][1], headers[1][1], [(k, v) for k, v in headers[2:]]
            if action == "Logoff":
                # The capture waited for the call to end before logging off.
                await asyncio.wait_for(hung_up.wait(), 2)
            resp = await c.send_action(action, rest, action_id=aid)
            if aid == "e-agi-nochan":
                assert resp.message == "Channel Local/nope-00000000;2 does not exist."
        await c.close()
    names = [m.name for m in seen]
    assert names[0] == "AsyncAGIStart"
    assert "OriginateResponse" in names
    start = seen[0]
    assert start["CallerIDName"] == "Örjan Öst"
    execs = [m["CommandId"] for m in seen if m.name == "AsyncAGIExec"]
    assert execs == [f"e-cmd-{i}" for i in range(1, 8)]
    assert srv.received == _tx_frames(blocks)


async def test_command_output_over_tcp() -> None:
    """A Command's output comes back as a list of lines."""
    blocks = load_capture("g_command")
    end = next(i for i, b in enumerate(blocks) if b"g-cmd-3" in b.data)
    async with replay(blocks[:end]) as srv:
        c = AmiClient()
        await _login(c, srv.port, "g-login-1")
        v = await c.send_action("Command", [("Command", "core show version")], action_id="g-cmd-1")
        assert v.output == [
            "Asterisk 22.10.1 built by root @ vm on a x86_64 running Linux on 2026-11-23 15:59:00 UTC"
        ]
        d = await c.send_action(
            "Command", [("Command", "dialplan show from-trunk")], action_id="g-cmd-2"
        )
        assert len(d.output) == 10
        await c.close(logoff=False)


async def test_shutdown_event_then_eof_closes_the_client() -> None:
    """Asterisk's Shutdown event and EOF end the connection with a reason."""
    async with replay(load_capture("j_shutdown")) as srv:
        c = AmiClient()
        await _login(c, srv.port, "j-login-1")
        await asyncio.wait_for(c.wait_closed(), 2)
        assert not c.connected
        assert "shutting down" in c.close_reason
        with pytest.raises(AmiNotConnected):
            await c.send_action("Ping")
        await c.close()


@contextlib.asynccontextmanager
async def _server(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[int]:
    tasks: set[asyncio.Task[None]] = set()
    writers: set[asyncio.StreamWriter] = set()

    async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        writers.add(w)
        try:
            await handler(r, w)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            w.close()
            tasks.discard(task)

    srv = await asyncio.start_server(serve, HOST, 0)
    try:
        yield srv.sockets[0].getsockname()[1]
    finally:
        srv.close()
        for w in list(writers):
            w.close()
        if tasks:
            await asyncio.wait(list(tasks), timeout=2)
        await srv.wait_closed()


async def _accept_login(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> list[bytes]:
    w.write(b"Asterisk Call Manager/11.0.0\r\n")
    login = await r.readuntil(b"\r\n\r\n")
    aid = login.split(b"ActionID: ")[1].split(b"\r\n")[0]
    w.write(
        b"Response: Success\r\nActionID: " + aid + b"\r\nMessage: Authentication accepted\r\n\r\n"
    )
    return [login]


async def test_connect_waits_for_login_with_a_deadline() -> None:
    """A server that never answers Login makes connect fail within its deadline."""

    async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"Asterisk Call Manager/11.0.0\r\n")
        while await r.read(65536):
            pass

    async with _server(silent) as port:
        c = AmiClient()
        with pytest.raises(AmiConnectionError, match="no successful login"):
            await c.connect(HOST, port, "switchboard", "x", deadline=0.2)
        assert not c.connected


async def test_not_an_ami_server_is_refused() -> None:
    """A banner that is not AMI ends the connect with a clear error."""

    async def http(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await r.read(65536)

    async with _server(http) as port:
        with pytest.raises(AmiConnectionError, match="not an AMI banner"):
            await AmiClient().connect(HOST, port, "u", "s", deadline=1)


async def test_every_action_has_a_deadline() -> None:
    """An action Asterisk never answers raises AmiActionTimeout; the connection stays usable."""
    got: list[bytes] = []

    async def answers_pings_only(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await _accept_login(r, w)
        while True:
            action = await r.readuntil(b"\r\n\r\n")
            got.append(action)
            if action.startswith(b"Action: Ping"):
                aid = action.split(b"ActionID: ")[1].split(b"\r\n")[0]
                w.write(b"Response: Success\r\nActionID: " + aid + b"\r\nPing: Pong\r\n\r\n")

    async with _server(answers_pings_only) as port:
        c = AmiClient(action_timeout=0.1)
        await c.connect(HOST, port, "u", "s", deadline=1)
        with pytest.raises(AmiActionTimeout):
            await c.send_action("DBGet", [("Family", "f"), ("Key", "k")])
        with pytest.raises(AmiActionTimeout):
            await c.send_action("DBGet", [("Family", "f"), ("Key", "k")], deadline=0.05)
        assert (await c.send_action("Ping")).success
        await c.close(logoff=False)


async def test_pending_action_fails_on_disconnect_and_is_never_replayed() -> None:
    """An Originate in flight when the link drops fails; the next connection never resends it."""
    sessions: list[list[bytes]] = []

    async def drop_on_originate(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        seen = await _accept_login(r, w)
        sessions.append(seen)
        while True:
            action = await r.readuntil(b"\r\n\r\n")
            seen.append(action)
            if action.startswith(b"Action: Originate"):
                return  # the server goes away without answering
            aid = action.split(b"ActionID: ")[1].split(b"\r\n")[0]
            w.write(b"Response: Success\r\nActionID: " + aid + b"\r\nPing: Pong\r\n\r\n")

    async with _server(drop_on_originate) as port:
        first = AmiClient()
        await first.connect(HOST, port, "u", "s", deadline=1)
        with pytest.raises(AmiConnectionError):
            await first.send_action(
                "Originate", [("Channel", "Local/100@x"), ("Application", "Wait")]
            )
        await first.close()
        second = AmiClient()
        await second.connect(HOST, port, "u", "s", deadline=1)
        assert (await second.send_action("Ping")).success  # a replay would have come first
        await second.close(logoff=False)
    assert len(sessions) == 2
    assert [a.split(b"\r\n")[0] for a in sessions[1]] == [b"Action: Login", b"Action: Ping"]


async def test_injection_through_a_caller_name_sends_nothing() -> None:
    """A caller name crafted with '\\r\\nAction: Originate' is refused before any byte is written."""
    seen: list[bytes] = []

    async def record(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        seen.extend(await _accept_login(r, w))
        while data := await r.read(65536):
            seen.append(data)

    async with _server(record) as port:
        c = AmiClient()
        await c.connect(HOST, port, "u", "s", deadline=1)
        evil = "Eve\r\nAction: Originate\r\nChannel: Local/0900@out\r\n\r\n"
        with pytest.raises(UnsafeHeader):
            await c.send_action("Setvar", [("Variable", "CALLERID(name)"), ("Value", evil)])
        await c.close(logoff=False)
    assert b"".join(seen).count(b"Action:") == 1  # only the Login


async def test_a_failing_subscriber_does_not_stop_the_reader() -> None:
    """An exception in one event callback is logged; later events and responses still flow."""
    blocks = load_capture("a_login_ok")
    good: list[str] = []

    def bad(_m: Message) -> None:
        raise RuntimeError("subscriber bug")

    async with replay(blocks) as srv:
        c = AmiClient()
        c.subscribe(bad)
        c.subscribe(lambda m: good.append(m.name))
        await _login(c, srv.port, "a-login-1")
        assert (await c.send_action("Ping", action_id="a-ping-1")).success
        await c.close()
    assert good == ["FullyBooted"]
