"""Subprocess for the kill trials: open the register, say "ready", take in the whole spool."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from vmkit import LATER, make_org, make_settings

from voicemail.intake import SpoolIntake
from voicemail.service import Register


async def main(db: str, spool: str, batch: int) -> None:
    """Take in everything, flushing progress lines so the parent can see where it is."""
    register = await Register.open(make_org(Path(db).parent / "data"), make_settings(), db)
    print("ready", flush=True)
    try:
        await SpoolIntake(
            register, spool, settle_s=0, batch_size=batch, remove_taken=True
        ).run_once(LATER)
    finally:
        await register.close()
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
