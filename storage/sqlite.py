"""The SQLite engine every store shares: open (WAL), versioned migrations, transactions.

The counterpart of `storage.postgresql`, used by the register (`voicemail.store.SqliteStore`),
the web store, the call log and the directory history. Connections run in autocommit mode
(`isolation_level=None`): every write goes through `transaction`, which says BEGIN, COMMIT and
ROLLBACK itself. `SqliteDb` is the small `storage.db.Db` interface (`?` placeholders, rows as
tuples), so a store writes its queries once for both engines.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias

import aiosqlite

Row: TypeAlias = Sequence[Any]
Migrations: TypeAlias = Iterable[tuple[int, Sequence[str]]]


async def connect(path: Path, synchronous: str) -> aiosqlite.Connection:
    """Open `path` (creating its folder) in autocommit mode: WAL, `synchronous`, busy 10 s."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = await aiosqlite.connect(path, isolation_level=None)
    try:
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute(f"PRAGMA synchronous={synchronous}")
        await db.execute("PRAGMA busy_timeout=10000")
    except BaseException:
        await db.close()
        raise
    return db


async def fetchall(db: aiosqlite.Connection, sql: str, params: Sequence[object] = ()) -> list[Row]:
    """Every row of one statement."""
    async with db.execute(sql, params) as cur:
        return list(await cur.fetchall())


async def fetchone(db: aiosqlite.Connection, sql: str, params: Sequence[object] = ()) -> Row | None:
    """The first row of one statement, or None."""
    async with db.execute(sql, params) as cur:
        row = await cur.fetchone()
    return row


@asynccontextmanager
async def transaction(db: aiosqlite.Connection, begin: str = "BEGIN") -> AsyncIterator[None]:
    """`begin` … COMMIT, or ROLLBACK when anything (COMMIT too) fails."""
    await db.execute(begin)
    try:
        yield
        await db.execute("COMMIT")
    except BaseException:
        await db.execute("ROLLBACK")
        raise


async def integrity_problems(db: aiosqlite.Connection, quick: bool = False) -> list[str]:
    """What `PRAGMA integrity_check` (or the faster `quick_check`) finds; empty when sound.

    A file SQLite cannot even read as a database raises `aiosqlite.DatabaseError` instead.
    """
    pragma = "quick_check" if quick else "integrity_check"
    rows = await fetchall(db, f"PRAGMA {pragma}")
    found = [str(r[0]) for r in rows]
    return [] if found == ["ok"] else found


async def schema_version(db: aiosqlite.Connection, table: str) -> int:
    """The highest version in a migrations table (0 when empty)."""
    row = await fetchone(db, f"SELECT MAX(version) FROM {table}")
    return int(row[0]) if row and row[0] is not None else 0


async def migrate(
    db: aiosqlite.Connection,
    table: str,
    migrations: Migrations,
    latest: int,
    too_new: Callable[[int], Exception],
    *,
    applied_at: tuple[str, str] = ("TEXT", "microseconds"),
) -> int:
    """Apply pending versions, one transaction each; the version now.

    `applied_at` is the column's type and the timespec of its UTC time, as the table has always
    had them.
    """
    column_type, timespec = applied_at
    await db.execute(
        f"CREATE TABLE IF NOT EXISTS {table}"
        f" (version INTEGER PRIMARY KEY, applied_at {column_type} NOT NULL)"
    )
    current = await schema_version(db, table)
    if current > latest:
        raise too_new(current)
    for version, statements in migrations:
        if version <= current:
            continue
        async with transaction(db, "BEGIN IMMEDIATE"):
            for sql in statements:
                await db.execute(sql)
            await db.execute(
                f"INSERT INTO {table} (version, applied_at) VALUES (?, ?)",
                (version, datetime.now(UTC).isoformat(timespec=timespec)),
            )
        current = version
    return current


async def open_migrated(
    path: Path,
    synchronous: str,
    table: str,
    migrations: Migrations,
    latest: int,
    too_new: Callable[[int], Exception],
    *,
    applied_at: tuple[str, str] = ("TEXT", "microseconds"),
) -> aiosqlite.Connection:
    """`connect` and `migrate`; the connection closed again when migrating fails."""
    db = await connect(path, synchronous)
    try:
        await migrate(db, table, migrations, latest, too_new, applied_at=applied_at)
    except BaseException:
        await db.close()
        raise
    return db


class SqliteDb:
    """One open connection behind the engine-neutral interface (`storage.db.Db`).

    A transaction holds `lock` (one writer per store in this process) and starts with `begin`;
    `lock_name` is for PostgreSQL's advisory locks and means nothing here. A store has one
    connection, and a connection sees its own transaction's uncommitted rows: so a statement
    outside a transaction waits for the lock too, and never reads a change half made (a record
    updated but its audit event not yet written). Inside, the transaction's own view runs
    statements without the lock it already holds.
    """

    def __init__(
        self,
        db: aiosqlite.Connection,
        lock: asyncio.Lock,
        begin: str = "BEGIN IMMEDIATE",
        *,
        in_transaction: bool = False,
    ) -> None:
        self.db = db
        self.lock = lock
        self.begin = begin
        self.in_transaction = in_transaction

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """Every row (committed ones only, outside a transaction)."""
        if self.in_transaction:
            return await fetchall(self.db, sql, params)
        async with self.lock:
            return await fetchall(self.db, sql, params)

    async def fetchone(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        """The first row, or None."""
        if self.in_transaction:
            return await fetchone(self.db, sql, params)
        async with self.lock:
            return await fetchone(self.db, sql, params)

    async def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        """Run one statement."""
        if self.in_transaction:
            await self.db.execute(sql, params)
            return
        async with self.lock:
            await self.db.execute(sql, params)

    @asynccontextmanager
    async def transaction(self, lock_name: str | None = None) -> AsyncIterator[SqliteDb]:
        """One transaction under the store's lock; yields the view to run statements in."""
        async with self.lock, transaction(self.db, self.begin):
            yield SqliteDb(self.db, self.lock, self.begin, in_transaction=True)
