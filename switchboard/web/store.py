"""The web layer's own state: manual redirects (HV-03) and admin overrides, on either engine.

`WebStore` keeps an in-memory mirror loaded at open, so routing never waits on the database,
and fans every change out to subscribers (board, telephone mirror). Its `WebBackend` holds the
rows: `SqliteWebBackend` in `<data_dir>/web/web.sqlite3` (the default) or `PgWebBackend`
(`switchboard.web.store_pg`) beside the register, where every write NOTIFYs the other nodes,
which reload and publish the change: a redirect set on one node reaches every node's routing,
board and (on the leader) the telephone platform.

Threat incidents (ALV-20) live with the call log (`switchboard.telephony.calllog`); schema 2
stops using this database's old `incidents` table and leaves it, and its rows, untouched.

Schema 3 adds what sign-in shares between restarts and nodes: logged-out sessions
(`revoked_sessions`, purged once expired) and failed logins (`login_failures`, one row per
subject `user:<id>` or `addr:<address>`, purged once older than the limiter's window). These are
read from the database on every check, never from a per-node copy. A login attempt is decided
and counted as a failure in one transaction (under an advisory lock on PostgreSQL), before its
password is checked; a good login takes its row back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from routing.effective import Switches
from routing.models import AbsenceReason, ManualRedirect, Organisation
from storage import sqlite
from storage.db import Db
from switchboard.effective import Coalescing
from switchboard.storage import StorageSettings
from switchboard.web.errors import Unavailable

log = logging.getLogger("switchboard.web")

DB_NAME = "web.sqlite3"
SCHEMA_VERSION = 3  # 1 had incidents here; 2 left that table unused; 3 adds sign-in state

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS manual_redirects (
        user_id TEXT PRIMARY KEY, reason TEXT NOT NULL, until_at TEXT, text TEXT,
        set_at TEXT NOT NULL, returns_at TEXT, set_by TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS overrides (
        user_id TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,
        set_by TEXT NOT NULL, set_at TEXT NOT NULL, PRIMARY KEY (user_id, name))""",
    """CREATE TABLE IF NOT EXISTS web_schema (version INTEGER NOT NULL)""",
)
# The statements both engines run (`?` placeholders; PostgreSQL numbers them).
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
# Schema 3 on both engines: logged-out sessions and failed logins (times fixed-width UTC text).
SIGN_IN_TABLES = (
    "CREATE TABLE IF NOT EXISTS revoked_sessions ("
    " sid VARCHAR(64) PRIMARY KEY, expires_at VARCHAR(40) NOT NULL)",
    "CREATE TABLE IF NOT EXISTS login_failures ("
    " subject VARCHAR(300) NOT NULL, failed_at VARCHAR(40) NOT NULL)",
    "CREATE INDEX IF NOT EXISTS login_failures_subject ON login_failures (subject, failed_at)",
)
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

Rows = list[Sequence[Any]]
ManualParams = tuple[str, str, str | None, str | None, str | None, str | None, str]


def _t(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat() if dt is not None else None


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def db_instant(dt: datetime) -> str:
    """A sign-in time as stored: fixed-width UTC ISO 8601 (text order is time order)."""
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class ManualChange:
    """A manual redirect set or cleared: published to subscribers (board, telephone mirror)."""

    user_id: str
    before: ManualRedirect | None
    after: ManualRedirect | None
    by: str
    at: datetime


class ChangeHub:
    """In-process fan-out of 'user X may have changed' notices (server-sent events).

    Each subscriber holds a set of pending user ids (coalesced), never a growing queue: a
    stalled page costs at most one entry per user.
    """

    def __init__(self) -> None:
        self._subs: set[Coalescing[str]] = set()

    def publish(self, user_id: str) -> None:
        """Tell every subscriber that this user's state may have changed."""
        for sub in list(self._subs):
            sub.put(user_id)

    def subscribe(self) -> Coalescing[str]:
        """A subscription receiving user ids; it ends (StopAsyncIteration) at shutdown."""
        sub: Coalescing[str] = Coalescing(str, None, self._subs.discard)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Coalescing[str]) -> None:
        """Stop delivering to this subscription."""
        self._subs.discard(sub)

    def close_all(self) -> None:
        """End every subscription (shutdown)."""
        for sub in list(self._subs):
            sub.close()

    @property
    def subscribers(self) -> int:
        """How many subscribers are listening."""
        return len(self._subs)


class WebBackend(Protocol):
    """Where the web store's rows live; every write also tells the other nodes (`notice`)."""

    where: str

    async def open(self) -> None:
        """Connect and migrate."""

    async def close(self) -> None:
        """Stop listening and disconnect."""

    async def load(self) -> tuple[Rows, Rows]:
        """Every manual-redirect row and every override row."""

    async def put_manual(self, params: ManualParams, purge_before: str | None, notice: str) -> None:
        """Replace one user's redirect, purging expired ones, in one transaction."""

    async def delete_manual(self, user_id: str, notice: str) -> None:
        """Remove one user's redirect."""

    async def put_override(
        self, user_id: str, name: str, value: bool, by: str, at: str | None, notice: str
    ) -> None:
        """Replace one switch."""

    async def revoke(self, sid: str, expires: str, purge_before: str) -> None:
        """Record a logged-out session, purging expired ones."""

    async def is_revoked(self, sid: str) -> bool:
        """Whether this session was logged out (on any node)."""

    async def add_failures(self, subjects: Sequence[str], at: str, purge_before: str) -> None:
        """One failed login per subject, purging failures too old to count."""

    async def recent_failures(self, subject: str, since: str) -> tuple[int, str | None]:
        """How many failures after `since`, and the oldest of them."""

    async def clear_failures(self, subject: str) -> None:
        """Forget a subject's failures."""

    async def claim_attempt(
        self, limits: Mapping[str, int], at: str, since: str
    ) -> dict[str, str | None]:
        """Decide a login attempt and count it as a failure of each subject, atomically."""

    async def release_attempt(self, clear: str, take_back: Sequence[str], at: str) -> None:
        """A good login: forget `clear`'s failures, take back the attempt of `take_back`."""

    def listen(
        self, on_notice: Callable[[str], None], on_connect: Callable[[], Awaitable[None]]
    ) -> None:
        """Deliver other nodes' notices from now on (nothing to do with one node)."""


class SharedWebBackend:
    """The `WebBackend` methods both engines run alike, over `sql` (a `storage.db.Db`).

    An engine supplies `sql`, its plumbing (open, close, migrations, listen) and `_notify`,
    which tells the other nodes about a write inside its transaction.
    """

    @property
    def sql(self) -> Db:
        """The open database."""
        raise NotImplementedError

    async def _notify(self, tx: Db, notice: str) -> None:
        """Tell the other nodes, in the writing transaction (nothing to do with one node)."""

    async def load(self) -> tuple[Rows, Rows]:
        """Every manual-redirect row and every override row."""
        async with self.sql.transaction() as tx:
            manual: Rows = await tx.fetch(LOAD_MANUAL_SQL)
            overrides: Rows = await tx.fetch(LOAD_OVERRIDES_SQL)
        return manual, overrides

    async def put_manual(self, params: ManualParams, purge_before: str | None, notice: str) -> None:
        """Replace one user's redirect, purging expired ones, in one transaction."""
        async with self.sql.transaction() as tx:
            await tx.execute(PURGE_MANUAL_SQL, (purge_before,))
            await tx.execute(DELETE_MANUAL_SQL, (params[0],))
            await tx.execute(INSERT_MANUAL_SQL, params)
            await self._notify(tx, notice)

    async def delete_manual(self, user_id: str, notice: str) -> None:
        """Remove one user's redirect."""
        async with self.sql.transaction() as tx:
            await tx.execute(DELETE_MANUAL_SQL, (user_id,))
            await self._notify(tx, notice)

    async def put_override(
        self, user_id: str, name: str, value: bool, by: str, at: str | None, notice: str
    ) -> None:
        """Replace one switch."""
        async with self.sql.transaction() as tx:
            await tx.execute(DELETE_OVERRIDE_SQL, (user_id, name))
            await tx.execute(INSERT_OVERRIDE_SQL, (user_id, name, int(value), by, at))
            await self._notify(tx, notice)

    async def revoke(self, sid: str, expires: str, purge_before: str) -> None:
        """Record a logged-out session, purging expired ones, in one transaction."""
        async with self.sql.transaction() as tx:
            await tx.execute(PURGE_REVOKED_SQL, (purge_before,))
            await tx.execute(INSERT_REVOKED_SQL, (sid, expires))

    async def is_revoked(self, sid: str) -> bool:
        """Whether this session was logged out (on any node)."""
        row = await self.sql.fetchone(IS_REVOKED_SQL, (sid,))
        return bool(row and row[0])

    async def add_failures(self, subjects: Sequence[str], at: str, purge_before: str) -> None:
        """One failed login per subject, purging failures too old to count."""
        async with self.sql.transaction() as tx:
            await tx.execute(PURGE_FAILURES_SQL, (purge_before,))
            for subject in subjects:
                await tx.execute(INSERT_FAILURE_SQL, (subject, at))

    async def recent_failures(self, subject: str, since: str) -> tuple[int, str | None]:
        """How many failures after `since` (on every node), and the oldest of them."""
        row = await self.sql.fetchone(RECENT_FAILURES_SQL, (subject, since))
        return (int(row[0]), row[1]) if row is not None else (0, None)

    async def clear_failures(self, subject: str) -> None:
        """Forget a subject's failures."""
        await self.sql.execute(CLEAR_FAILURES_SQL, (subject,))

    async def claim_attempt(
        self, limits: Mapping[str, int], at: str, since: str
    ) -> dict[str, str | None]:
        """Decide a login attempt and count it, in one transaction no other attempt interleaves.

        The answer is the subjects already at their limit of failures after `since`, with the
        oldest of each; when there are none, the attempt counts as one failure of each subject
        (until `release_attempt`), so parallel guesses cannot all pass before any is counted.
        """
        full: dict[str, str | None] = {}
        async with self.sql.transaction(SIGN_IN_LOCK) as tx:
            await tx.execute(PURGE_FAILURES_SQL, (since,))
            for subject, limit in limits.items():
                row = await tx.fetchone(RECENT_FAILURES_SQL, (subject, since))
                if row is not None and int(row[0]) >= limit:
                    full[subject] = row[1]
            if not full:
                for subject in limits:
                    await tx.execute(INSERT_FAILURE_SQL, (subject, at))
        return full

    async def release_attempt(self, clear: str, take_back: Sequence[str], at: str) -> None:
        """A good login: forget `clear`'s failures, take back the attempt at `at` of `take_back`."""
        async with self.sql.transaction(SIGN_IN_LOCK) as tx:
            await tx.execute(CLEAR_FAILURES_SQL, (clear,))
            for subject in take_back:
                # rows have no id, and attempts at the same instant are alike: delete this
                # instant's rows and put back all but one
                row = await tx.fetchone(COUNT_FAILURES_AT_SQL, (subject, at))
                count = int(row[0]) if row is not None else 0
                if count:
                    await tx.execute(DELETE_FAILURES_AT_SQL, (subject, at))
                for _ in range(count - 1):
                    await tx.execute(INSERT_FAILURE_SQL, (subject, at))


class SqliteWebBackend(SharedWebBackend):
    """The rows in one SQLite file (WAL): one node, no notices."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    @property
    def db(self) -> aiosqlite.Connection:
        """The open connection; Unavailable before `open()`."""
        if self._db is None:
            raise Unavailable("the web store is not open")
        return self._db

    @property
    def sql(self) -> sqlite.SqliteDb:
        """The open connection; one writer at a time."""
        return sqlite.SqliteDb(self.db, self._lock, begin="BEGIN")

    async def open(self) -> None:
        """Create or open the database and migrate it."""
        self._db = await sqlite.connect(self.path, synchronous="FULL")
        try:
            await self._migrate()
        except BaseException:
            await self.close()
            raise

    async def _migrate(self) -> None:
        db = self.db
        async with sqlite.transaction(db, "BEGIN IMMEDIATE"):
            for statement in _SCHEMA:
                await db.execute(statement)
            version = await sqlite.schema_version(db, "web_schema")
            if version > SCHEMA_VERSION:
                raise Unavailable(f"{self.path}: schema {version} is newer than {SCHEMA_VERSION}")
            if version == 1:
                await self._retire_incidents()
            if version < 3:
                for statement in SIGN_IN_TABLES:
                    await db.execute(statement)
            if version == 0:
                await db.execute("INSERT INTO web_schema (version) VALUES (?)", (SCHEMA_VERSION,))
            elif version < SCHEMA_VERSION:
                await db.execute("UPDATE web_schema SET version = ?", (SCHEMA_VERSION,))

    async def _retire_incidents(self) -> None:
        """Schema 1 -> 2: the old incidents table stays as it was, unused; say if it holds rows."""
        row = await sqlite.fetchone(
            self.db,
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'incidents'",
        )
        if row is None or not row[0]:
            return
        row = await sqlite.fetchone(self.db, "SELECT COUNT(*) FROM incidents")
        if row is not None and row[0]:
            log.warning(
                "%s: %d threat incident(s) from schema 1 stay in its unused table 'incidents';"
                " new incidents are kept in the call log (calllog.sqlite3)",
                self.path,
                row[0],
            )

    async def close(self) -> None:
        """Close the database."""
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    def listen(
        self, on_notice: Callable[[str], None], on_connect: Callable[[], Awaitable[None]]
    ) -> None:
        """One node: nobody else writes."""


class WebStore:
    """Manual redirects and admin overrides: an in-memory mirror over a `WebBackend`."""

    def __init__(self, path: str | Path | WebBackend, hub: ChangeHub | None = None) -> None:
        self.backend: WebBackend = SqliteWebBackend(path) if isinstance(path, str | Path) else path
        self.hub = hub or ChangeHub()
        self._manual: dict[str, ManualRedirect] = {}
        self._set_by: dict[str, str] = {}
        self._overrides: dict[tuple[str, str], bool] = {}
        self._listeners: list[Callable[[ManualChange], None]] = []
        self._watchers: list[Callable[[str], None]] = []  # any change: user id ("" = everyone)
        self._lock = asyncio.Lock()
        self._source = secrets.token_hex(8)  # this node's notices, not to be re-applied
        self._remote: asyncio.Queue[None] = asyncio.Queue()
        self._remote_task: asyncio.Task[None] | None = None
        self.remote_changes = 0  # changes other nodes made that reached this one
        self._revoked: dict[str, datetime] = {}  # sessions known to be logged out (never undone)

    @classmethod
    def in_data_dir(cls, data_dir: str | Path, hub: ChangeHub | None = None) -> WebStore:
        """The SQLite store at its usual place in an organisation's data directory."""
        return cls(Path(data_dir) / "web" / DB_NAME, hub)

    @classmethod
    def for_storage(
        cls, settings: StorageSettings, data_dir: str | Path, hub: ChangeHub | None = None
    ) -> WebStore:
        """On the configured engine: beside the register on PostgreSQL, else in `data_dir`."""
        if settings.engine == "postgresql":
            from switchboard.web.store_pg import PgWebBackend

            if not settings.dsn:
                raise ValueError(f"storage: environment variable {settings.dsn_env} is not set")
            return cls(PgWebBackend(settings.dsn, settings.schema), hub)
        return cls.in_data_dir(data_dir, hub)

    @property
    def path(self) -> Path | None:
        """The SQLite file, or None on PostgreSQL."""
        return self.backend.path if isinstance(self.backend, SqliteWebBackend) else None

    async def open(self) -> None:
        """Open the backend, load the mirror, and follow other nodes' changes."""
        await self.backend.open()
        try:
            await self._load()
        except BaseException:
            await self.backend.close()
            raise
        self._remote_task = asyncio.create_task(self._follow())
        self.backend.listen(self._on_notice, self._caught_up)

    async def close(self) -> None:
        """Stop following and close the backend."""
        if self._remote_task is not None:
            task, self._remote_task = self._remote_task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.backend.close()

    async def __aenter__(self) -> WebStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _notice(self, kind: str, user_id: str) -> str:
        return json.dumps({"src": self._source, "kind": kind, "user_id": user_id})

    def _on_notice(self, payload: str) -> None:
        try:
            src = json.loads(payload).get("src")
        except (ValueError, AttributeError):
            src = None
        if src != self._source:
            self._remote.put_nowait(None)

    async def _caught_up(self) -> None:
        """After (re)connecting: whatever changed meanwhile is applied like a notice."""
        self._remote.put_nowait(None)

    async def _follow(self) -> None:
        """Reload on other nodes' notices (a burst coalesced) and publish what differs."""
        while True:
            await self._remote.get()
            while not self._remote.empty():
                self._remote.get_nowait()
            try:
                await self._reload_and_publish()
            except Exception as exc:  # the listener reconnects and catches up
                log.warning("web store: reload after another node's change failed: %s", exc)

    async def _reload_and_publish(self) -> None:
        async with self._lock:
            before_manual, before_over = dict(self._manual), dict(self._overrides)
            await self._load()
        now = datetime.now(UTC)
        for uid in sorted(set(before_manual) | set(self._manual)):
            old, new = before_manual.get(uid), self._manual.get(uid)
            if old != new:
                self.remote_changes += 1
                by = self._set_by.get(uid, "") if new is not None else ""
                self._publish(ManualChange(uid, old, new, by, now))
        for key in sorted(set(before_over) | set(self._overrides)):
            if before_over.get(key) != self._overrides.get(key):
                self.remote_changes += 1
                self._touched(key[0])

    async def _load(self) -> None:
        manual_rows, override_rows = await self.backend.load()
        manual: dict[str, ManualRedirect] = {}
        set_by: dict[str, str] = {}
        for uid, reason, until, text, set_at, returns, by in manual_rows:
            ends, said = _dt(until), _dt(returns)
            manual[uid] = ManualRedirect(
                uid,
                AbsenceReason(reason),
                ends,
                text,
                _dt(set_at),
                said,
                # stored without a spoken return time: set "tills vidare" (ALV-02)
                open_ended=ends is not None and said is None,
            )
            set_by[uid] = by
        self._manual, self._set_by = manual, set_by
        self._overrides = {(uid, name): bool(value) for uid, name, value in override_rows}

    # -- manual redirects (HV-03)

    def manual(self) -> Mapping[str, ManualRedirect]:
        """Every stored manual redirect (expired ones are ignored by PresenceBook.redirect_at)."""
        return dict(self._manual)

    def manual_for(self, user_id: str, now: datetime) -> ManualRedirect | None:
        """The user's manual redirect if it is still in force at `now`."""
        m = self._manual.get(user_id)
        if m is None or (m.until is not None and now >= m.until):
            return None
        return m

    def set_by(self, user_id: str) -> str | None:
        """Who set the user's manual redirect."""
        return self._set_by.get(user_id)

    def on_change(self, listener: Callable[[ManualChange], None]) -> None:
        """Call `listener` after every set or clear (e.g. to mirror it into the PBX)."""
        self._listeners.append(listener)

    def watch(self, watcher: Callable[[str], None]) -> None:
        """Call `watcher(user_id)` after any change here or on another node ("" = everyone)."""
        self._watchers.append(watcher)

    def _touched(self, user_id: str) -> None:
        if user_id:
            self.hub.publish(user_id)
        for watcher in list(self._watchers):
            watcher(user_id)

    def _publish(self, change: ManualChange) -> None:
        self._touched(change.user_id)
        for listener in list(self._listeners):
            listener(change)

    async def set_manual(self, redirect: ManualRedirect, by: str, now: datetime) -> ManualChange:
        """Store (replace) a user's manual redirect; expired rows are purged on the way."""
        params: ManualParams = (
            redirect.user_id,
            redirect.reason.value,
            _t(redirect.until),
            redirect.text,
            _t(redirect.set_at or now),
            _t(redirect.returns),
            by,
        )
        async with self._lock:
            before = self.manual_for(redirect.user_id, now)
            notice = self._notice("manual", redirect.user_id)
            await self.backend.put_manual(params, _t(now), notice)
            await self._load()
        change = ManualChange(redirect.user_id, before, self._manual.get(redirect.user_id), by, now)
        self._publish(change)
        return change

    async def clear_manual(self, user_id: str, by: str, now: datetime) -> ManualChange:
        """Remove a user's manual redirect (nothing happens when there is none)."""
        async with self._lock:
            before = self.manual_for(user_id, now)
            await self.backend.delete_manual(user_id, self._notice("manual", user_id))
            await self._load()
        change = ManualChange(user_id, before, None, by, now)
        self._publish(change)
        return change

    # -- sign-in state shared by every node: logged-out sessions, failed logins

    async def revoke_session(self, sid: str, expires: datetime, now: datetime) -> None:
        """Log a session out everywhere until it expires; expired revocations are purged."""
        async with self._lock:
            await self.backend.revoke(sid, db_instant(expires), db_instant(now))
        self._remember_revoked(sid, expires, now)

    async def session_revoked(self, sid: str, expires: datetime, now: datetime) -> bool:
        """Whether the session was logged out on any node (the database decides)."""
        if sid in self._revoked:
            return True
        revoked = await self.backend.is_revoked(sid)
        if revoked:
            self._remember_revoked(sid, expires, now)
        return revoked

    def _remember_revoked(self, sid: str, expires: datetime, now: datetime) -> None:
        """Cache a revocation (safe: one is never undone); expired entries are dropped."""
        self._revoked = {s: e for s, e in self._revoked.items() if e > now}
        if expires > now:
            self._revoked[sid] = expires

    async def login_failures(self, subject: str, since: datetime) -> tuple[int, datetime | None]:
        """Failed logins of a subject after `since` on every node, and the oldest one."""
        count, oldest = await self.backend.recent_failures(subject, db_instant(since))
        return count, _dt(oldest)

    async def add_login_failure(
        self, subjects: Sequence[str], now: datetime, forget_before: datetime
    ) -> None:
        """Count one failed login against each subject; drop failures before `forget_before`."""
        async with self._lock:
            await self.backend.add_failures(
                list(subjects), db_instant(now), db_instant(forget_before)
            )

    async def clear_login_failures(self, subject: str) -> None:
        """A good login: forget this subject's failures."""
        async with self._lock:
            await self.backend.clear_failures(subject)

    async def claim_login_attempt(
        self, limits: Mapping[str, int], now: datetime, since: datetime
    ) -> dict[str, datetime | None]:
        """On every node at once: the subjects at their limit of failures after `since` (with
        the oldest failure of each); when none is, the attempt counts as a failure of each."""
        full = await self.backend.claim_attempt(dict(limits), db_instant(now), db_instant(since))
        return {subject: _dt(oldest) for subject, oldest in full.items()}

    async def release_login_attempt(
        self, clear: str, take_back: Sequence[str], at: datetime
    ) -> None:
        """A good login: forget `clear`'s failures; take back the attempt at `at` of the others."""
        await self.backend.release_attempt(clear, list(take_back), db_instant(at))

    # -- admin overrides (ALV-05, ALV-10, ALV-12, ALV-19)

    def overrides(self) -> Mapping[tuple[str, str], bool]:
        """(user id or '' for the organisation, switch name) -> value."""
        return dict(self._overrides)

    async def set_override(
        self, user_id: str, name: str, value: bool, by: str, now: datetime
    ) -> None:
        """Persist one switch; user_id '' is organisation-wide (the ALV-12 voicemail switch)."""
        async with self._lock:
            notice = self._notice("override", user_id)
            await self.backend.put_override(user_id, name, value, by, _t(now), notice)
            self._overrides[(user_id, name)] = value
        self._touched(user_id)

    def switches(self) -> Switches:
        """The administrators' switches as the effective state takes them."""
        return Switches(dict(self._overrides))

    def apply(self, org: Organisation) -> Organisation:
        """The organisation with the admin switches applied to its users and policy."""
        return self.switches().apply(org)
