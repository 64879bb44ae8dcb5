"""Subprocess for the multi-process tests: intake passes on a PostgreSQL register until done."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from vmkit import LATER, make_org, make_settings

from voicemail.intake import SpoolIntake
from voicemail.service import Register
from voicemail.store_pg import PostgresStore

MAX_PASSES = 200


async def main(dsn: str, base: str, spool: str, batch: int) -> None:
    """Say "ready", then pass over the spool until it is empty; print how many this one took."""
    db_path = Path(base) / "db" / "register.sqlite3"  # only its folder is used: audio
    register = await Register.open(
        make_org(Path(base) / "data"), make_settings(), db_path, store=PostgresStore(dsn)
    )
    print("ready", flush=True)
    taken = 0
    try:
        intake = SpoolIntake(register, spool, settle_s=0, batch_size=batch)
        for _ in range(MAX_PASSES):
            report = await intake.run_once(LATER)
            taken += len(report.taken)
            if not report.taken and not report.waiting and not report.already_registered:
                break
    finally:
        await register.close()
    print(f"done {taken}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
