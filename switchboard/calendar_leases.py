"""Calendar work shared between nodes on PostgreSQL: one lease per partition, snapshots by NOTIFY.

Each calendar source is split by location into a few buckets (`<kind>/<bucket>`); every bucket
has a lease row (holder node, expiry on the server's clock). Nodes announce themselves in
`calendar_nodes` with a heartbeat; every `renew_s` a node renews its leases, releases those
beyond its fair share (ceil(partitions / live nodes)) and takes free or expired ones up to it.
Only the holder polls a partition. What it polled (each user's last good blocks, fetched_at,
error flags) is written to `calendar_snapshots` with a rising revision and NOTIFY; every other
node loads the new rows and adopts them into its own `CalendarSync`, whose timer then emits the
time-driven transitions itself. On SQLite (one node) none of this runs: the node polls all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from datetime import datetime, timedelta
from typing import TypedDict

import asyncpg

from calendar_sync.service import CalendarSync
from calendar_sync.state import CalendarSnapshot
from storage.postgresql import PG_ERRORS, Listener, channel_name, check_schema, create_pool, migrate
from switchboard.calendar_lease_sql import (
    ENSURE_SQL,
    HEARTBEAT_SQL,
    LIVE_SQL,
    LOAD_SQL,
    MIGRATIONS,
    PURGE_NODES_SQL,
    RELEASE_SQL,
    RENEW_SQL,
    SCHEMA_VERSION,
    TAKE_SQL,
    VERSION_TABLE,
    WRITE_SQL,
    Signature,
    decode_blocks,
    encode_blocks,
    lease_order,
    too_new,
)

log = logging.getLogger("switchboard.calendar_leases")


class LeaseTimings(TypedDict, total=False):
    """`CalendarShare` timings and pool size, all optional (the defaults suit production)."""

    ttl_s: float
    renew_s: float
    refresh_s: float
    pool_size: int


class CalendarShare:
    """This node's part of the shared calendar work: its leases, its writes, others' snapshots."""

    def __init__(
        self,
        dsn: str,
        schema: str = "public",
        node_id: str | None = None,
        *,
        ttl_s: float = 5.0,
        renew_s: float = 1.0,
        refresh_s: float = 60.0,
        pool_size: int = 2,
    ) -> None:
        from switchboard.leadership import default_node_id

        self.dsn = dsn
        self.schema = check_schema(schema)
        self.node_id = node_id or default_node_id()
        self.ttl_s = ttl_s
        self.renew_s = renew_s
        self.refresh_s = refresh_s  # rewrite an unchanged snapshot when fetched_at is this old
        self.pool_size = pool_size
        self.channel = channel_name("calendar", schema)
        self.writer = f"{self.node_id}/{os.urandom(4).hex()}"  # this run's rows
        self.partitions: list[str] = []
        self.holding: frozenset[str] = frozenset()
        self.live_nodes = 0
        self.adopted = 0  # snapshots taken from other nodes
        self.written = 0  # snapshots this node wrote
        self._events: dict[str, asyncio.Event] = {}
        self._pending: dict[str, CalendarSnapshot] = {}
        self._last: dict[str, tuple[Signature, datetime | None, str]] = {}  # last written
        self._flush = asyncio.Event()
        self._load_wanted = asyncio.Event()
        self._load_lock = asyncio.Lock()
        self._rev = 0
        self._deadline = 0.0  # monotonic instant after which unrenewed leases count as lost
        self._sync: CalendarSync | None = None
        self._pool: asyncpg.Pool | None = None
        self._listener: Listener | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def pool(self) -> asyncpg.Pool:
        """The open pool."""
        assert self._pool is not None, "CalendarShare is not started"
        return self._pool

    # -- the gate CalendarSync asks before polling

    def held(self, partition: str) -> bool:
        """Whether this node holds `partition`'s lease (and so polls it)."""
        return partition in self.holding

    async def wait_held(self, partition: str) -> None:
        """Return once this node holds `partition`'s lease."""
        await self._events.setdefault(partition, asyncio.Event()).wait()

    # -- the exporter CalendarSync hands each poll's snapshots to

    def export(self, partition: str, snapshots: list[CalendarSnapshot]) -> None:
        """Queue what changed (or grew `refresh_s` old) for writing; the writer runs at once."""
        for snap in snapshots:
            sig: Signature = (snap.blocks, snap.failing, snap.error, snap.expired)
            last = self._last.get(snap.user_id)
            if last is not None and last[0] == sig:
                before, now = last[1], snap.fetched_at
                if before == now or (
                    before is not None
                    and now is not None
                    and now - before < timedelta(seconds=self.refresh_s)
                ):
                    continue
            self._pending[snap.user_id] = snap
        if self._pending:
            self._flush.set()

    # -- running

    async def start(self, sync: CalendarSync) -> None:
        """Connect, migrate, take a first share of leases, load every snapshot, then run."""
        self._sync = sync
        self.partitions = sorted(set(sync.partitions))
        for p in self.partitions:
            self._events.setdefault(p, asyncio.Event())
        try:
            self._pool = await create_pool(
                self.dsn, self.schema, self.pool_size, f"switchboard:{self.node_id}:calendar"
            )
            await migrate(self.pool, VERSION_TABLE, MIGRATIONS, SCHEMA_VERSION, too_new)
            async with self.pool.acquire() as conn:
                await conn.execute(ENSURE_SQL, self.partitions)
            await self._load()
            await self.tick()
            self._listener = Listener(self.dsn, self.channel, self._on_notice, self._load)
            self._listener.start()
        except BaseException:
            await self.stop()
            raise
        sync.gate = self
        sync.exporter = self.export
        self._tasks = [
            asyncio.create_task(self._lease_loop(), name="calendar-leases"),
            asyncio.create_task(self._write_loop(), name="calendar-snapshot-writer"),
            asyncio.create_task(self._load_loop(), name="calendar-snapshot-loader"),
        ]

    async def stop(self) -> None:
        """Stop, write what is queued, release this node's leases and leave (best effort)."""
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self._sync is not None and self._sync.gate is self:
            self._sync.gate, self._sync.exporter = None, None
        if self._listener is not None:
            listener, self._listener = self._listener, None
            await listener.stop()
        if self._pool is not None:
            try:
                async with asyncio.timeout(5):
                    await self._write_pending()
                    async with self.pool.acquire() as conn, conn.transaction():
                        await conn.execute(RELEASE_SQL, self.node_id, self.partitions)
                        await conn.execute(
                            "DELETE FROM calendar_nodes WHERE node_id = $1", self.node_id
                        )
            except (*PG_ERRORS, TimeoutError) as exc:
                log.warning("calendar leases not released (they expire): %s", exc)
            pool, self._pool = self._pool, None
            await pool.close()
        self._set_holding(frozenset())

    async def tick(self) -> None:
        """Heartbeat, renew, and release or take leases towards this node's fair share."""
        started = time.monotonic()
        ttl = self.ttl_s
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(HEARTBEAT_SQL, self.node_id)
            await conn.execute(PURGE_NODES_SQL, 10 * ttl)
            live = max(1, int(await conn.fetchval(LIVE_SQL, ttl)))
            share = math.ceil(len(self.partitions) / live)
            rows = await conn.fetch(RENEW_SQL, self.node_id, self.partitions, ttl)
            holding = {str(r[0]) for r in rows}
            if len(holding) > share:
                ranked = sorted(holding, key=lambda p: lease_order(p, self.node_id))
                excess = ranked[share:]
                await conn.execute(RELEASE_SQL, self.node_id, excess)
                holding -= set(excess)
            elif len(holding) < share:
                rows = await conn.fetch(
                    TAKE_SQL, self.node_id, self.partitions, ttl, share - len(holding)
                )
                holding |= {str(r[0]) for r in rows}
        self.live_nodes = live
        self._deadline = started + ttl
        self._set_holding(frozenset(holding))

    def _set_holding(self, holding: frozenset[str]) -> None:
        if holding != self.holding:
            gained, lost = holding - self.holding, self.holding - holding
            log.info(
                "node %s: calendar partitions %s (took %s, gave up %s)",
                self.node_id,
                sorted(holding),
                sorted(gained),
                sorted(lost),
            )
            if lost:  # written again in full if ever taken back (another node wrote since)
                self._last = {u: v for u, v in self._last.items() if v[2] not in lost}
        self.holding = holding
        for p, event in self._events.items():
            if p in holding:
                event.set()
            else:
                event.clear()

    async def _lease_loop(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self.renew_s)
            try:
                await self.tick()
                if failing:
                    log.info("node %s: calendar leases renewed again", self.node_id)
                    failing = False
            except PG_ERRORS as exc:
                if not failing:
                    log.warning("node %s: calendar leases not renewed: %s", self.node_id, exc)
                    failing = True
                if time.monotonic() >= self._deadline:
                    self._set_holding(frozenset())  # another node may take them now

    async def _write_loop(self) -> None:
        while True:
            await self._flush.wait()
            self._flush.clear()
            try:
                await self._write_pending()
            except PG_ERRORS as exc:
                log.warning("calendar snapshots not written (retrying): %s", exc)
                await asyncio.sleep(1.0)
                self._flush.set()

    async def _write_pending(self) -> None:
        """Write the queued snapshots (only for partitions this node holds) and NOTIFY."""
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        rows = [
            (
                s.user_id,
                s.partition,
                encode_blocks(s.blocks),
                s.fetched_at,
                s.failing,
                s.error,
                s.expired,
                self.writer,
                self.node_id,
            )
            for s in batch.values()
        ]
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.executemany(WRITE_SQL, rows)
                await conn.execute("SELECT pg_notify($1, $2)", self.channel, self.writer)
        except BaseException:
            for uid, snap in batch.items():  # keep them unless a newer one is queued
                self._pending.setdefault(uid, snap)
            raise
        for s in batch.values():
            sig: Signature = (s.blocks, s.failing, s.error, s.expired)
            self._last[s.user_id] = (sig, s.fetched_at, s.partition)
        self.written += len(rows)

    def _on_notice(self, payload: str) -> None:
        if payload != self.writer:
            self._load_wanted.set()

    async def _load_loop(self) -> None:
        while True:
            await self._load_wanted.wait()
            self._load_wanted.clear()
            try:
                await self._load()
            except PG_ERRORS as exc:
                log.warning("calendar snapshots not loaded (retrying): %s", exc)
                await asyncio.sleep(1.0)
                self._load_wanted.set()

    async def _load(self) -> None:
        """Adopt every snapshot other nodes wrote since the last load."""
        async with self._load_lock:
            async with self.pool.acquire() as conn:
                rows = await conn.fetch(LOAD_SQL, self._rev)
            snaps: list[CalendarSnapshot] = []
            for r in rows:
                self._rev = max(self._rev, int(r["rev"]))
                if r["written_by"] == self.writer:
                    continue
                snaps.append(
                    CalendarSnapshot(
                        r["user_id"],
                        r["partition"],
                        decode_blocks(r["blocks"]),
                        r["fetched_at"],
                        r["failing"],
                        r["error"],
                        r["expired"],
                    )
                )
            if snaps and self._sync is not None:
                self._sync.adopt(snaps)
                self.adopted += len(snaps)
