"""The AMI supervisor against the simulated platform: login, resync hook, reconnect, backoff."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from switchboard.telephony.ami import AmiClient, AmiSettings, AmiSupervisor, Backoff
from switchboard.telephony.config import parse_telephony
from switchboard.telephony.errors import AmiAuthenticationError
from switchboard.telephony.sim import SimulatedAsterisk

from .amitools import mute_peer


class FakeSleep:
    """Records requested delays and returns at once, so no test waits for a backoff."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.delays: list[float] = []
        self.stop_after = stop_after
        self.called = asyncio.Event()

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        self.called.set()
        if self.stop_after is not None and len(self.delays) >= self.stop_after:
            await asyncio.Event().wait()  # park here until the test cancels the supervisor
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def running(sup: AmiSupervisor) -> AsyncIterator[asyncio.Task[None]]:
    """Run the supervisor in a task that is always cancelled and awaited."""
    task = asyncio.create_task(sup.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def platform(**kw: object) -> AsyncIterator[SimulatedAsterisk]:
    """A started simulated Asterisk, closed afterwards."""
    sim = SimulatedAsterisk(secret="s3cret", **kw)  # type: ignore[arg-type]
    await sim.start()
    try:
        yield sim
    finally:
        await sim.close()


def _settings(sim: SimulatedAsterisk, secret: str = "s3cret") -> AmiSettings:
    return AmiSettings(port=sim.port, secret=secret, connect_timeout=2, action_timeout=2)


async def test_resync_runs_once_after_login_merged_with_fully_booted() -> None:
    """Login + FullyBooted in the same read give one full resync, not two."""
    calls: list[AmiClient] = []
    done = asyncio.Event()

    async def resync(client: AmiClient) -> None:
        await client.send_action(
            "DBPut", [("Family", "switchboard/redirect"), ("Key", "83012"), ("Val", "x")]
        )
        calls.append(client)
        done.set()

    async with platform() as sim:
        sup = AmiSupervisor(_settings(sim), on_connected=resync, sleep=FakeSleep())
        async with running(sup):
            await sup.wait_connected(2)
            await asyncio.wait_for(done.wait(), 2)
            assert (await sup.send_action("Ping")).success  # a round trip after the resync
        assert len(calls) == 1
        assert sim.astdb["switchboard/redirect"]["83012"] == "x"


async def test_fully_booted_after_reload_triggers_another_resync() -> None:
    """A FullyBooted arriving later (Asterisk reloaded) asks for a full resync again."""
    count = 0
    ran = asyncio.Event()

    async def resync(_c: AmiClient) -> None:
        nonlocal count
        count += 1
        ran.set()

    async with platform() as sim:
        sup = AmiSupervisor(_settings(sim), on_connected=resync, sleep=FakeSleep())
        async with running(sup):
            await asyncio.wait_for(ran.wait(), 2)
            ran.clear()
            sim.announce_fully_booted()
            await asyncio.wait_for(ran.wait(), 2)
        assert count == 2


async def test_reconnect_after_the_server_drops_and_resync_again() -> None:
    """Connection lost → backoff → reconnect → login → full resync; the delay was slept."""
    ran = asyncio.Event()
    lost: list[str] = []

    async def resync(_c: AmiClient) -> None:
        ran.set()

    sleep = FakeSleep()
    async with platform() as sim:
        sup = AmiSupervisor(
            _settings(sim), on_connected=resync, sleep=sleep, on_disconnected=lost.append
        )
        async with running(sup):
            await asyncio.wait_for(ran.wait(), 2)
            ran.clear()
            await sim.restart()
            await asyncio.wait_for(ran.wait(), 2)
            assert sup.connections == 2
        assert len(lost) == 1
        assert sleep.delays and sleep.delays[0] >= 0.5


async def _delays_while_down(shutdown: bool) -> list[float]:
    """The reconnect delays while the peer is away for 6 attempts, after a Shutdown event or a
    plain drop; then it comes back and the supervisor reconnects."""
    sleep = FakeSleep()
    async with platform() as sim:
        sup = AmiSupervisor(_settings(sim), sleep=sleep, backoff=Backoff(jitter=0.0))
        async with running(sup):
            await sup.wait_connected(2)
            if shutdown:
                await sim.shut_down()
            else:
                await sim.close()
            while len(sleep.delays) < 6:
                sleep.called.clear()
                await asyncio.wait_for(sleep.called.wait(), 2)
            await sim.restart()
            await sup.wait_connected(2)
        return sleep.delays[:6]


async def test_reconnect_is_prompt_while_asterisk_restarts() -> None:
    """14.8: after a Shutdown event (Asterisk restarting) the supervisor retries every 0.5 s,
    not on the growing backoff (up to 30 s) that left calls waiting 11 s; a link that just
    dropped keeps the backoff."""
    assert await _delays_while_down(shutdown=True) == [0.5] * 6
    assert await _delays_while_down(shutdown=False) == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]


async def test_wrong_credentials_back_off_without_a_tight_loop() -> None:
    """Refused logins: a clear error each time, growing delays from 5 s, never a busy loop."""
    sleep = FakeSleep(stop_after=4)
    async with platform() as sim:
        sup = AmiSupervisor(
            _settings(sim, secret="wrong"), sleep=sleep, backoff=Backoff(jitter=0.0)
        )
        async with running(sup):
            while len(sleep.delays) < 4:
                sleep.called.clear()
                await asyncio.wait_for(sleep.called.wait(), 2)
        assert sleep.delays == [5.0, 10.0, 20.0, 30.0]
        assert isinstance(sup.last_error, AmiAuthenticationError)
        logins = [m for m in sim.received if m.get("Action") == "Login"]
        assert len(logins) == 4


async def test_server_going_away_during_a_resync() -> None:
    """A resync cut short by a dropped link is retried in full on the next connection."""
    seen: list[int] = []
    complete = asyncio.Event()

    async def resync(client: AmiClient) -> None:
        for i in range(5):
            await client.send_action("DBPut", [("Family", "f"), ("Key", str(i)), ("Val", "v")])
            seen.append(i)
        complete.set()

    async with platform() as sim:
        sim.fail_after_actions = 3  # Login + two DBPuts, then the server hangs up
        sup = AmiSupervisor(_settings(sim), on_connected=resync, sleep=FakeSleep())
        async with running(sup):
            while sup.connections < 1:
                await asyncio.wait_for(sup.wait_connected(2), 2)
            await asyncio.wait_for(
                _until(lambda: sim.fail_after_actions == 0 and not sup.connected), 2
            )
            sim.fail_after_actions = None
            await asyncio.wait_for(complete.wait(), 2)
        assert seen[:2] == [0, 1] and seen[2:] == [0, 1, 2, 3, 4]
        assert sorted(sim.astdb["f"]) == ["0", "1", "2", "3", "4"]


async def _until(cond: object) -> None:
    assert callable(cond)
    while not cond():  # noqa: ASYNC110 - callers bound it with wait_for
        await asyncio.sleep(0)


async def test_send_without_connection_is_refused_not_queued() -> None:
    """With no connection, an action fails at once instead of waiting to be replayed later."""
    sup = AmiSupervisor(AmiSettings(port=1))
    try:
        await sup.send_action("Originate")
    except Exception as exc:
        assert type(exc).__name__ == "AmiNotConnected"
    else:
        raise AssertionError("expected AmiNotConnected")


async def _eventually(cond: Callable[[], bool]) -> None:
    """Poll `cond` every 10 ms (callers bound it with wait_for): for waits on real timers."""
    while not cond():  # noqa: ASYNC110 - callers bound it with wait_for
        await asyncio.sleep(0.01)


async def test_a_peer_that_stops_answering_is_detected_and_replaced() -> None:
    """Half-open link: logged in, then no answer to Ping → closed within interval + deadline,
    reported as lost, and a new connection logs in and resyncs."""
    interval, deadline = 0.2, 0.3
    resyncs = 0
    lost: list[str] = []

    async def resync(_c: AmiClient) -> None:
        nonlocal resyncs
        resyncs += 1

    async with mute_peer(answering=True) as peer:
        settings = AmiSettings(
            port=peer.port,
            secret="s3cret",
            connect_timeout=2,
            action_timeout=2,
            ping_interval=interval,
            ping_deadline=deadline,
        )
        sup = AmiSupervisor(
            settings, on_connected=resync, on_disconnected=lost.append, sleep=FakeSleep()
        )
        async with running(sup):
            await sup.wait_connected(2)
            # While the peer answers, Pings go out and the one connection stays.
            await asyncio.wait_for(_eventually(lambda: len(peer.actions("Ping")) >= 3), 5)
            assert sup.connections == 1 and not lost and sup.connected
            peer.answering = False  # the TCP connection stays open; nothing comes back
            silent_at = time.monotonic()
            await asyncio.wait_for(_eventually(lambda: bool(lost)), 5)
            detected_in = time.monotonic() - silent_at
            await asyncio.wait_for(_eventually(lambda: peer.logins == 2 and sup.connected), 5)
            await asyncio.wait_for(_eventually(lambda: resyncs == 2), 5)
            assert sup.connections == 2
            assert peer.open_connections == 1  # the silent one was closed by us
        assert "no answer to Ping within 0.3 s" in lost[0]
        # scheduling slack on a busy machine on top of interval + deadline
        assert detected_in < interval + deadline + 0.5, detected_in


async def test_the_ami_socket_has_tcp_keepalive() -> None:
    """Below the Ping, the kernel probes an idle connection too."""
    async with platform() as sim:
        client = AmiClient()
        await client.connect("127.0.0.1", sim.port, "switchboard", "s3cret", deadline=2)
        try:
            assert client.tcp_keepalive
        finally:
            await client.close()


def test_ping_interval_and_deadline_are_settings() -> None:
    """`telephony.ami.ping_interval_s` / `ping_deadline_s`: defaults 10 s / 5 s, validated."""
    default, problems = parse_telephony({"ami": {}})
    assert (default.ami.ping_interval, default.ami.ping_deadline) == (10.0, 5.0) and not problems
    custom, problems = parse_telephony({"ami": {"ping_interval_s": 2, "ping_deadline_s": 0.5}})
    assert (custom.ami.ping_interval, custom.ami.ping_deadline) == (2.0, 0.5) and not problems
    _, problems = parse_telephony({"ami": {"ping_interval_s": 0, "ping_deadline_s": "x"}})
    assert [p.path for p in problems] == ["ami.ping_interval_s", "ami.ping_deadline_s"]
