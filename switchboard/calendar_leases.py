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
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from calendar_sync.service import CalendarSnapshot, CalendarSync
from routing.models import BusyStatus, CalendarBlock
from storage.postgresql import PG_ERRORS, Listener, channel_name, check_schema, create_pool, migrate

log = logging.getLogger("switchboard.calendar_leases")

BUCKETS = 4  # partitions per calendar source, so the work spreads over nodes
VERSION_TABLE = "calendar_schema_migrations"
SCHEMA_VERSION = 1
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            "CREATE TABLE calendar_nodes (node_id TEXT PRIMARY KEY, seen_at TIMESTAMPTZ NOT NULL)",
            "CREATE TABLE calendar_leases (partition TEXT PRIMARY KEY, holder TEXT,"
            " expires_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            "CREATE SEQUENCE calendar_snapshot_rev",
            "CREATE TABLE calendar_snapshots (user_id TEXT PRIMARY KEY, partition TEXT NOT NULL,"
            " blocks TEXT, fetched_at TIMESTAMPTZ, failing BOOLEAN NOT NULL, error TEXT,"
            " expired BOOLEAN NOT NULL, written_by TEXT NOT NULL, rev BIGINT NOT NULL)",
            "CREATE INDEX calendar_snapshots_rev ON calendar_snapshots (rev)",
        ),
    ),
)
ENSURE_SQL = (
    "INSERT INTO calendar_leases (partition) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING"
)
HEARTBEAT_SQL = (
    "INSERT INTO calendar_nodes (node_id, seen_at) VALUES ($1, now())"
    " ON CONFLICT (node_id) DO UPDATE SET seen_at = now()"
)
PURGE_NODES_SQL = "DELETE FROM calendar_nodes WHERE seen_at < now() - make_interval(secs => $1)"
LIVE_SQL = "SELECT count(*) FROM calendar_nodes WHERE seen_at > now() - make_interval(secs => $1)"
RENEW_SQL = (
    "UPDATE calendar_leases SET expires_at = now() + make_interval(secs => $3)"
    " WHERE holder = $1 AND partition = ANY($2::text[]) RETURNING partition"
)
RELEASE_SQL = (
    "UPDATE calendar_leases SET holder = NULL, expires_at = now()"
    " WHERE holder = $1 AND partition = ANY($2::text[])"
)
TAKE_SQL = (
    "UPDATE calendar_leases SET holder = $1, expires_at = now() + make_interval(secs => $3)"
    " WHERE partition IN (SELECT partition FROM calendar_leases"
    " WHERE partition = ANY($2::text[]) AND (holder IS NULL OR expires_at < now())"
    " ORDER BY md5(partition || $1) LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING partition"
)
WRITE_SQL = (
    "INSERT INTO calendar_snapshots"
    " (user_id, partition, blocks, fetched_at, failing, error, expired, written_by, rev)"
    " SELECT $1, $2, $3, $4, $5, $6, $7, $8, nextval('calendar_snapshot_rev')"
    " WHERE EXISTS (SELECT 1 FROM calendar_leases WHERE partition = $2 AND holder = $9)"
    " ON CONFLICT (user_id) DO UPDATE SET partition = EXCLUDED.partition,"
    " blocks = EXCLUDED.blocks, fetched_at = EXCLUDED.fetched_at, failing = EXCLUDED.failing,"
    " error = EXCLUDED.error, expired = EXCLUDED.expired, written_by = EXCLUDED.written_by,"
    " rev = EXCLUDED.rev"
)
LOAD_SQL = (
    "SELECT user_id, partition, blocks, fetched_at, failing, error, expired, written_by, rev"
    " FROM calendar_snapshots WHERE rev > $1 ORDER BY rev"
)
_STATUSES = {s.value: s for s in BusyStatus}
Signature = tuple[tuple[CalendarBlock, ...] | None, bool, str | None, bool]


def encode_blocks(blocks: Sequence[CalendarBlock] | None) -> str | None:
    """Blocks as compact JSON rows (epoch seconds), None for no data yet."""
    if blocks is None:
        return None
    rows = [
        [b.start.timestamp(), b.end.timestamp(), b.status.value, b.subject, b.private, b.all_day]
        for b in blocks
    ]
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


def decode_blocks(text: str | None) -> tuple[CalendarBlock, ...] | None:
    """The inverse of `encode_blocks`."""
    if text is None:
        return None
    ts = datetime.fromtimestamp
    rows: list[list[Any]] = json.loads(text)
    return tuple(
        CalendarBlock(ts(r[0], UTC), ts(r[1], UTC), _STATUSES[r[2]], r[3], r[4], r[5]) for r in rows
    )


def _order(partition: str, node_id: str) -> str:
    """The same per-node preference order the take statement uses."""
    return hashlib.md5((partition + node_id).encode(), usedforsecurity=False).hexdigest()


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
            await migrate(self.pool, VERSION_TABLE, MIGRATIONS, SCHEMA_VERSION, _too_new)
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
                ranked = sorted(holding, key=lambda p: _order(p, self.node_id))
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


def _too_new(current: int) -> Exception:
    return RuntimeError(f"calendar schema {current} is newer than {SCHEMA_VERSION}")
