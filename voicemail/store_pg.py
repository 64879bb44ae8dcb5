"""`RegisterStore` on PostgreSQL through asyncpg: the same statements as SQLite, numbered.

Several processes (service nodes, a registrar's CLI) may write at once. Every transaction that
appends to the audit chain first takes a transaction-scoped advisory lock on the chain, so the
chain stays linear and the registration-number series gapless: a number is allocated by
`UPDATE … RETURNING` on the per-(prefix, year) counter row inside the same transaction as the
record and its `record.received` event, and a rolled-back transaction gives its number back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import asyncpg

from voicemail.audit import GENESIS
from voicemail.errors import StorageError
from voicemail.models import AuditEvent, NewRecord, PublicRecord, RecordStatus
from voicemail.pg import Conn, check_schema, create_pool, migrate, redacted
from voicemail.store import (
    ENSURE_SERIES_SQL,
    EVENT_COLUMNS,
    GET_BY_NUMBER_SQL,
    GET_HEAD_SQL,
    GET_RECORD_SQL,
    INSERT_EVENT_SQL,
    INSERT_RECORD_SQL,
    KEY_EXISTS_SQL,
    LAST_EVENT_SQL,
    NEXT_SEQ_SQL,
    SCHEMA_VERSION,
    SET_HEAD_SQL,
    RecordFilter,
    audited_change,
    link_event,
    migrations_for,
    numbered,
    received_after,
    received_record,
    record_params,
    record_query,
    registration_number,
    row_to_event,
    row_to_record,
    update_statement,
)

# Advisory lock keys: hashtext() of a name and the schema, so registers in different schemas of
# one database do not wait for each other.
CHAIN_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('switchboard.register.chain:' || $1))"
CURRENT_VERSION_SQL = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
__all__ = ["PostgresStore", "redacted"]


@lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    return numbered(sql)


class PostgresStore:
    """`RegisterStore` on one PostgreSQL database (optionally one schema of it), via a pool."""

    engine = "postgresql"

    def __init__(self, dsn: str, schema: str = "public", pool_size: int = 4) -> None:
        check_schema(schema)
        self.dsn = dsn
        self.schema = schema
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None

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

    async def open(self) -> None:
        """Connect and run pending migrations (one node at a time, under an advisory lock)."""
        try:
            self._pool = await create_pool(self.dsn, self.schema, self.pool_size)
            await self._migrate()
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            await self.close()
            raise StorageError(f"{self.where}: {exc}") from None
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close the pool if open."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _migrate(self) -> None:
        def too_new(current: int) -> StorageError:
            return StorageError(
                f"{self.where}: schema {current} is newer than this program's {SCHEMA_VERSION}"
            )

        await migrate(
            self.pool, "schema_migrations", migrations_for(self.engine), SCHEMA_VERSION, too_new
        )

    async def schema_version(self) -> int:
        """The highest migration applied."""
        value = await self.pool.fetchval(CURRENT_VERSION_SQL)
        return int(value)

    async def known_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of these intake keys are already registered."""
        return await self._known("intake_key", keys)

    async def known_txt_hashes(self, hashes: Sequence[str]) -> set[str]:
        """Which of these txt hashes belong to registered records."""
        return await self._known("txt_sha256", hashes)

    async def _known(self, column: str, values: Sequence[str]) -> set[str]:
        if not values:
            return set()
        rows = await self.pool.fetch(
            f"SELECT {column} FROM records WHERE {column} = ANY($1::text[])", list(values)
        )
        return {str(r[0]) for r in rows}

    async def _append(
        self,
        conn: Conn,
        actor: str,
        action: str,
        record_id: int | None,
        before: Mapping[str, object] | None,
        after: Mapping[str, object] | None,
        now: datetime,
    ) -> AuditEvent:
        """Append inside a transaction that holds the chain lock."""
        last = await conn.fetchrow(LAST_EVENT_SQL)
        event, params = link_event(last, actor, action, record_id, before, after, now)
        await conn.execute(_pg(INSERT_EVENT_SQL), *params)
        await conn.execute(_pg(SET_HEAD_SQL), event.hash)
        return event

    async def _lock_chain(self, conn: Conn) -> None:
        await conn.execute(CHAIN_LOCK_SQL, self.schema)

    async def add_records(
        self, items: Sequence[tuple[NewRecord, int]], prefix: str, actor: str, now: datetime
    ) -> list[PublicRecord]:
        """Insert new records (skipping keys already present) with numbers and audit events."""
        added: list[PublicRecord] = []
        if not items:
            return added
        async with self.pool.acquire() as conn, conn.transaction():
            # Under the chain lock every statement below sees all earlier commits (READ
            # COMMITTED), so a key another node registered a moment ago is skipped here.
            await self._lock_chain(conn)
            for new, year in items:
                if await conn.fetchval(_pg(KEY_EXISTS_SQL), new.intake_key):
                    continue
                await conn.execute(_pg(ENSURE_SERIES_SQL), prefix, year)
                seq = int(await conn.fetchval(_pg(NEXT_SEQ_SQL), prefix, year))
                number = registration_number(prefix, year, seq)
                record_id = await conn.fetchval(
                    _pg(INSERT_RECORD_SQL), *record_params(new, number, prefix, year, seq, now)
                )
                record = received_record(new, int(record_id), number, now)
                after = received_after(new, number)
                await self._append(conn, actor, "record.received", record.id, None, after, now)
                added.append(record)
        return added

    async def get(self, record_id: int) -> PublicRecord | None:
        """One record by id."""
        row = await self.pool.fetchrow(_pg(GET_RECORD_SQL), record_id)
        return row_to_record(row) if row else None

    async def get_by_number(self, registration_number: str) -> PublicRecord | None:
        """One record by registration number."""
        row = await self.pool.fetchrow(_pg(GET_BY_NUMBER_SQL), registration_number)
        return row_to_record(row) if row else None

    async def records(self, where: RecordFilter) -> list[PublicRecord]:
        """Records matching the filter."""
        sql, params = record_query(where)
        return [row_to_record(r) for r in await self.pool.fetch(_pg(sql), *params)]

    async def count(self, status: RecordStatus | None = None) -> int:
        """How many records (with this status)."""
        if status is None:
            value = await self.pool.fetchval("SELECT COUNT(*) FROM records")
        else:
            value = await self.pool.fetchval(
                "SELECT COUNT(*) FROM records WHERE status = $1", status.value
            )
        return int(value)

    async def update_record(
        self,
        record_id: int,
        changes: Mapping[str, object],
        actor: str,
        action: str,
        now: datetime,
        note: Mapping[str, object] | None = None,
    ) -> PublicRecord:
        """Apply changes to one record and audit before/after in the same transaction."""
        sql, params = update_statement(record_id, changes)
        async with self.pool.acquire() as conn, conn.transaction():
            await self._lock_chain(conn)
            row = await conn.fetchrow(_pg(GET_RECORD_SQL) + " FOR UPDATE", record_id)
            if row is None:
                raise StorageError(f"record {record_id} vanished")
            current = row_to_record(row)
            await conn.execute(_pg(sql), *params)
            row = await conn.fetchrow(_pg(GET_RECORD_SQL), record_id)
            assert row is not None
            updated = row_to_record(row)
            before, after = audited_change(current, updated, changes, note)
            await self._append(conn, actor, action, record_id, before, after, now)
        return updated

    async def append_event(
        self,
        actor: str,
        action: str,
        record_id: int | None,
        before: Mapping[str, object] | None,
        after: Mapping[str, object] | None,
        now: datetime,
    ) -> AuditEvent:
        """Append one audit event in its own transaction."""
        async with self.pool.acquire() as conn, conn.transaction():
            await self._lock_chain(conn)
            return await self._append(conn, actor, action, record_id, before, after, now)

    async def events(self, record_id: int | None = None) -> list[AuditEvent]:
        """The audit trail in order."""
        rows: Sequence[Any]
        if record_id is None:
            rows = await self.pool.fetch(f"SELECT {EVENT_COLUMNS} FROM audit_events ORDER BY seq")
        else:
            rows = await self.pool.fetch(
                f"SELECT {EVENT_COLUMNS} FROM audit_events WHERE record_id = $1 ORDER BY seq",
                record_id,
            )
        return [row_to_event(r) for r in rows]

    async def audit_head(self) -> str:
        """The stored head hash (GENESIS for an empty trail)."""
        value = await self.pool.fetchval(GET_HEAD_SQL)
        return str(value) if value is not None else GENESIS
