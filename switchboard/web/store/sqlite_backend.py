"""The web store's rows in one SQLite file (WAL): one node, no notices.

Migrations are the shared list (`schema.MIGRATIONS`) run by `storage.sqlite.migrate`. A file
written before that kept its version in `web_schema` (1, 2 or 3) and created its tables on
every open; opening it now replays versions 1..N (idempotent: `IF NOT EXISTS`, so a table
that is there keeps its rows and one that is missing is made, as before) into the versions
table, drops `web_schema`, then migrates the rest. A schema-1 file's `incidents` table is left
as it was, unused (ALV-20: incidents live in the call log).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosqlite

from storage import sqlite
from switchboard.web.errors import Unavailable
from switchboard.web.store.backend import SharedWebBackend
from switchboard.web.store.schema import (
    LEGACY_VERSION_TABLE,
    MIGRATIONS,
    SCHEMA_VERSION,
    VERSION_TABLE,
    newer_than_known,
)

log = logging.getLogger("switchboard.web")

TABLE_EXISTS_SQL = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"


class SqliteWebBackend(SharedWebBackend):
    """The rows in one SQLite file (WAL): one node, no notices."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    @property
    def db(self) -> aiosqlite.Connection:
        """The open connection; Unavailable before `open()`."""
        if self._db is None:
            raise Unavailable("the web store is not open")
        return self._db

    @property
    def sql(self) -> sqlite.SqliteDb:
        """The open connection; one writer at a time."""
        return sqlite.SqliteDb(self.db, self._lock, begin="BEGIN")

    async def open(self) -> None:
        """Create or open the database and migrate it."""
        self._db = await sqlite.connect(self.path, synchronous="FULL")
        try:
            too_new = newer_than_known(self.where)
            await self._adopt_legacy_version(too_new)
            await sqlite.migrate(self.db, VERSION_TABLE, MIGRATIONS, SCHEMA_VERSION, too_new)
        except BaseException:
            await self.close()
            raise

    async def _has_table(self, name: str) -> bool:
        row = await sqlite.fetchone(self.db, TABLE_EXISTS_SQL, (name,))
        return row is not None and bool(row[0])

    async def _adopt_legacy_version(self, too_new: Callable[[int], Exception]) -> None:
        """A file from before the versions table: versions 1..N of its `web_schema` are
        replayed into the versions table (their statements change nothing that is there), and
        `web_schema` goes.

        Each step can be repeated (a version already recorded is skipped), so a start
        interrupted half-way finishes the next time.
        """
        if not await self._has_table(LEGACY_VERSION_TABLE):
            return
        version = await sqlite.schema_version(self.db, LEGACY_VERSION_TABLE)
        if version > SCHEMA_VERSION:
            raise too_new(version)
        if version == 1:
            await self._retire_incidents()
        applied = tuple((v, statements) for v, statements in MIGRATIONS if v <= version)
        await sqlite.migrate(self.db, VERSION_TABLE, applied, SCHEMA_VERSION, too_new)
        await self.db.execute(f"DROP TABLE {LEGACY_VERSION_TABLE}")

    async def _retire_incidents(self) -> None:
        """Schema 1 -> 2: the old incidents table stays as it was, unused; say if it holds rows."""
        if not await self._has_table("incidents"):
            return
        row = await sqlite.fetchone(self.db, "SELECT COUNT(*) FROM incidents")
        if row is not None and row[0]:
            log.warning(
                "%s: %d threat incident(s) from schema 1 stay in its unused table 'incidents';"
                " new incidents are kept in the call log (calllog.sqlite3)",
                self.path,
                row[0],
            )

    async def close(self) -> None:
        """Close the database."""
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    def listen(
        self, on_notice: Callable[[str], None], on_connect: Callable[[], Awaitable[None]]
    ) -> None:
        """One node: nobody else writes."""
