"""The web store's rows on PostgreSQL: the SQLite statements, numbered, plus NOTIFY per write."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache

import asyncpg

from switchboard.web.errors import Unavailable
from switchboard.web.store import (
    CLEAR_FAILURES_SQL,
    DELETE_MANUAL_SQL,
    DELETE_OVERRIDE_SQL,
    INSERT_FAILURE_SQL,
    INSERT_MANUAL_SQL,
    INSERT_OVERRIDE_SQL,
    INSERT_REVOKED_SQL,
    IS_REVOKED_SQL,
    LOAD_MANUAL_SQL,
    LOAD_OVERRIDES_SQL,
    PURGE_FAILURES_SQL,
    PURGE_MANUAL_SQL,
    PURGE_REVOKED_SQL,
    RECENT_FAILURES_SQL,
    SIGN_IN_TABLES,
    ManualParams,
    Rows,
)
from voicemail.pg import Listener, channel_name, check_schema, create_pool, migrate, redacted
from voicemail.store import numbered

VERSION_TABLE = "web_schema_migrations"
SCHEMA_VERSION = 2
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            "CREATE TABLE manual_redirects (user_id TEXT PRIMARY KEY, reason TEXT NOT NULL,"
            " until_at TEXT, text TEXT, set_at TEXT NOT NULL, returns_at TEXT,"
            " set_by TEXT NOT NULL)",
            "CREATE TABLE overrides (user_id TEXT NOT NULL, name TEXT NOT NULL,"
            " value INTEGER NOT NULL, set_by TEXT NOT NULL, set_at TEXT NOT NULL,"
            " PRIMARY KEY (user_id, name))",
        ),
    ),
    (2, SIGN_IN_TABLES),  # logged-out sessions and failed logins, shared by every node
)
NOTIFY_SQL = "SELECT pg_notify($1, $2)"


@lru_cache(maxsize=64)
def _pg(sql: str) -> str:
    return numbered(sql)


class PgWebBackend:
    """Manual redirects and overrides beside the register; every write NOTIFYs the others."""

    def __init__(self, dsn: str, schema: str = "public", pool_size: int = 2) -> None:
        self.dsn = dsn
        self.schema = check_schema(schema)
        self.pool_size = pool_size
        self.where = f"{redacted(dsn)} (schema {schema})"
        self.channel = channel_name("web", schema)
        self._pool: asyncpg.Pool | None = None
        self._listener: Listener | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        """The open pool; Unavailable before `open()`."""
        if self._pool is None:
            raise Unavailable("the web store is not open")
        return self._pool

    async def open(self) -> None:
        """Connect and migrate (under the shared migration lock)."""

        def too_new(current: int) -> Unavailable:
            return Unavailable(f"{self.where}: web schema {current} is newer than {SCHEMA_VERSION}")

        try:
            self._pool = await create_pool(self.dsn, self.schema, self.pool_size)
            await migrate(self.pool, VERSION_TABLE, MIGRATIONS, SCHEMA_VERSION, too_new)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop listening and close the pool."""
        if self._listener is not None:
            listener, self._listener = self._listener, None
            await listener.stop()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def load(self) -> tuple[Rows, Rows]:
        """Every manual-redirect row and every override row."""
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            manual: Rows = [tuple(r) for r in await conn.fetch(LOAD_MANUAL_SQL)]
            overrides: Rows = [tuple(r) for r in await conn.fetch(LOAD_OVERRIDES_SQL)]
        return manual, overrides

    async def put_manual(self, params: ManualParams, purge_before: str | None, notice: str) -> None:
        """Replace one user's redirect and NOTIFY, in one transaction."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_pg(PURGE_MANUAL_SQL), purge_before)
            await conn.execute(_pg(DELETE_MANUAL_SQL), params[0])
            await conn.execute(_pg(INSERT_MANUAL_SQL), *params)
            await conn.execute(NOTIFY_SQL, self.channel, notice)

    async def delete_manual(self, user_id: str, notice: str) -> None:
        """Remove one user's redirect and NOTIFY."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_pg(DELETE_MANUAL_SQL), user_id)
            await conn.execute(NOTIFY_SQL, self.channel, notice)

    async def put_override(
        self, user_id: str, name: str, value: bool, by: str, at: str | None, notice: str
    ) -> None:
        """Replace one switch and NOTIFY."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_pg(DELETE_OVERRIDE_SQL), user_id, name)
            await conn.execute(_pg(INSERT_OVERRIDE_SQL), user_id, name, int(value), by, at)
            await conn.execute(NOTIFY_SQL, self.channel, notice)

    async def revoke(self, sid: str, expires: str, purge_before: str) -> None:
        """Record a logged-out session, purging expired ones, in one transaction."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_pg(PURGE_REVOKED_SQL), purge_before)
            await conn.execute(_pg(INSERT_REVOKED_SQL), sid, expires)

    async def is_revoked(self, sid: str) -> bool:
        """Whether this session was logged out on any node."""
        return bool(await self.pool.fetchval(_pg(IS_REVOKED_SQL), sid))

    async def add_failures(self, subjects: Sequence[str], at: str, purge_before: str) -> None:
        """One failed login per subject, purging failures too old to count."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_pg(PURGE_FAILURES_SQL), purge_before)
            await conn.executemany(_pg(INSERT_FAILURE_SQL), [(s, at) for s in subjects])

    async def recent_failures(self, subject: str, since: str) -> tuple[int, str | None]:
        """How many failures after `since` on every node, and the oldest of them."""
        row = await self.pool.fetchrow(_pg(RECENT_FAILURES_SQL), subject, since)
        return (int(row[0]), row[1]) if row is not None else (0, None)

    async def clear_failures(self, subject: str) -> None:
        """Forget a subject's failures."""
        await self.pool.execute(_pg(CLEAR_FAILURES_SQL), subject)

    def listen(
        self, on_notice: Callable[[str], None], on_connect: Callable[[], Awaitable[None]]
    ) -> None:
        """LISTEN on a dedicated connection; `on_connect` after each (re)connection."""
        self._listener = Listener(self.dsn, self.channel, on_notice, on_connect)
        self._listener.start()
