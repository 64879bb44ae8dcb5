"""A store's one SQLite connection sees its own uncommitted rows: a read outside the
transaction must wait for it, or a reader sees half a change (REC-03: a record marked heard
whose audit event is not yet written — seen at the 2026-12-02 date run)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from storage import sqlite


async def test_rec03_a_read_never_sees_a_transaction_half_done(tmp_path: Path) -> None:
    """REC-03: the change and its audit row are seen together or not at all."""
    conn = await sqlite.connect(tmp_path / "t.sqlite3", synchronous="FULL")
    try:
        db = sqlite.SqliteDb(conn, asyncio.Lock())
        await db.execute("CREATE TABLE records (id INTEGER PRIMARY KEY, heard TEXT)")
        await db.execute("CREATE TABLE events (record_id INTEGER, action TEXT)")
        await db.execute("INSERT INTO records (id, heard) VALUES (1, NULL)")
        seen: list[object] = []

        async def reader() -> None:
            row = await db.fetchone(
                "SELECT heard, (SELECT COUNT(*) FROM events WHERE record_id = 1)"
                " FROM records WHERE id = 1"
            )
            seen.append(tuple(row) if row is not None else None)

        async with db.transaction() as tx:
            await tx.execute("UPDATE records SET heard = 'now' WHERE id = 1")
            task = asyncio.create_task(reader())
            for _ in range(20):  # give the reader every chance to run mid-transaction
                await asyncio.sleep(0)
            assert not task.done(), f"read inside another's transaction: {seen}"
            await tx.execute("INSERT INTO events (record_id, action) VALUES (1, 'heard')")
        await task
        assert seen == [("now", 1)]
    finally:
        await conn.close()
