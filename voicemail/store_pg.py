"""`RegisterStore` on PostgreSQL through asyncpg: the same statements as SQLite, numbered.

Several processes (service nodes, a registrar's CLI) may write at once. Every transaction that
appends to the audit chain first takes a transaction-scoped advisory lock on the chain, so the
chain stays linear and the registration-number series gapless: a number is allocated by
`UPDATE … RETURNING` on the per-(prefix, year) counter row inside the same transaction as the
record and its `record.received` event, and a rolled-back transaction gives its number back.

The registrar's free-text search is answered from a pg_trgm index (migration 5) where the
extension could be created; without it the search reads every record, and the store says once
what an administrator can do (the index is then built when the register next opens).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import asyncpg

from storage.db import Db
from storage.postgresql import (
    MIGRATE_LOCK_SQL,
    PgDb,
    check_schema,
    open_migrated,
    redacted,
)
from voicemail.errors import StorageError
from voicemail.register_schema import (
    PG_TEXT_INDEX,
    PG_TEXT_INDEX_SQL,
    SCHEMA_VERSION,
    migrations_for,
)
from voicemail.register_shared import SharedRegister

log = logging.getLogger("voicemail.store_pg")

# Advisory lock key: hashtext() of a name and the schema, so registers in different schemas of
# one database do not wait for each other.
CHAIN_LOCK = "switchboard.register.chain:"
CURRENT_VERSION_SQL = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
HAS_TEXT_INDEX_SQL = f"SELECT to_regclass('{PG_TEXT_INDEX}') IS NOT NULL"
NO_TEXT_INDEX = (
    "%s: the register's free-text search reads every record (no pg_trgm index: this database"
    " user may not create the extension). An administrator can run CREATE EXTENSION pg_trgm;"
    " in the database (as its owner or a superuser; Debian package postgresql-contrib): the"
    " index is built when the register next opens"
)
_told: set[str] = set()  # registers whose missing text index was logged (once per process)
__all__ = ["PostgresStore", "redacted"]


class PostgresStore(SharedRegister):
    """`RegisterStore` on one PostgreSQL database (optionally one schema of it), via a pool."""

    engine = "postgresql"
    for_update = " FOR UPDATE"

    def __init__(self, dsn: str, schema: str = "public", pool_size: int = 4) -> None:
        check_schema(schema)
        self.dsn = dsn
        self.schema = schema
        self.pool_size = pool_size
        self.chain_lock = CHAIN_LOCK + schema
        self._pool: asyncpg.Pool | None = None
        self.text_search = "scan"  # "trigram" once the index is known to exist

    @property
    def where(self) -> str:
        """The database, without secrets, for messages."""
        return f"{redacted(self.dsn)} (schema {self.schema})"

    @property
    def pool(self) -> asyncpg.Pool:
        """The open pool (raises if `open` was not awaited)."""
        if self._pool is None:
            raise StorageError("register store is not open")
        return self._pool

    @property
    def sql(self) -> PgDb:
        """The open pool; every chain-appending transaction takes the chain lock."""
        return PgDb(self.pool)

    async def open(self) -> None:
        """Connect and run pending migrations (one node at a time, under an advisory lock)."""

        def too_new(current: int) -> StorageError:
            return StorageError(
                f"{self.where}: schema {current} is newer than this program's {SCHEMA_VERSION}"
            )

        migrations = migrations_for(self.engine)
        try:
            self._pool = await open_migrated(
                self.dsn,
                self.schema,
                self.pool_size,
                "schema_migrations",
                migrations,
                SCHEMA_VERSION,
                too_new,
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise StorageError(f"{self.where}: {exc}") from None
        try:
            await self._find_text_index()
            await self.prepare()
        except BaseException:
            await self.close()
            raise

    async def _find_text_index(self) -> None:
        """Use the pg_trgm index; where migration 5 could not make it, try again (an
        administrator may have created the extension since), else say once what to do."""
        if not await self.pool.fetchval(HAS_TEXT_INDEX_SQL):
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(MIGRATE_LOCK_SQL)
                await conn.execute(PG_TEXT_INDEX_SQL)
        if await self.pool.fetchval(HAS_TEXT_INDEX_SQL):
            self.text_search = "trigram"
            return
        self.text_search = "scan"
        if self.where not in _told:
            _told.add(self.where)
            log.warning(NO_TEXT_INDEX, self.where)

    async def close(self) -> None:
        """Close the pool if open."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def schema_version(self) -> int:
        """The highest migration applied."""
        value = await self.pool.fetchval(CURRENT_VERSION_SQL)
        return int(value)

    async def _rows_in(
        self, sql: str, params: Sequence[object], values: Sequence[str], db: Db | None = None
    ) -> list[Sequence[Any]]:
        if not values:
            return []
        return await (db or self.sql).fetch(
            sql.format(**{"in": "= ANY(?::text[])"}), [*params, list(values)]
        )

    async def integrity_problems(self, full: bool = False) -> list[str]:
        """None to report: PostgreSQL checks its pages itself (checksums, WAL)."""
        return []
