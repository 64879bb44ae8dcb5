"""`switchboard migrate DIR`: bring the configured database's schema up to date, then stop."""

from __future__ import annotations

import argparse
import asyncio
import sys

from switchboard.cli.common import load_or_report
from switchboard.storage import open_register_store
from voicemail.errors import StorageError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _migrate(args: argparse.Namespace) -> int:
    config = load_or_report(args.dir)
    if config is None:
        return EXIT_USAGE
    settings = config.storage

    async def main() -> tuple[str, int]:
        store = await open_register_store(config, args.db)
        try:
            return store.where, await store.schema_version()
        finally:
            await store.close()

    try:
        where, version = asyncio.run(main())
    except (StorageError, OSError, ValueError) as exc:
        print(f"switchboard migrate: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"register on {settings.engine} {where}: schema version {version}")
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `migrate`."""
    p = sub.add_parser("migrate", help="apply pending database migrations (SQLite or PostgreSQL)")
    p.add_argument("dir", help="organisation folder")
    p.add_argument("--db", help="SQLite file (default <data_dir>/voicemail/register.sqlite3)")
    p.set_defaults(func=_migrate)
