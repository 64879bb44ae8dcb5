"""The web store's tables and statements, the same on both engines.

One list of migrations (`MIGRATIONS`), run by the shared runner (`storage.sqlite.migrate`,
`storage.postgresql.migrate`) into the table `web_schema_migrations` on either engine, with the
same version numbers. The engines need no different DDL here (the register's `DIALECTS` has
nothing to fill in), so the statements are written once, every one idempotent
(`IF NOT EXISTS`): a database whose tables came before its versions table keeps its rows.

- 1: manual redirects and admin overrides.
- 2: nothing to create. Schema 1 of the SQLite file also kept threat incidents; from 2
  on they live with the call log (`switchboard.telephony.calllog`), and an old `incidents`
  table stays as it was, unused (`switchboard.web.store.sqlite_backend`).
- 3: what sign-in shares between restarts and nodes: logged-out sessions and failed logins.
- 4: the audit of the administrators' switches (`switch_changes`): every change, organisation-
  wide, per user or in bulk, with who, when, before and after (issue 20). A store at 3 gains
  the empty table; its overrides stay as they were.

Before this list, the SQLite file kept its version in a table `web_schema` (1, 2 or 3, the same
meanings) and PostgreSQL numbered the sign-in tables 2. A SQLite file is brought onto the
versions table at its old version when it opens; a PostgreSQL database at the old 2 already has
the sign-in tables, so version 3 finds nothing to create there.

The statements below use `?` placeholders (PostgreSQL numbers them, `storage.db.numbered`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from switchboard.web.errors import Unavailable

DB_NAME = "web.sqlite3"
VERSION_TABLE = "web_schema_migrations"
LEGACY_VERSION_TABLE = "web_schema"  # the SQLite file's version before VERSION_TABLE

REDIRECT_TABLES = (
    "CREATE TABLE IF NOT EXISTS manual_redirects (user_id TEXT PRIMARY KEY,"
    " reason TEXT NOT NULL, until_at TEXT, text TEXT, set_at TEXT NOT NULL, returns_at TEXT,"
    " set_by TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS overrides (user_id TEXT NOT NULL, name TEXT NOT NULL,"
    " value INTEGER NOT NULL, set_by TEXT NOT NULL, set_at TEXT NOT NULL,"
    " PRIMARY KEY (user_id, name))",
)
# Logged-out sessions and failed logins (times fixed-width UTC text).
SIGN_IN_TABLES = (
    "CREATE TABLE IF NOT EXISTS revoked_sessions ("
    " sid VARCHAR(64) PRIMARY KEY, expires_at VARCHAR(40) NOT NULL)",
    "CREATE TABLE IF NOT EXISTS login_failures ("
    " subject VARCHAR(300) NOT NULL, failed_at VARCHAR(40) NOT NULL)",
    "CREATE INDEX IF NOT EXISTS login_failures_subject ON login_failures (subject, failed_at)",
)
# The switches' audit: one row per switch changed (before NULL when it was not known), a
# change of several rows shares `batch`, `seq` orders its rows; `scope` is org, user or bulk.
SWITCH_AUDIT_TABLES = (
    "CREATE TABLE IF NOT EXISTS switch_changes ("
    " batch VARCHAR(64) NOT NULL, seq INTEGER NOT NULL, changed_at VARCHAR(40) NOT NULL,"
    " changed_by TEXT NOT NULL, scope VARCHAR(10) NOT NULL, target TEXT NOT NULL,"
    " name TEXT NOT NULL, before_value INTEGER, after_value INTEGER NOT NULL,"
    " PRIMARY KEY (batch, seq))",
    "CREATE INDEX IF NOT EXISTS switch_changes_at ON switch_changes (changed_at, batch, seq)",
)
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (1, REDIRECT_TABLES),
    (2, ()),  # incidents moved to the call log; an old table of them is left alone
    (3, SIGN_IN_TABLES),  # shared by every node
    (4, SWITCH_AUDIT_TABLES),  # who changed which switch, before -> after (issue 20)
)
SCHEMA_VERSION = MIGRATIONS[-1][0]

PURGE_MANUAL_SQL = "DELETE FROM manual_redirects WHERE until_at IS NOT NULL AND until_at <= ?"
DELETE_MANUAL_SQL = "DELETE FROM manual_redirects WHERE user_id = ?"
INSERT_MANUAL_SQL = (
    "INSERT INTO manual_redirects (user_id, reason, until_at, text, set_at, returns_at, set_by)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
LOAD_MANUAL_SQL = (
    "SELECT user_id, reason, until_at, text, set_at, returns_at, set_by FROM manual_redirects"
)
DELETE_OVERRIDE_SQL = "DELETE FROM overrides WHERE user_id = ? AND name = ?"
INSERT_OVERRIDE_SQL = (
    "INSERT INTO overrides (user_id, name, value, set_by, set_at) VALUES (?, ?, ?, ?, ?)"
)
LOAD_OVERRIDES_SQL = "SELECT user_id, name, value FROM overrides"
INSERT_SWITCH_CHANGE_SQL = (
    "INSERT INTO switch_changes (batch, seq, changed_at, changed_by, scope, target, name,"
    " before_value, after_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
COUNT_SWITCH_CHANGES_SQL = "SELECT COUNT(*) FROM switch_changes{where}"
PAGE_SWITCH_CHANGES_SQL = (
    "SELECT changed_at, changed_by, scope, target, name, before_value, after_value"
    " FROM switch_changes{where} ORDER BY changed_at DESC, batch DESC, seq LIMIT ? OFFSET ?"
)
MAX_TARGETS = 10_000  # a filter's ids, within both engines' limit of parameters


def targets_filter(targets: Sequence[str] | None) -> str:
    """The `{where}` of the switch-change queries: every change, or those of `targets` only."""
    if targets is None:
        return ""
    if len(targets) > MAX_TARGETS:
        raise ValueError(f"at most {MAX_TARGETS} targets in one filter")
    if not targets:
        return " WHERE 1 = 0"
    return " WHERE target IN (" + ", ".join("?" for _ in targets) + ")"


PURGE_REVOKED_SQL = "DELETE FROM revoked_sessions WHERE expires_at <= ?"
INSERT_REVOKED_SQL = (
    "INSERT INTO revoked_sessions (sid, expires_at) VALUES (?, ?) ON CONFLICT (sid) DO NOTHING"
)
IS_REVOKED_SQL = "SELECT COUNT(*) FROM revoked_sessions WHERE sid = ?"
PURGE_FAILURES_SQL = "DELETE FROM login_failures WHERE failed_at <= ?"
INSERT_FAILURE_SQL = "INSERT INTO login_failures (subject, failed_at) VALUES (?, ?)"
RECENT_FAILURES_SQL = (
    "SELECT COUNT(*), MIN(failed_at) FROM login_failures WHERE subject = ? AND failed_at > ?"
)
CLEAR_FAILURES_SQL = "DELETE FROM login_failures WHERE subject = ?"
COUNT_FAILURES_AT_SQL = "SELECT COUNT(*) FROM login_failures WHERE subject = ? AND failed_at = ?"
DELETE_FAILURES_AT_SQL = "DELETE FROM login_failures WHERE subject = ? AND failed_at = ?"
# PostgreSQL advisory lock around deciding a login attempt (SQLite: the store's one writer)
SIGN_IN_LOCK = "switchboard.login_failures"


def newer_than_known(where: str) -> Callable[[int], Unavailable]:
    """How a database written by a newer program is refused (the runners leave it untouched)."""

    def too_new(current: int) -> Unavailable:
        return Unavailable(f"{where}: web schema {current} is newer than {SCHEMA_VERSION}")

    return too_new
