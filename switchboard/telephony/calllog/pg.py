"""The call log and incidents on PostgreSQL: the statements of `calllog.schema`, run through
`storage.postgresql.PgDb` (which numbers their `?` placeholders)."""

from __future__ import annotations

import asyncpg

from storage.postgresql import PG_ERRORS, PgDb, check_schema, open_migrated, redacted
from switchboard.telephony.calllog.errors import CallLogError
from switchboard.telephony.calllog.models import CallEntry
from switchboard.telephony.calllog.schema import MIGRATIONS, SCHEMA_VERSION
from switchboard.telephony.calllog.shared import SharedCallLog

VERSION_TABLE = "calllog_schema_migrations"
# Incident references are numbered per organisation: one writer at a time across nodes.
INCIDENT_LOCK = "switchboard.incidents:"


class PgCallLogStore(SharedCallLog):
    """`CallLogStorage` on PostgreSQL (one schema of a shared database), via a pool."""

    def __init__(
        self, dsn: str, schema: str = "public", pool_size: int = 2, *, org_code: str = "SB"
    ) -> None:
        self.dsn = dsn
        self.schema = check_schema(schema)
        self.pool_size = pool_size
        self.org_code = org_code
        self.incident_lock = INCIDENT_LOCK + schema
        self.where = f"{redacted(dsn)} (schema {schema})"
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        """The open pool."""
        if self._pool is None:
            raise CallLogError("the call log is not open")
        return self._pool

    @property
    def sql(self) -> PgDb:
        """The open pool."""
        return PgDb(self.pool)

    async def open(self) -> None:
        """Connect and run pending migrations (under the shared migration lock)."""

        def too_new(current: int) -> CallLogError:
            return CallLogError(f"{self.where}: schema {current} is newer than {SCHEMA_VERSION}")

        try:
            self._pool = await open_migrated(
                self.dsn,
                self.schema,
                self.pool_size,
                VERSION_TABLE,
                MIGRATIONS,
                SCHEMA_VERSION,
                too_new,
            )
        except PG_ERRORS as exc:
            raise CallLogError(f"{self.where}: {exc}") from None

    async def close(self) -> None:
        """Close the pool (idempotent)."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def schema_version(self) -> int:
        """The applied schema version."""
        return int(await self.pool.fetchval(f"SELECT MAX(version) FROM {VERSION_TABLE}"))

    async def record(self, entry: CallEntry) -> None:
        """Insert or replace one call's entry."""
        try:
            await super().record(entry)
        except PG_ERRORS as exc:
            raise CallLogError(f"{self.where}: {exc}") from None
