"""The one place that opens the stores on the configured engine (`Config.storage`, the
`storage:` section parsed by `switchboard.config.storage_settings`): the register and the call log.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from switchboard.config import Config, StorageSettings
from voicemail.register import RegisterStore
from voicemail.service import Register, default_db_path
from voicemail.store import SqliteStore

if TYPE_CHECKING:
    from switchboard.telephony.calllog import CallLogStorage


def make_register_store(settings: StorageSettings, db_path: str | Path) -> RegisterStore:
    """An unopened store for these settings (SQLite at `db_path`)."""
    if settings.engine == "postgresql":
        from voicemail.store_pg import PostgresStore  # asyncpg only where PostgreSQL is used

        if not settings.dsn:
            raise ValueError(f"storage: environment variable {settings.dsn_env} is not set")
        return PostgresStore(settings.dsn, settings.schema, settings.pool_size)
    return SqliteStore(db_path)


async def open_register_store(config: Config, db_path: str | Path | None = None) -> RegisterStore:
    """The organisation's register store, opened and migrated."""
    store = make_register_store(config.storage, db_path or default_db_path(config.org))
    await store.open()
    return store


async def open_register(config: Config, db_path: str | Path | None = None) -> Register:
    """`Register.open` on the configured engine: what the service, CLI and web use."""
    store = make_register_store(config.storage, db_path or default_db_path(config.org))
    return await Register.open(config.org, config.voicemail, db_path, store=store)


def make_calllog_store(
    settings: StorageSettings, data_dir: str | Path, org_code: str
) -> CallLogStorage:
    """An unopened call-log store: beside the register on PostgreSQL, else `calllog.sqlite3`."""
    from switchboard.telephony.calllog import CallLogStore

    if settings.engine == "postgresql":
        from switchboard.telephony.calllog.pg import PgCallLogStore

        if not settings.dsn:
            raise ValueError(f"storage: environment variable {settings.dsn_env} is not set")
        return PgCallLogStore(settings.dsn, settings.schema, 2, org_code=org_code)
    return CallLogStore.in_data_dir(data_dir, org_code=org_code)
