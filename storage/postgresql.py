"""The PostgreSQL engine every store shares: schema, pool, versioned migrations, LISTEN.

Used by the register (`voicemail.store_pg`), the web store, the call log, calendar leases and
leadership. Every store's migrations run in one transaction under the same transaction-scoped
advisory lock, so nodes that start together apply each version exactly once. `PgDb` is the
small `storage.db.Db` interface, so a store writes its queries once for both engines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import urlsplit

import asyncpg

from storage.db import numbered

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

log = logging.getLogger("storage.postgresql")

Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
Migrations: TypeAlias = Iterable[tuple[int, Sequence[str]]]
MIGRATE_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('switchboard.migrate'))"
# A transaction-scoped advisory lock on a name (e.g. 'switchboard.incidents:<schema>').
NAMED_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext($1))"
SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
PG_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


def redacted(dsn: str) -> str:
    """A DSN without user and password, for messages and logs."""
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "postgresql://?"
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme or 'postgresql'}://{host}{port}{parts.path}"


def check_schema(schema: str) -> str:
    """The schema name, or ValueError when it is not a plain lower-case identifier."""
    if not SCHEMA_NAME.match(schema):
        raise ValueError(f"schema {schema!r}: lower-case letters, digits and _ only")
    return schema


async def ensure_schema(dsn: str, schema: str) -> None:
    """CREATE SCHEMA IF NOT EXISTS (under the migration lock; nothing to do for public)."""
    if schema == "public":
        return
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute(MIGRATE_LOCK_SQL)
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{check_schema(schema)}"')
    finally:
        await conn.close()


async def create_pool(
    dsn: str, schema: str, pool_size: int, application_name: str = "switchboard"
) -> asyncpg.Pool:
    """A pool whose connections search `schema` (created first when missing)."""
    await ensure_schema(dsn, schema)
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=pool_size,
        server_settings={"search_path": schema, "application_name": application_name},
    )
    return pool


async def migrate(
    pool: asyncpg.Pool,
    table: str,
    migrations: Migrations,
    latest: int,
    too_new: Callable[[int], Exception],
) -> int:
    """Apply pending versions in one transaction under the migration lock; the version now."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(MIGRATE_LOCK_SQL)
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {table}"
            " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        current = int(await conn.fetchval(f"SELECT COALESCE(MAX(version), 0) FROM {table}"))
        if current > latest:
            raise too_new(current)
        for version, statements in migrations:
            if version <= current:
                continue
            for sql in statements:
                await conn.execute(sql)
            await conn.execute(
                f"INSERT INTO {table} (version, applied_at) VALUES ($1, $2)",
                version,
                datetime.now(UTC).isoformat(timespec="milliseconds"),
            )
            current = version
        return current


async def open_migrated(
    dsn: str,
    schema: str,
    pool_size: int,
    table: str,
    migrations: Migrations,
    latest: int,
    too_new: Callable[[int], Exception],
) -> asyncpg.Pool:
    """`create_pool` and `migrate`; the pool closed again when migrating fails."""
    pool = await create_pool(dsn, schema, pool_size)
    try:
        await migrate(pool, table, migrations, latest, too_new)
    except BaseException:
        await pool.close()
        raise
    return pool


@lru_cache(maxsize=1024)
def _numbered(sql: str) -> str:
    return numbered(sql)


class PgDb:
    """A pool (or one connection in a transaction) behind the engine-neutral interface
    (`storage.db.Db`): `?` statements are numbered, rows come back as tuples."""

    def __init__(self, on: asyncpg.Pool | Conn) -> None:
        self.on = on

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[Sequence[Any]]:
        """Every row."""
        return [tuple(r) for r in await self.on.fetch(_numbered(sql), *params)]

    async def fetchone(self, sql: str, params: Sequence[object] = ()) -> tuple[Any, ...] | None:
        """The first row, or None."""
        row = await self.on.fetchrow(_numbered(sql), *params)
        return tuple(row) if row is not None else None

    async def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        """Run one statement."""
        await self.on.execute(_numbered(sql), *params)

    @contextlib.asynccontextmanager
    async def transaction(self, lock_name: str | None = None) -> AsyncIterator[PgDb]:
        """One transaction on a pooled connection, first taking the advisory lock `lock_name`."""
        if not isinstance(self.on, asyncpg.Pool):
            raise TypeError("a transaction starts from the pool")
        async with self.on.acquire() as conn, conn.transaction():
            if lock_name is not None:
                await conn.execute(NAMED_LOCK_SQL, lock_name)
            yield PgDb(conn)


def channel_name(topic: str, schema: str) -> str:
    """A NOTIFY channel per topic and schema (at most 63 characters)."""
    return f"sb_{topic}_{schema}"[:63]


class Listener:
    """LISTEN on one channel over a dedicated connection, reconnecting after failures.

    `on_connect` runs after every (re)connection, once the listener is in place, so a caller
    can catch up on what it missed while disconnected.
    """

    def __init__(
        self,
        dsn: str,
        channel: str,
        on_payload: Callable[[str], None],
        on_connect: Callable[[], Awaitable[None]],
        check_s: float = 2.0,
        retry_s: float = 1.0,
    ) -> None:
        self.dsn = dsn
        self.channel = channel
        self.on_payload = on_payload
        self.on_connect = on_connect
        self.check_s = check_s
        self.retry_s = retry_s
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start listening in the background."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _deliver(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        self.on_payload(str(payload))

    async def _run(self) -> None:
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.dsn, timeout=5)
                await conn.add_listener(self.channel, self._deliver)
                await self.on_connect()
                self.connected.set()
                while True:
                    await asyncio.sleep(self.check_s)
                    await conn.fetchval("SELECT 1", timeout=self.check_s)
            except PG_ERRORS as exc:
                log.warning("LISTEN %s: connection lost: %s", self.channel, exc)
            finally:
                self.connected.clear()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 2)
            await asyncio.sleep(self.retry_s)
