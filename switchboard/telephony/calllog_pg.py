"""The call log and incidents on PostgreSQL: the SQLite statements, numbered, by the register."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache

import asyncpg

from switchboard.telephony.calllog import (
    ALL_CALLS_SQL,
    DELETE_CALL_SQL,
    GET_CALL_SQL,
    INCIDENTS_SQL,
    INSERT_CALL_SQL,
    INSERT_INCIDENT_SQL,
    MIGRATIONS,
    NEXT_INCIDENT_SQL,
    OUTCOME_COUNTS_SQL,
    SCHEMA_VERSION,
    CallEntry,
    CallLogError,
    Incident,
    UnknownCall,
    _row_entry,
    calls_csv,
    db_time,
    entry_params,
    incident_reference,
    query_sql,
    row_incident,
)
from voicemail.pg import PG_ERRORS, check_schema, create_pool, migrate, redacted
from voicemail.store import numbered

log = logging.getLogger("switchboard.telephony.calllog")

VERSION_TABLE = "calllog_schema_migrations"
# Incident references are numbered per organisation: one writer at a time across nodes.
INCIDENT_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('switchboard.incidents:' || $1))"


@lru_cache(maxsize=128)
def _pg(sql: str) -> str:
    return numbered(sql)


class PgCallLogStore:
    """`CallLogStorage` on PostgreSQL (one schema of a shared database), via a pool."""

    def __init__(
        self, dsn: str, schema: str = "public", pool_size: int = 2, *, org_code: str = "SB"
    ) -> None:
        self.dsn = dsn
        self.schema = check_schema(schema)
        self.pool_size = pool_size
        self.org_code = org_code
        self.where = f"{redacted(dsn)} (schema {schema})"
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        """The open pool."""
        if self._pool is None:
            raise CallLogError("the call log is not open")
        return self._pool

    async def open(self) -> None:
        """Connect and run pending migrations (under the shared migration lock)."""

        def too_new(current: int) -> CallLogError:
            return CallLogError(f"{self.where}: schema {current} is newer than {SCHEMA_VERSION}")

        try:
            self._pool = await create_pool(self.dsn, self.schema, self.pool_size)
            await migrate(self.pool, VERSION_TABLE, MIGRATIONS, SCHEMA_VERSION, too_new)
        except PG_ERRORS as exc:
            await self.close()
            raise CallLogError(f"{self.where}: {exc}") from None
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close the pool (idempotent)."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def __aenter__(self) -> PgCallLogStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def schema_version(self) -> int:
        """The applied schema version."""
        return int(await self.pool.fetchval(f"SELECT MAX(version) FROM {VERSION_TABLE}"))

    async def record(self, entry: CallEntry) -> None:
        """Insert or replace one call's entry."""
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(_pg(DELETE_CALL_SQL), entry.call_id)
                await conn.execute(_pg(INSERT_CALL_SQL), *entry_params(entry))
        except PG_ERRORS as exc:
            raise CallLogError(f"{self.where}: {exc}") from None

    async def get(self, call_id: str) -> CallEntry | None:
        """One call by its id, or None."""
        row = await self.pool.fetchrow(_pg(GET_CALL_SQL), call_id)
        return _row_entry(tuple(row)) if row is not None else None

    async def query(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        number: str | None = None,
        outcome: str | None = None,
        limit: int = 1000,
    ) -> list[CallEntry]:
        """Calls that started in [since, until), newest first."""
        sql, params = query_sql(since, until, number, outcome, limit)
        return [_row_entry(tuple(r)) for r in await self.pool.fetch(_pg(sql), *params)]

    async def calls(self) -> list[Mapping[str, object]]:
        """Every call oldest first as JSON dicts."""
        return [_row_entry(tuple(r)).as_json() for r in await self.pool.fetch(ALL_CALLS_SQL)]

    async def outcome_counts(self) -> dict[str, int]:
        """How many calls the log holds per outcome (counted by the database, for /metrics)."""
        rows = await self.pool.fetch(OUTCOME_COUNTS_SQL)
        return {str(r[0]): int(r[1]) for r in rows}

    async def export_csv(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        number: str | None = None,
        outcome: str | None = None,
        limit: int = 100_000,
    ) -> str:
        """The same query as CSV."""
        return calls_csv(await self.query(since, until, number, outcome, limit))

    async def flag_threat(self, call_id: str, by: str, note: str, now: datetime) -> Incident:
        """ALV-20: an incident numbered under a lock, so two nodes never share a reference."""
        entry = await self.get(call_id)
        if entry is None:
            raise UnknownCall(call_id)
        details = entry.as_json()
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(INCIDENT_LOCK_SQL, self.schema)
            next_id = int(await conn.fetchval(NEXT_INCIDENT_SQL))
            reference = incident_reference(self.org_code, next_id, now)
            await conn.execute(
                _pg(INSERT_INCIDENT_SQL),
                next_id,
                reference,
                call_id,
                by,
                db_time(now),
                note,
                json.dumps(details, ensure_ascii=False),
            )
        log.warning(
            "call flagged as a threat", extra={"call_id": call_id, "incident": reference, "by": by}
        )
        return Incident(next_id, reference, call_id, by, now, note, details)

    async def incidents(self) -> list[Incident]:
        """Every incident, oldest first."""
        return [row_incident(tuple(r)) for r in await self.pool.fetch(INCIDENTS_SQL)]
