"""One database on either engine, for tests that run against SQLite and PostgreSQL.

On SQLite each store (register, web store, call log) has its own file; on PostgreSQL they all
live in one fresh database, side by side, as `storage.engine: postgresql` deploys them.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from routing.models import Organisation
from switchboard.telephony.calllog import CallLogStore
from switchboard.telephony.calllog.pg import PgCallLogStore
from switchboard.web.store import WebStore
from switchboard.web.store.pg_backend import PgWebBackend
from voicemail.models import VoicemailSettings
from voicemail.register import RegisterStore
from voicemail.service import Register
from voicemail.store import SqliteStore
from voicemail.store_pg import PostgresStore

ENGINES = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Storage:
    """Where a test's register lives: a SQLite file, or a PostgreSQL database (DSN)."""

    engine: str
    db_path: Path  # the SQLite file; for PostgreSQL only its folder (audio, quarantine)
    dsn: str | None = None

    def store(self) -> RegisterStore:
        """A new, unopened store on this database."""
        if self.engine == "postgresql":
            assert self.dsn is not None
            return PostgresStore(self.dsn)
        return SqliteStore(self.db_path)

    async def open_register(self, org: Organisation, settings: VoicemailSettings) -> Register:
        """Open a register on this database (several may be open at once)."""
        return await Register.open(org, settings, self.db_path, store=self.store())

    def web_store(self, path: Path) -> WebStore:
        """A new, unopened web store: the SQLite file `path`, or this PostgreSQL database."""
        if self.engine == "postgresql":
            assert self.dsn is not None
            return WebStore(PgWebBackend(self.dsn))
        return WebStore(path)

    def call_log(self, path: Path, org_code: str = "SB") -> CallLogStore | PgCallLogStore:
        """A new, unopened call log: the SQLite file `path`, or this PostgreSQL database."""
        if self.engine == "postgresql":
            assert self.dsn is not None
            return PgCallLogStore(self.dsn, org_code=org_code)
        return CallLogStore(path, org_code=org_code)

    async def raw(self, sql: str, path: Path | None = None) -> list[tuple[object, ...]]:
        """Run one statement behind the stores' backs (tampering tests); rows it returns.

        On SQLite in the file `path` (default: the register's).
        """
        if self.engine == "postgresql":
            assert self.dsn is not None
            conn = await asyncpg.connect(self.dsn)
            try:
                return [tuple(r) for r in await conn.fetch(sql)]
            finally:
                await conn.close()
        db = sqlite3.connect(path or self.db_path)
        try:
            with db:
                return list(db.execute(sql).fetchall())
        finally:
            db.close()


def make_storage(engine: str, folder: Path) -> Storage:
    """A fresh empty database of this engine (PostgreSQL: a new database in the test cluster)."""
    db_path = folder / "register.sqlite3"
    if engine == "postgresql":
        from pgcluster import shared_cluster

        return Storage(engine, db_path, shared_cluster().create_database())
    return Storage(engine, db_path)
