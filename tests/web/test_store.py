"""The web store's schema: one list of migrations on both engines, and every older layout upgrades.

A fresh database ends at the same version with the same tables on SQLite and PostgreSQL. The
SQLite file's old layout (its version in `web_schema`: 1 kept incidents here, 2 left them
unused, 3 added sign-in state) and PostgreSQL's old numbering (2 was the sign-in tables) are
built here with the DDL of their time and upgraded without losing a row.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from storekit import Storage, make_storage
from webkit import OWNER, START

from routing.absence import AbsenceReason, ManualRedirect
from switchboard.web.errors import Unavailable
from switchboard.web.store import SCHEMA_VERSION, WebStore
from switchboard.web.store.schema import VERSION_TABLE

# The SQLite file's DDL before the shared runner (web/store.py's `_SCHEMA` and SIGN_IN_TABLES).
OLD_REDIRECT_TABLES = (
    """CREATE TABLE IF NOT EXISTS manual_redirects (
        user_id TEXT PRIMARY KEY, reason TEXT NOT NULL, until_at TEXT, text TEXT,
        set_at TEXT NOT NULL, returns_at TEXT, set_by TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS overrides (
        user_id TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,
        set_by TEXT NOT NULL, set_at TEXT NOT NULL, PRIMARY KEY (user_id, name))""",
)
OLD_WEB_SCHEMA = "CREATE TABLE IF NOT EXISTS web_schema (version INTEGER NOT NULL)"
OLD_INCIDENTS = """CREATE TABLE incidents (
        id INTEGER PRIMARY KEY, reference TEXT NOT NULL UNIQUE, call_id TEXT NOT NULL,
        reported_by TEXT NOT NULL, reported_at TEXT NOT NULL, note TEXT NOT NULL,
        call_json TEXT NOT NULL)"""
OLD_SIGN_IN_TABLES = (
    "CREATE TABLE IF NOT EXISTS revoked_sessions ("
    " sid VARCHAR(64) PRIMARY KEY, expires_at VARCHAR(40) NOT NULL)",
    "CREATE TABLE IF NOT EXISTS login_failures ("
    " subject VARCHAR(300) NOT NULL, failed_at VARCHAR(40) NOT NULL)",
    "CREATE INDEX IF NOT EXISTS login_failures_subject ON login_failures (subject, failed_at)",
)
OLD_SQLITE_LAYOUT = {
    1: (*OLD_REDIRECT_TABLES, OLD_INCIDENTS, OLD_WEB_SCHEMA),
    2: (*OLD_REDIRECT_TABLES, OLD_WEB_SCHEMA),
    3: (*OLD_REDIRECT_TABLES, OLD_WEB_SCHEMA, *OLD_SIGN_IN_TABLES),
}
# PostgreSQL before the shared list: 1 the two tables, 2 the sign-in tables.
OLD_PG_LAYOUT = {
    1: (
        "CREATE TABLE manual_redirects (user_id TEXT PRIMARY KEY, reason TEXT NOT NULL,"
        " until_at TEXT, text TEXT, set_at TEXT NOT NULL, returns_at TEXT,"
        " set_by TEXT NOT NULL)",
        "CREATE TABLE overrides (user_id TEXT NOT NULL, name TEXT NOT NULL,"
        " value INTEGER NOT NULL, set_by TEXT NOT NULL, set_at TEXT NOT NULL,"
        " PRIMARY KEY (user_id, name))",
    ),
    2: OLD_SIGN_IN_TABLES,
}
COLUMNS_SQL = {
    "sqlite": "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p"
    " WHERE m.type = 'table'",
    "postgresql": "SELECT table_name, column_name FROM information_schema.columns"
    " WHERE table_schema = 'public'",
}
FRESH_TABLES = {
    "manual_redirects": {"user_id", "reason", "until_at", "text", "set_at", "returns_at", "set_by"},
    "overrides": {"user_id", "name", "value", "set_by", "set_at"},
    "revoked_sessions": {"sid", "expires_at"},
    "login_failures": {"subject", "failed_at"},
    "switch_changes": {
        *("batch", "seq", "changed_at", "changed_by", "scope", "target", "name"),
        *("before_value", "after_value"),
    },
    VERSION_TABLE: {"version", "applied_at"},
}
VERSIONS_SQL = f"SELECT version FROM {VERSION_TABLE} ORDER BY version"
ALL_VERSIONS = [(v,) for v in range(1, SCHEMA_VERSION + 1)]
UNTIL = START + timedelta(hours=1)


def insert_rows(db: sqlite3.Connection, sign_in: bool) -> None:
    """A manual redirect and a switch (and, with the sign-in tables, a logout and a failure)."""
    db.execute(
        "INSERT INTO manual_redirects VALUES (?, 'lunch', ?, NULL, ?, NULL, ?)",
        (OWNER, UNTIL.isoformat(), START.isoformat(), OWNER),
    )
    db.execute(
        "INSERT INTO overrides VALUES (?, 'voicemail', 1, 'lena.lund', ?)",
        (OWNER, START.isoformat()),
    )
    if sign_in:
        db.execute("INSERT INTO revoked_sessions VALUES ('s', ?)", (UNTIL.isoformat(),))
        db.execute("INSERT INTO login_failures VALUES ('user:x', ?)", (START.isoformat(),))


def make_old_sqlite(path: Path, version: int) -> None:
    """A web.sqlite3 as the store of schema `version` left it, with rows in every table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        for sql in OLD_SQLITE_LAYOUT[version]:
            db.execute(sql)
        db.execute("INSERT INTO web_schema (version) VALUES (?)", (version,))
        insert_rows(db, sign_in=version >= 3)
        if version == 1:
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


async def columns(storage: Storage, path: Path) -> dict[str, set[str]]:
    """Table → its column names, read behind the store's back."""
    found: dict[str, set[str]] = {}
    for table, column in await storage.raw(COLUMNS_SQL[storage.engine], path):
        found.setdefault(str(table), set()).add(str(column))
    return found


async def assert_rows_kept(store: WebStore, sign_in: bool) -> None:
    """The redirect and switch of `insert_rows` are loaded (and the sign-in rows count)."""
    manual = store.manual_for(OWNER, START)
    assert manual is not None and manual.reason is AbsenceReason.LUNCH
    assert manual.until == UNTIL and store.set_by(OWNER) == OWNER
    assert store.overrides() == {(OWNER, "voicemail"): True}
    if sign_in:
        assert await store.session_revoked("s", UNTIL, START)
        assert await store.login_failures("user:x", START - timedelta(minutes=1)) == (1, START)


async def test_fresh_database_has_the_same_version_and_tables_on_both_engines(
    storage: Storage, tmp_path: Path
) -> None:
    """One list of migrations: every version recorded, the same tables and columns."""
    path = tmp_path / "web.sqlite3"
    async with storage.web_store(path):
        pass
    assert await storage.raw(VERSIONS_SQL, path) == ALL_VERSIONS
    assert SCHEMA_VERSION == 4
    assert await columns(storage, path) == FRESH_TABLES
    async with storage.web_store(path):  # a second open is a no-op
        pass
    assert await storage.raw(VERSIONS_SQL, path) == ALL_VERSIONS


async def test_schema_1_database_migrates_and_keeps_its_old_incidents(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Schema 1 -> 2: redirects and switches load; the old incidents table is left, unused."""
    path = tmp_path / "web" / "web.sqlite3"
    make_old_sqlite(path, 1)
    with caplog.at_level(logging.WARNING, logger="switchboard.web"):
        async with WebStore(path) as store:
            await assert_rows_kept(store, sign_in=False)
            redirect = ManualRedirect(OWNER, AbsenceReason.MEETING, START + timedelta(hours=2))
            await store.set_manual(redirect, OWNER, START)
    assert "1 threat incident(s)" in caplog.text
    assert table_rows(path, VERSIONS_SQL) == ALL_VERSIONS
    assert table_rows(path, "SELECT reference FROM incidents") == [("ALV-HOT-2026-0001",)]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="switchboard.web"):
        async with WebStore(path) as store:  # a second open is a no-op
            manual = store.manual_for(OWNER, START)
            assert manual is not None and manual.reason is AbsenceReason.MEETING
    assert "incident" not in caplog.text
    assert table_rows(path, VERSIONS_SQL) == ALL_VERSIONS


@pytest.mark.parametrize("version", sorted(OLD_SQLITE_LAYOUT))
async def test_old_sqlite_layout_moves_onto_the_versions_table(
    tmp_path: Path, version: int
) -> None:
    """A file versioned in `web_schema` (1, 2 or 3) is recorded at its version, then migrated:
    every row stays, `web_schema` goes, and the tables are a fresh database's (and incidents)."""
    path = tmp_path / "web.sqlite3"
    make_old_sqlite(path, version)
    async with WebStore(path) as store:
        await assert_rows_kept(store, sign_in=version >= 3)
        await store.revoke_session("new", UNTIL, START)
    assert table_rows(path, VERSIONS_SQL) == ALL_VERSIONS
    names = {r[0] for r in table_rows(path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert "web_schema" not in names
    old_only = {"incidents"} if version == 1 else set()
    assert names == set(FRESH_TABLES) | old_only
    async with WebStore(path) as store:  # reopened: the same rows, nothing migrated again
        await assert_rows_kept(store, sign_in=version >= 3)
        assert await store.session_revoked("new", UNTIL, START)
    assert table_rows(path, VERSIONS_SQL) == ALL_VERSIONS


async def test_interrupted_move_finishes_on_the_next_open(tmp_path: Path) -> None:
    """A start that stopped after recording part of the old version finishes the move."""
    path = tmp_path / "web.sqlite3"
    make_old_sqlite(path, 2)
    with sqlite3.connect(path) as db:
        db.execute(
            f"CREATE TABLE {VERSION_TABLE} (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        db.execute(f"INSERT INTO {VERSION_TABLE} VALUES (1, 'x')")
    db.close()
    async with WebStore(path) as store:
        await assert_rows_kept(store, sign_in=False)
        await store.revoke_session("s", UNTIL, START)  # version 3 ran: the tables are there
    assert table_rows(path, VERSIONS_SQL) == ALL_VERSIONS


async def test_old_sqlite_layout_newer_than_the_program_is_refused(tmp_path: Path) -> None:
    """A `web_schema` version above what this program knows: refused, the file left as it was."""
    path = tmp_path / "web.sqlite3"
    make_old_sqlite(path, 3)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE web_schema SET version = ?", (SCHEMA_VERSION + 1,))
    db.close()
    store = WebStore(path)
    with pytest.raises(Unavailable, match=f"web schema {SCHEMA_VERSION + 1} is newer than"):
        await store.open()
    await store.close()
    names = {r[0] for r in table_rows(path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert "web_schema" in names and VERSION_TABLE not in names
    assert table_rows(path, "SELECT version FROM web_schema") == [(SCHEMA_VERSION + 1,)]


@pytest.mark.parametrize("version", sorted(OLD_PG_LAYOUT))
async def test_old_postgresql_numbering_upgrades_keeping_rows(tmp_path: Path, version: int) -> None:
    """PostgreSQL at the old 1 gains the sign-in tables; at the old 2 (sign-in tables already
    there, the same DDL) version 3 creates nothing. Either way every row stays."""
    storage = make_storage("postgresql", tmp_path / "db")
    await storage.raw(
        f"CREATE TABLE {VERSION_TABLE} (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    for v in range(1, version + 1):
        for sql in OLD_PG_LAYOUT[v]:
            await storage.raw(sql)
        await storage.raw(f"INSERT INTO {VERSION_TABLE} VALUES ({v}, 'x')")
    until, start = UNTIL.isoformat(), START.isoformat()
    await storage.raw(
        f"INSERT INTO manual_redirects VALUES ('{OWNER}', 'lunch', '{until}', NULL, '{start}',"
        f" NULL, '{OWNER}')"
    )
    await storage.raw(f"INSERT INTO overrides VALUES ('{OWNER}', 'voicemail', 1, 'x', '{start}')")
    if version >= 2:
        await storage.raw(f"INSERT INTO revoked_sessions VALUES ('s', '{until}')")
        await storage.raw(f"INSERT INTO login_failures VALUES ('user:x', '{start}')")
    async with storage.web_store(tmp_path / "unused") as store:
        await assert_rows_kept(store, sign_in=version >= 2)
        await store.revoke_session("new", UNTIL, START)
    assert await storage.raw(VERSIONS_SQL) == ALL_VERSIONS
    assert await columns(storage, tmp_path) == FRESH_TABLES


async def test_new_database_has_no_incidents_table(storage: Storage, tmp_path: Path) -> None:
    """Incidents live in the call log only: a fresh web store does not create a table for them."""
    path = tmp_path / "web.sqlite3"
    async with storage.web_store(path):
        pass
    names = set(await columns(storage, path))
    assert "incidents" not in names and {"manual_redirects", "overrides"} <= names


async def test_newer_schema_is_refused(storage: Storage, tmp_path: Path) -> None:
    """A database from a newer version is not touched."""
    path = tmp_path / "web.sqlite3"
    async with storage.web_store(path):
        pass
    await storage.raw(
        f"INSERT INTO {VERSION_TABLE} (version, applied_at) VALUES ({SCHEMA_VERSION + 1}, 'x')",
        path,
    )
    store = storage.web_store(path)
    with pytest.raises(Unavailable, match="newer"):
        await store.open()
    await store.close()
    assert await storage.raw(VERSIONS_SQL, path) == [*ALL_VERSIONS, (SCHEMA_VERSION + 1,)]
