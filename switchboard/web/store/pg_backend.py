"""The web store's rows on PostgreSQL: the shared statements, numbered, plus NOTIFY per write.

Migrations are the shared list (`schema.MIGRATIONS`), run by `storage.postgresql` under the
shared migration lock into `web_schema_migrations`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from storage.db import Db
from storage.postgresql import Listener, PgDb, channel_name, check_schema, open_migrated, redacted
from switchboard.web.errors import Unavailable
from switchboard.web.store.backend import SharedWebBackend
from switchboard.web.store.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    VERSION_TABLE,
    newer_than_known,
)

NOTIFY_SQL = "SELECT pg_notify(?, ?)"


class PgWebBackend(SharedWebBackend):
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

    @property
    def sql(self) -> PgDb:
        """The open pool."""
        return PgDb(self.pool)

    async def _notify(self, tx: Db, notice: str) -> None:
        """NOTIFY the other nodes in the writing transaction."""
        await tx.execute(NOTIFY_SQL, (self.channel, notice))

    async def open(self) -> None:
        """Connect and migrate (under the shared migration lock)."""
        self._pool = await open_migrated(
            self.dsn,
            self.schema,
            self.pool_size,
            VERSION_TABLE,
            MIGRATIONS,
            SCHEMA_VERSION,
            newer_than_known(self.where),
        )

    async def close(self) -> None:
        """Stop listening and close the pool."""
        if self._listener is not None:
            listener, self._listener = self._listener, None
            await listener.stop()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    def listen(
        self, on_notice: Callable[[str], None], on_connect: Callable[[], Awaitable[None]]
    ) -> None:
        """LISTEN on a dedicated connection; `on_connect` after each (re)connection."""
        self._listener = Listener(self.dsn, self.channel, on_notice, on_connect)
        self._listener.start()
