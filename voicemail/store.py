"""The register on SQLite (`SqliteStore`): one file in WAL mode, synchronous=FULL.

What both engines run alike is `voicemail.register_shared.SharedRegister`; the interface is
`voicemail.register.RegisterStore`; the tables and migrations are in `voicemail.register_schema`,
the statements in `voicemail.register_sql` and `register_query`. The SQL is portable (no
SQLite-only functions; `ON CONFLICT`, `RETURNING`; times as fixed-width UTC text), so
`voicemail.store_pg.PostgresStore` runs the same statements over the small `storage.db.Db`
interface; the engines differ only in DDL words (`DIALECTS`) and placeholders (`numbered`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from storage import sqlite
from storage.db import Db
from voicemail.errors import StorageError
from voicemail.register_schema import SCHEMA_VERSION, migrations_for
from voicemail.register_shared import SharedRegister


class SqliteStore(SharedRegister):
    """`RegisterStore` on one SQLite file in WAL mode with synchronous=FULL (fsync on commit)."""

    engine = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    @property
    def where(self) -> str:
        """The database file."""
        return str(self.path)

    @property
    def db(self) -> aiosqlite.Connection:
        """The open connection (raises if `open` was not awaited)."""
        if self._db is None:
            raise StorageError("register store is not open")
        return self._db

    @property
    def sql(self) -> sqlite.SqliteDb:
        """The open connection; one writer at a time, every transaction BEGIN IMMEDIATE."""
        return sqlite.SqliteDb(self.db, self._lock)

    async def open(self) -> None:
        """Open the file, set WAL + FULL sync, and run pending migrations."""

        def too_new(current: int) -> StorageError:
            return StorageError(
                f"{self.path}: schema {current} is newer than this program's {SCHEMA_VERSION}"
            )

        migrations = migrations_for(self.engine)
        try:
            db = await sqlite.connect(self.path, "FULL")
        except aiosqlite.Error as exc:
            raise StorageError(f"{self.path}: {exc}") from None
        try:
            # A damaged file must stop the start, not be migrated and written on (issue 15).
            problems = await sqlite.integrity_problems(db, quick=True)
            if problems:
                raise StorageError(
                    f"{self.path}: the database is damaged ({'; '.join(problems[:3])});"
                    " restore it from backup"
                )
            await sqlite.migrate(db, "schema_migrations", migrations, SCHEMA_VERSION, too_new)
            self._db = db
            await self.prepare()
        except aiosqlite.Error as exc:
            self._db = None
            await db.close()
            raise StorageError(f"{self.path}: {exc}") from None
        except BaseException:
            self._db = None
            await db.close()
            raise

    async def close(self) -> None:
        """Close the connection if open."""
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    async def schema_version(self) -> int:
        """The highest migration applied."""
        return await sqlite.schema_version(self.db, "schema_migrations")

    async def _rows_in(
        self, sql: str, params: Sequence[object], values: Sequence[str], db: Db | None = None
    ) -> list[Sequence[Any]]:
        on = db or self.sql
        rows: list[Sequence[Any]] = []
        for i in range(0, len(values), 500):
            chunk = list(values[i : i + 500])
            marks = ", ".join("?" for _ in chunk)
            rows += await on.fetch(sql.format(**{"in": f"IN ({marks})"}), [*params, *chunk])
        return rows

    async def integrity_problems(self, full: bool = False) -> list[str]:
        """SQLite's `integrity_check` (or the faster `quick_check`); a file SQLite cannot
        read at all is one problem, not an exception."""
        try:
            return await sqlite.integrity_problems(self.db, quick=not full)
        except aiosqlite.DatabaseError as exc:
            return [str(exc)]
