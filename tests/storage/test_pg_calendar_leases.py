"""Calendar work shared between nodes on PostgreSQL: leases per partition, snapshots by NOTIFY."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from datetime import time as daytime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from aiohttp import web
from test_pg_nodes import NOW, node_config, rt_of, until

from calendar_sync.changes import PresenceChange, Subscription
from calendar_sync.clock import ManualClock, OffsetClock
from calendar_sync.service import CalendarSync, bucket_of
from calendar_sync.sources import PollSettings
from routing.absence import BusyStatus, CalendarBlock
from routing.models import Hours
from routing.presence import PresenceRules
from switchboard.app import Runtime, create_app
from switchboard.calendar_lease_sql import decode_blocks, encode_blocks
from switchboard.calendar_leases import CalendarShare
from switchboard.telephony.sim import SimulatedAsterisk
from tests.calendar_sync.servers import Event, ics

TZ = ZoneInfo("Europe/Stockholm")
T0 = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)  # Monday 08:00 Stockholm
RULES = PresenceRules(TZ, Hours(frozenset(range(5)), daytime(8), daytime(17)))
INTERVAL = 600.0
POLL = PollSettings(interval_s=INTERVAL, max_age_s=10**6, jitter=0.0)
BUCKETS = 4
USERS = {f"user{n:02d}": f"cal-{n:02d}" for n in range(24)}
TTL, RENEW = 1.5, 0.1  # lease lifetime and renewal period (s)
LEASE = {"ttl_s": TTL, "renew_s": RENEW}
PRESENCE_LIMIT_S = 1.0


class CountingSource:
    """Calendars in memory, shared by every node; counts each location's fetches."""

    def __init__(self) -> None:
        self.calendars: dict[str, list[CalendarBlock]] = {}
        self.fetches: collections.Counter[str] = collections.Counter()
        self.by_node: dict[str, collections.Counter[str]] = {}

    def fetcher(self, node: str) -> NodeFetcher:
        """This node's view of the source (its fetches counted apart)."""
        return NodeFetcher(self, self.by_node.setdefault(node, collections.Counter()))


class NodeFetcher:
    """One node's fetcher over the shared calendars."""

    def __init__(self, source: CountingSource, counts: collections.Counter[str]) -> None:
        self.source = source
        self.counts = counts

    async def fetch(
        self, locations: Sequence[str], window_start: datetime, window_end: datetime
    ) -> Mapping[str, list[CalendarBlock]]:
        """Every location's blocks, counted."""
        self.source.fetches.update(locations)
        self.counts.update(locations)
        return {loc: list(self.source.calendars.get(loc, [])) for loc in locations}


def make_sync(clock: ManualClock, fetcher: NodeFetcher) -> CalendarSync:
    """A node's CalendarSync with the users split into buckets, as `open_calendar_sync` does."""
    sync = CalendarSync(RULES, clock)
    parts: dict[int, dict[str, str]] = {}
    for uid, loc in USERS.items():
        parts.setdefault(bucket_of(loc, BUCKETS), {})[uid] = loc
    for b in sorted(parts):
        sync.add_source("ics", fetcher, POLL, parts[b], partition=f"ics/{b}")
    return sync


async def holders(dsn: str) -> dict[str, str | None]:
    """Partition -> holder with an unexpired lease, from the database."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT partition, CASE WHEN expires_at > now() THEN holder END"
            " FROM calendar_leases ORDER BY partition"
        )
    finally:
        await conn.close()
    return {str(r[0]): r[1] for r in rows}


async def balanced(dsn: str, shares: Sequence[CalendarShare]) -> bool:
    """Every partition held by exactly one of `shares`, each its fair share, DB agreeing."""
    parts = set(shares[0].partitions)
    held = [s.holding for s in shares]
    if set().union(*held) != parts or sum(len(h) for h in held) != len(parts):
        return False
    fair = -(-len(parts) // len(shares))
    if any(len(h) > fair for h in held):
        return False
    db = await holders(dsn)
    return all(db[p] == s.node_id for s in shares for p in s.holding)


async def until_async(check: Callable[[], Awaitable[bool]], within: float) -> float:
    """Seconds until the awaitable `check()` is true; TimeoutError after `within` seconds."""
    t0 = time.monotonic()
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 - bounded by the timeout
            await asyncio.sleep(0.02)
    return time.monotonic() - t0


@asynccontextmanager
async def node(
    stack: AsyncExitStack, dsn: str, name: str, clock: ManualClock, source: CountingSource
) -> AsyncIterator[tuple[CalendarSync, CalendarShare]]:
    """A node's sync and share, started; stopped in reverse."""
    sync = make_sync(clock, source.fetcher(name))
    share = CalendarShare(dsn, node_id=name, ttl_s=TTL, renew_s=RENEW)
    await share.start(sync)
    try:
        yield sync, share
    finally:
        await sync.stop()
        await share.stop()


def test_blocks_round_trip() -> None:
    """Snapshot blocks survive the JSON form exactly."""
    blocks = (
        CalendarBlock(T0, T0 + timedelta(hours=1), BusyStatus.BUSY, "Möte"),
        CalendarBlock(T0, T0 + timedelta(days=1), BusyStatus.OOF, None, True, True),
    )
    assert decode_blocks(encode_blocks(blocks)) == blocks
    assert decode_blocks(encode_blocks(None)) is None and decode_blocks(encode_blocks(())) == ()


async def test_two_nodes_share_the_partitions_and_poll_each_calendar_once(pg_dsn: str) -> None:
    """Balanced leases, every calendar polled by one node per interval; a leaving node's share
    (stopped, then lease expiry) is taken by the other."""
    clock = ManualClock(T0)
    source = CountingSource()
    async with AsyncExitStack() as stack:
        a_sync, a = await stack.enter_async_context(node(stack, pg_dsn, "node-a", clock, source))
        b_sync, b = await stack.enter_async_context(node(stack, pg_dsn, "node-b", clock, source))
        assert len(a.partitions) == BUCKETS
        await until_async(lambda: balanced(pg_dsn, [a, b]), 20)
        await a_sync.start()
        await b_sync.start()
        await until(lambda: len(source.fetches) == len(USERS), 10)
        await asyncio.sleep(0.2)  # a second poll would have had time to happen
        assert set(source.fetches.values()) == {1}, source.fetches
        assert source.by_node["node-a"] and source.by_node["node-b"]
        assert not set(source.by_node["node-a"]) & set(source.by_node["node-b"])
        clock.advance(INTERVAL)  # one interval: each calendar once more, by its holder only
        await until(lambda: sum(source.fetches.values()) == 2 * len(USERS), 10)
        await asyncio.sleep(0.2)
        assert set(source.fetches.values()) == {2}, source.fetches
        # B's lease loop dies (as with its process): its leases expire and A takes them
        b_parts = set(b.holding)
        for task in b._tasks:
            task.cancel()
        took = await until_async(
            lambda: _all_held_by(pg_dsn, "node-a", set(a.partitions)), 10 * TTL
        )
        assert a.holding == frozenset(a.partitions) and b_parts
        await b_sync.stop()  # B is "dead": it polls nothing more
        before = collections.Counter(source.by_node["node-a"])
        clock.advance(INTERVAL)
        await until(
            lambda: all(source.by_node["node-a"][loc] > before[loc] for loc in USERS.values()), 10
        )
        print(f"lease expiry takeover {took:.2f} s (ttl {TTL} s)")


async def _all_held_by(dsn: str, name: str, parts: set[str]) -> bool:
    db = await holders(dsn)
    return {p for p, h in db.items() if h == name} == parts


async def test_a_node_joining_and_leaving_rebalances(pg_dsn: str) -> None:
    """A alone holds all; B joins: half each; B stops (releases): A holds all again at once."""
    clock = ManualClock(T0)
    source = CountingSource()
    async with AsyncExitStack() as stack:
        _, a = await stack.enter_async_context(node(stack, pg_dsn, "node-a", clock, source))
        assert a.holding == frozenset(a.partitions)
        b_sync = make_sync(clock, source.fetcher("node-b"))
        b = CalendarShare(pg_dsn, node_id="node-b", ttl_s=TTL, renew_s=RENEW)
        await b.start(b_sync)
        try:
            await until_async(lambda: balanced(pg_dsn, [a, b]), 20)
            assert len(a.holding) == len(b.holding) == BUCKETS // 2
        finally:
            await b_sync.stop()
            await b.stop()
        took = await until_async(lambda: _all_held_by(pg_dsn, "node-a", set(a.partitions)), 10)
        assert took < TTL + 5  # released, not expired: no ttl to wait for


async def test_a_change_polled_by_one_node_reaches_the_other_within_a_second(
    pg_dsn: str,
) -> None:
    """A calendar edit polled by its holder reaches the other node's presence and routing in
    under 1 s; the meeting's start is then emitted by the other node's own timer, no poll."""
    clock = ManualClock(T0)
    source = CountingSource()
    async with AsyncExitStack() as stack:
        a_sync, a = await stack.enter_async_context(node(stack, pg_dsn, "node-a", clock, source))
        b_sync, b = await stack.enter_async_context(node(stack, pg_dsn, "node-b", clock, source))
        await until_async(lambda: balanced(pg_dsn, [a, b]), 20)
        for sync in (a_sync, b_sync):
            await sync.start()
        await until(lambda: len(source.fetches) == len(USERS), 10)
        for uid, loc in USERS.items():  # half polled by each node, seen by the other
            start = T0 + timedelta(seconds=INTERVAL + 300 + len(uid))
            source.calendars[loc] = [
                CalendarBlock(start, start + timedelta(hours=1), BusyStatus.BUSY, "Möte")
            ]
        sub = b_sync.subscribe()
        fetched = sum(source.fetches.values())
        clock.advance(INTERVAL)
        await until(lambda: sum(source.fetches.values()) == fetched + len(USERS), 10)
        t0 = time.monotonic()  # from the polls being done: how long the other node lags behind
        seen = await until(
            lambda: all(s.presence[u].redirects for s in (a_sync, b_sync) for u in USERS), 10
        )
        latency = time.monotonic() - t0
        assert latency < PRESENCE_LIMIT_S, f"the other node saw the edits after {latency:.2f} s"
        assert b.adopted and a.adopted
        polled = sum(source.fetches.values())
        clock.set(T0 + timedelta(seconds=INTERVAL + 300 + 6))  # every meeting has started
        await until(lambda: all(b_sync.book().redirect_at(u, clock.now()) for u in USERS), 5)
        changes = await _drain(sub, len(USERS))
        assert {c.user_id for c in changes} == set(USERS) and {c.cause for c in changes} == {"time"}
        assert sum(source.fetches.values()) == polled  # no poll was needed
        print(f"presence reached the other node {seen:.3f} s after the poll")
        sub.close()


async def _drain(sub: Subscription, count: int) -> list[PresenceChange]:
    out: list[PresenceChange] = []
    async with asyncio.timeout(5):
        while len(out) < count:
            out.append(await sub.get())
    return out


@pytest.fixture
async def platform() -> AsyncIterator[SimulatedAsterisk]:
    """The simulated platform both nodes reach over TCP."""
    sim = SimulatedAsterisk(secret="calendars")
    await sim.start()
    try:
        yield sim
    finally:
        await sim.close()


async def test_run_nodes_share_calendars_and_an_ics_edit_reaches_the_other_node(
    pg_dsn: str, tmp_path: Path, platform: SimulatedAsterisk
) -> None:
    """Two apps on PostgreSQL: the partitions are split; an ICS file edited on disk is polled
    by its holder and the other node's presence and routing have it within 1 s."""
    config = node_config(tmp_path, pg_dsn, platform)
    runners: list[web.AppRunner] = []
    try:
        for name in ("node-a", "node-b"):
            # a pinned day running at wall-clock speed (the file watcher polls on it)
            app = create_app(
                config,
                node_id=name,
                intake_settle_s=0,
                clock=OffsetClock(NOW),
                calendar_lease=LEASE,
            )
            runner = web.AppRunner(app)
            await runner.setup()
            runners.append(runner)
        a, b = (rt_of(r) for r in runners)
        assert a.calendar_share is not None and b.calendar_share is not None
        await until_async(lambda: balanced(pg_dsn, [a.calendar_share, b.calendar_share]), 20)
        user = next(
            u for u in config.org.directory.users if u.calendar and u.calendar.kind == "ics"
        )
        assert user.calendar is not None
        part = f"ics/{bucket_of(user.calendar.location, a.calendar_buckets)}"
        holder, other = (a, b) if a.calendar_share.held(part) else (b, a)
        assert other.calendar_share.held(part) is False
        start = NOW + timedelta(days=2, minutes=45)  # Thursday 26 November, 10.00 Stockholm
        path = Path(config.folder) / user.calendar.location
        if not path.is_absolute() and not path.exists():
            path = Path(user.calendar.location)
        path.write_bytes(ics(Event(start, start + timedelta(hours=1), subject="Delningsmöte")))

        def has_it(rt: Runtime) -> bool:
            return any(r.start == start for r in rt.calendar.presence[user.id].redirects)

        await until(lambda: has_it(holder), 20, step=0.001)
        lag = await until(lambda: has_it(other), 5, step=0.001)
        assert lag < PRESENCE_LIMIT_S, f"the other node had the edit {lag:.2f} s later"
        assert other.state().book.redirect_at(user.id, start + timedelta(minutes=5)) is not None
        print(f"ICS edit on the other node {lag:.3f} s after the holder")
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
