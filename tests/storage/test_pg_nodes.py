"""Two service nodes (two apps in one process) on one PostgreSQL database and one platform."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web

from calendar_sync.clock import ManualClock
from routing.absence import AbsenceReason, ManualRedirect
from switchboard.app import RUNTIME, Runtime, create_app
from switchboard.config import Config, load_config
from switchboard.config.storage_settings import StorageSettings
from switchboard.state import presence_at
from switchboard.telephony.ami import AmiSettings
from switchboard.telephony.calllog import SCHEMA_VERSION, CallEntry
from switchboard.telephony.calllog.pg import PgCallLogStore
from switchboard.telephony.config import TelephonySettings
from switchboard.telephony.mirror import REDIRECT_FAMILY, extension_key
from switchboard.telephony.sim import SimulatedAsterisk
from switchboard.web.store import WebStore
from switchboard.web.store.pg_backend import PgWebBackend

ROOT = Path(__file__).resolve().parents[2]
ALV = ROOT / "config" / "alvkarleby"
NOW = datetime(2026, 11, 24, 9, 15, tzinfo=UTC)
PRESENCE_LIMIT_S = 1.0


def node_config(tmp_path: Path, dsn: str, sim: SimulatedAsterisk) -> Config:
    """The sample organisation on PostgreSQL, driving the platform over AMI on 127.0.0.1."""
    folder = tmp_path / "alvkarleby"
    if not folder.exists():
        shutil.copytree(ALV, folder, ignore=shutil.ignore_patterns("data", "scenarios"))
    config = load_config(folder)
    ami = AmiSettings("127.0.0.1", sim.port, sim.username, sim.secret, 5.0, 5.0)
    return dataclasses.replace(
        config,
        storage=StorageSettings("postgresql", "SWITCHBOARD_DSN", dsn),
        telephony=TelephonySettings(platform="asterisk", ami=ami),
    )


async def until(check: Callable[[], bool], within: float, step: float = 0.01) -> float:
    """Seconds until `check()` holds; TimeoutError after `within` seconds."""
    t0 = time.monotonic()
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 - bounded by the timeout
            await asyncio.sleep(step)
    return time.monotonic() - t0


async def start(config: Config, name: str) -> web.AppRunner:
    """One node's app, started (contexts entered), not listening."""
    # Every node runs on a pinned clock: the sample calendars say who is busy at NOW, never
    # whatever today happens to hold.
    app = create_app(config, node_id=name, intake_settle_s=0, clock=ManualClock(NOW))
    runner = web.AppRunner(app)
    await runner.setup()
    return runner


def rt_of(runner: web.AppRunner) -> Runtime:
    """The node's runtime."""
    return runner.app[RUNTIME]


def ami_up(rt: Runtime) -> bool:
    """This node holds a live, resynced AMI connection."""
    svc = rt.telephony
    return bool(svc and svc.supervisor and svc.supervisor.connected and svc.mirrored.is_set())


@pytest.fixture
async def platform() -> AsyncIterator[SimulatedAsterisk]:
    """The simulated platform both nodes reach over TCP."""
    sim = SimulatedAsterisk(secret="nodes")
    await sim.start()
    try:
        yield sim
    finally:
        await sim.close()


async def test_one_node_holds_ami_and_intake_and_the_other_takes_over(
    pg_dsn: str, tmp_path: Path, platform: SimulatedAsterisk
) -> None:
    """Only the leader connects to AMI; when its lock connection is lost it stops, and the
    standby connects (full resync) and takes the intake."""
    config = node_config(tmp_path, pg_dsn, platform)
    a = await start(config, "node-a")
    b = await start(config, "node-b")
    try:
        await until(lambda: rt_of(a).leading or rt_of(b).leading, 10)
        await asyncio.sleep(0.3)  # a second leader would have had time to appear
        leader, standby = (a, b) if rt_of(a).leading else (b, a)
        assert not rt_of(standby).leading and rt_of(standby).telephony is None
        await until(lambda: ami_up(rt_of(leader)), 10)
        assert platform.sessions == 1
        lost_name = rt_of(leader).node_id
        conn = await asyncpg.connect(pg_dsn)
        try:  # the leader's lock connection dies (as on a network partition)
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = $1",
                f"switchboard:{lost_name}",
            )
        finally:
            await conn.close()
        took = await until(lambda: ami_up(rt_of(standby)), 10)
        assert took < 10
        await until(lambda: rt_of(leader).telephony is None, 10)
        assert rt_of(standby).leading and not rt_of(leader).leading
        assert rt_of(standby).term.terms == 1
        await until(lambda: platform.sessions == 1, 5)
    finally:
        await b.cleanup()
        await a.cleanup()
    assert rt_of(a).telephony is None and rt_of(b).telephony is None


async def test_manual_redirect_on_one_node_reaches_the_other_within_a_second(
    pg_dsn: str, tmp_path: Path, platform: SimulatedAsterisk
) -> None:
    """Set on A: B's routing, B's board subscribers and the AMI mirror see it within 1 s."""
    config = node_config(tmp_path, pg_dsn, platform)
    directory = config.org.directory
    calendar = presence_at(config, NOW)
    user = next(  # someone whose calendar leaves them available at NOW
        u
        for u in directory.users
        if extension_key(u, directory) and calendar.redirect_at(u.id, NOW) is None
    )
    key = extension_key(user, directory)
    a = await start(config, "node-a")
    b = await start(config, "node-b")
    try:
        await until(lambda: ami_up(rt_of(a)) or ami_up(rt_of(b)), 10)
        leader = a if rt_of(a).leading else b
        for setter, other in ((a, b), (b, a)):  # from the standby and from the leader
            board = rt_of(other).web.store.hub.subscribe()
            redirect = ManualRedirect(
                user.id, AbsenceReason.MEETING, NOW + timedelta(days=365), "test", NOW
            )
            await rt_of(setter).web.store.set_manual(redirect, user.id, NOW)
            t0 = time.monotonic()
            await until(lambda o=other: user.id in rt_of(o).state().book.manual, 5)  # type: ignore[misc]
            routed = time.monotonic() - t0
            assert await asyncio.wait_for(board.get(), 5) == user.id
            await until(lambda: key in platform.astdb.get(REDIRECT_FAMILY, {}), 5)
            mirrored = time.monotonic() - t0
            assert routed < PRESENCE_LIMIT_S, f"routing saw it after {routed:.2f} s"
            assert mirrored < PRESENCE_LIMIT_S, f"the AMI mirror had it after {mirrored:.2f} s"
            assert rt_of(other).web.store.set_by(user.id) == user.id
            await rt_of(setter).web.store.clear_manual(user.id, user.id, NOW)
            await until(lambda o=other: user.id not in rt_of(o).state().book.manual, 5)  # type: ignore[misc]
            await until(lambda: key not in platform.astdb.get(REDIRECT_FAMILY, {}), 5)
            rt_of(other).web.store.hub.unsubscribe(board)
        assert rt_of(leader).leading
    finally:
        await b.cleanup()
        await a.cleanup()


async def test_web_store_on_postgresql_persists_and_shares_switches(pg_dsn: str) -> None:
    """Redirects and switches persist in PostgreSQL; another store sees a switch change."""
    first = WebStore(PgWebBackend(pg_dsn))
    second = WebStore(PgWebBackend(pg_dsn))
    async with first, second:
        redirect = ManualRedirect("u1", AbsenceReason.LUNCH, NOW + timedelta(hours=1), None, NOW)
        await first.set_manual(redirect, "admin", NOW)
        await first.set_override("u1", "voicemail", False, "admin", NOW)
        await until(lambda: second.overrides().get(("u1", "voicemail")) is False, 5)
        assert second.manual_for("u1", NOW) == first.manual_for("u1", NOW)
        assert second.remote_changes == 2 and first.remote_changes == 0
    async with WebStore(PgWebBackend(pg_dsn)) as again:
        assert again.manual_for("u1", NOW) is not None and again.set_by("u1") == "admin"
        assert again.overrides() == {("u1", "voicemail"): False}


async def test_call_log_and_incidents_on_postgresql(pg_dsn: str) -> None:
    """Two nodes' call-log stores share the calls; incident references never repeat."""
    a = PgCallLogStore(pg_dsn, org_code="ALV")
    b = PgCallLogStore(pg_dsn, org_code="ALV")
    async with a, b:
        assert await a.schema_version() == SCHEMA_VERSION  # 2: issue 19's service records
        for n in range(4):
            entry = CallEntry(f"c{n}", start=NOW + timedelta(minutes=n), caller="0701112233")
            await (a if n % 2 else b).record(dataclasses.replace(entry, outcome="completed"))
        await a.record(CallEntry("c0", start=NOW, caller="0701112233", outcome="redirected"))
        assert [e.call_id for e in await b.query()] == ["c3", "c2", "c1", "c0"]
        assert (await b.get("c0")) is not None and (await b.get("c0")).outcome == "redirected"  # type: ignore[union-attr]
        assert len(await a.query(number="070-111")) == 4
        flagged = await asyncio.gather(
            *(s.flag_threat(f"c{n}", "it", "hot", NOW) for n, s in enumerate((a, b, a, b)))
        )
        refs = sorted(i.reference for i in flagged)
        assert refs == [f"ALV-HOT-2026-{n:04d}" for n in range(1, 5)]
        assert [i.reference for i in await b.incidents()] == refs
        assert "call_id,start" in await a.export_csv()
