"""The call log and incidents on one SQLite file, `<data_dir>/calllog.sqlite3` (WAL)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosqlite

from storage import sqlite
from switchboard.telephony.calllog.errors import CallLogError
from switchboard.telephony.calllog.schema import DB_NAME, MIGRATIONS, SCHEMA_VERSION, VERSION_TABLE
from switchboard.telephony.calllog.shared import SharedCallLog


class CallLogStore(SharedCallLog):
    """The call log and incidents on one SQLite file (WAL). Open with `open()` or `async with`."""

    def __init__(self, path: str | Path, *, org_code: str = "SB") -> None:
        self.path = Path(path)
        self.org_code = org_code
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def in_data_dir(cls, data_dir: str | Path, *, org_code: str = "SB") -> CallLogStore:
        """The store at `<data_dir>/calllog.sqlite3`."""
        return cls(Path(data_dir) / DB_NAME, org_code=org_code)

    @property
    def db(self) -> aiosqlite.Connection:
        """The open connection."""
        if self._db is None:
            raise CallLogError("the call log is not open")
        return self._db

    @property
    def sql(self) -> sqlite.SqliteDb:
        """The open connection; one writer at a time."""
        return sqlite.SqliteDb(self.db, self._lock, begin="BEGIN")

    async def open(self) -> None:
        """Create or open the database and run pending migrations."""

        def too_new(current: int) -> CallLogError:
            return CallLogError(f"{self.path}: schema {current} is newer than {SCHEMA_VERSION}")

        try:
            self._db = await sqlite.open_migrated(
                self.path,
                "NORMAL",
                VERSION_TABLE,
                MIGRATIONS,
                SCHEMA_VERSION,
                too_new,
                applied_at=("VARCHAR(32)", "milliseconds"),
            )
        except aiosqlite.Error as exc:
            raise CallLogError(f"{self.path}: {exc}") from None

    async def close(self) -> None:
        """Close the database (idempotent)."""
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    async def schema_version(self) -> int:
        """The applied schema version."""
        return await sqlite.schema_version(self.db, VERSION_TABLE)
