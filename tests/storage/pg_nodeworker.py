"""Subprocess for the failover test: a node that takes the spool intake only while it leads."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path

from vmkit import LATER, make_org, make_settings

from switchboard.leadership import PgLeadership
from voicemail.intake import SpoolIntake
from voicemail.service import Register
from voicemail.store_pg import PostgresStore


async def intake_loop(intake: SpoolIntake, stop: asyncio.Event) -> None:
    """Pass over the spool every 50 ms, one message per transaction, reporting progress."""
    while not stop.is_set():
        report = await intake.run_once(LATER)
        if report.taken:
            print(f"taken {len(report.taken)}", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.05)


async def main(dsn: str, base: str, spool: str, node: str) -> None:
    """Run until SIGTERM: stand by, lead when the lock is free, step down when stopped."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    db_path = Path(base) / "db" / "register.sqlite3"  # only its folder: the shared audio store
    register = await Register.open(
        make_org(Path(base) / "data"), make_settings(), db_path, store=PostgresStore(dsn)
    )
    intake = SpoolIntake(register, spool, settle_s=0, batch_size=1)
    task: asyncio.Task[None] | None = None
    intake_stop = asyncio.Event()

    async def on_change(leading: bool) -> None:
        nonlocal task
        if leading:
            intake_stop.clear()
            task = asyncio.create_task(intake_loop(intake, intake_stop))
            print(f"leader {time.time():.3f}", flush=True)
        elif task is not None:
            intake_stop.set()
            await task
            task = None

    print("ready", flush=True)
    try:
        await PgLeadership(dsn, node_id=node, retry_s=0.2, check_s=0.5).run(stop, on_change)
    finally:
        await register.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
