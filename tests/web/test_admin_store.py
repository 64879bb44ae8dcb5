"""The switches' audit in the web store (issue 20): version 4 of the one migration list, on
both engines; a store at version 3 upgrades keeping its rows; every change is kept with who,
when and before -> after, newest first, a page at a time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from storekit import Storage
from webkit import OWNER, START

from switchboard.web.store import SCHEMA_VERSION, SwitchChange
from switchboard.web.store.schema import (
    MIGRATIONS,
    REDIRECT_TABLES,
    SIGN_IN_TABLES,
    VERSION_TABLE,
)

VERSIONS_SQL = f"SELECT version FROM {VERSION_TABLE} ORDER BY version"


async def make_v3(storage: Storage, path: Path) -> None:
    """A web store as version 3 left it (the DDL of versions 1-3), with a switch set."""
    path.parent.mkdir(parents=True, exist_ok=True)
    await storage.raw(
        f"CREATE TABLE {VERSION_TABLE} (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
        path,
    )
    for sql in (*REDIRECT_TABLES, *SIGN_IN_TABLES):
        await storage.raw(sql, path)
    for v in (1, 2, 3):
        await storage.raw(f"INSERT INTO {VERSION_TABLE} VALUES ({v}, 'x')", path)
    await storage.raw(
        f"INSERT INTO overrides VALUES ('{OWNER}', 'voicemail', 1, 'lena.lund', '{START}')", path
    )


async def test_version_4_is_the_switch_audit() -> None:
    """The migration list ends with version 4, the audit table."""
    assert SCHEMA_VERSION == 4
    version, statements = MIGRATIONS[-1]
    assert version == 4 and any("switch_changes" in s for s in statements)


async def test_a_version_3_store_upgrades_keeping_its_switches(
    storage: Storage, tmp_path: Path
) -> None:
    """Issue 20: a store at 3 gains the audit (empty) at its next open, on either engine; its
    switches stay, and the first change after is audited."""
    path = tmp_path / "web" / "web.sqlite3"
    await make_v3(storage, path)
    async with storage.web_store(path) as store:
        assert store.overrides() == {(OWNER, "voicemail"): True}
        assert await store.switch_changes(10, 0) == (0, [])
        await store.set_switches([(OWNER, "voicemail", True, False)], "lena.lund", START, "user")
    assert await storage.raw(VERSIONS_SQL, path) == [(1,), (2,), (3,), (4,)]
    async with storage.web_store(path) as store:  # reopened: kept, nothing migrated again
        assert store.overrides() == {(OWNER, "voicemail"): False}
        total, changes = await store.switch_changes(10, 0)
    assert total == 1
    assert changes == [SwitchChange(START, "lena.lund", "user", OWNER, "voicemail", True, False)]


async def test_changes_are_audited_newest_first_a_page_at_a_time(
    storage: Storage, tmp_path: Path
) -> None:
    """Only a value that changed is audited; a bulk change is one transaction; pages by
    offset; a switch set through set_override is audited with the stored value before."""
    async with storage.web_store(tmp_path / "web.sqlite3") as store:
        await store.set_switches(
            [("", "voicemail_extension_users", True, False)], "a", START, "org"
        )
        later = START + timedelta(minutes=5)
        bulk = [(f"u{i}", "voicemail", i % 2 == 0, True) for i in range(6)]
        await store.set_switches(bulk, "b", later, "bulk")
        await store.set_override(OWNER, "blocked", True, "c", later + timedelta(minutes=1))
        total, first = await store.switch_changes(2, 0)
        assert total == 1 + 3 + 1  # the three already on are set, not audited
        assert [(c.by, c.target, c.before, c.after) for c in first] == [
            ("c", OWNER, None, True),
            ("b", "u1", False, True),
        ]
        _, rest = await store.switch_changes(10, 2)
        assert [(c.scope, c.target) for c in rest] == [
            ("bulk", "u3"),
            ("bulk", "u5"),
            ("org", ""),
        ]
        assert all(store.overrides()[(f"u{i}", "voicemail")] for i in range(6))
        mine = await store.switch_changes(10, 0, ["u3", OWNER])  # a scoped administrator's
        assert mine[0] == 2 and [c.target for c in mine[1]] == [OWNER, "u3"]
        assert await store.switch_changes(10, 0, []) == (0, [])
        assert rest[-1].as_json() == {
            "at": START.isoformat(),
            "by": "a",
            "scope": "org",
            "target": "",
            "switch": "voicemail_extension_users",
            "before": True,
            "after": False,
        }
