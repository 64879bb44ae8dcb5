"""The web store's schema: a schema-1 database (incidents kept here) still opens and works.

The schema-1 upgrade is SQLite's own history; the other tests run on both engines.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from storekit import Storage
from webkit import OWNER, START

from routing.models import AbsenceReason, ManualRedirect
from switchboard.web import store_pg
from switchboard.web.errors import Unavailable
from switchboard.web.store import SCHEMA_VERSION, WebStore

SCHEMA_1 = (
    """CREATE TABLE manual_redirects (
        user_id TEXT PRIMARY KEY, reason TEXT NOT NULL, until_at TEXT, text TEXT,
        set_at TEXT NOT NULL, returns_at TEXT, set_by TEXT NOT NULL)""",
    """CREATE TABLE overrides (
        user_id TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,
        set_by TEXT NOT NULL, set_at TEXT NOT NULL, PRIMARY KEY (user_id, name))""",
    """CREATE TABLE incidents (
        id INTEGER PRIMARY KEY, reference TEXT NOT NULL UNIQUE, call_id TEXT NOT NULL,
        reported_by TEXT NOT NULL, reported_at TEXT NOT NULL, note TEXT NOT NULL,
        call_json TEXT NOT NULL)""",
    "CREATE TABLE web_schema (version INTEGER NOT NULL)",
)
TABLES_SQL = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type='table'",
    "postgresql": "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
}
NEWER_SCHEMA_SQL = {  # behind the store's back: the database says it is one version ahead
    "sqlite": f"UPDATE web_schema SET version = {SCHEMA_VERSION + 1}",
    "postgresql": f"INSERT INTO {store_pg.VERSION_TABLE} (version, applied_at)"
    f" VALUES ({store_pg.SCHEMA_VERSION + 1}, 'x')",
}


def make_schema_1(path: Path) -> None:
    """A web.sqlite3 as schema 1 left it: a manual redirect, a switch and an incident."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        for sql in SCHEMA_1:
            db.execute(sql)
        db.execute("INSERT INTO web_schema (version) VALUES (1)")
        until = (START + timedelta(hours=1)).isoformat()
        db.execute(
            "INSERT INTO manual_redirects VALUES (?, 'lunch', ?, NULL, ?, NULL, ?)",
            (OWNER, until, START.isoformat(), OWNER),
        )
        db.execute(
            "INSERT INTO overrides VALUES (?, 'voicemail', 1, 'lena.lund', ?)",
            (OWNER, START.isoformat()),
        )
        db.execute(
            "INSERT INTO incidents VALUES (1, 'ALV-HOT-2026-0001', '1.1', 'ivar.isaksson', ?,"
            " 'hot', '{}')",
            (START.isoformat(),),
        )
    db.close()


def table_rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows of a query straight from the file."""
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


async def test_schema_1_database_migrates_and_keeps_its_old_incidents(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Schema 1 -> 2: redirects and switches load; the old incidents table is left, unused."""
    path = tmp_path / "web" / "web.sqlite3"
    make_schema_1(path)
    with caplog.at_level(logging.WARNING, logger="switchboard.web"):
        async with WebStore(path) as store:
            manual = store.manual_for(OWNER, START)
            assert manual is not None and manual.reason is AbsenceReason.LUNCH
            assert store.overrides()[(OWNER, "voicemail")] is True
            redirect = ManualRedirect(OWNER, AbsenceReason.MEETING, START + timedelta(hours=2))
            await store.set_manual(redirect, OWNER, START)
    assert "1 threat incident(s)" in caplog.text
    assert table_rows(path, "SELECT version FROM web_schema") == [(SCHEMA_VERSION,)]
    assert table_rows(path, "SELECT reference FROM incidents") == [("ALV-HOT-2026-0001",)]
    async with WebStore(path) as store:  # a second open is a no-op
        manual = store.manual_for(OWNER, START)
        assert manual is not None and manual.reason is AbsenceReason.MEETING
    assert table_rows(path, "SELECT version FROM web_schema") == [(SCHEMA_VERSION,)]


async def test_new_database_has_no_incidents_table(storage: Storage, tmp_path: Path) -> None:
    """Incidents live in the call log only: a fresh web store does not create a table for them."""
    path = tmp_path / "web.sqlite3"
    async with storage.web_store(path):
        pass
    names = {r[0] for r in await storage.raw(TABLES_SQL[storage.engine], path)}
    assert "incidents" not in names and {"manual_redirects", "overrides"} <= names


async def test_newer_schema_is_refused(storage: Storage, tmp_path: Path) -> None:
    """A database from a newer version is not touched."""
    path = tmp_path / "web.sqlite3"
    async with storage.web_store(path):
        pass
    await storage.raw(NEWER_SCHEMA_SQL[storage.engine], path)
    store = storage.web_store(path)
    with pytest.raises(Unavailable, match="newer"):
        await store.open()
    await store.close()
