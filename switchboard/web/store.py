"""The web layer's own state in SQLite: manual redirects (HV-03) and admin overrides.

Threat incidents (ALV-20) live with the call log (`switchboard.telephony.calllog`); schema 2
stops using this database's old `incidents` table and leaves it, and its rows, untouched.

Portable SQL (TEXT times in UTC ISO 8601, no SQLite-only types) so PostgreSQL can follow. Reads
come from an in-memory mirror loaded at open, so routing never waits on the database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite

from routing.models import AbsenceReason, ManualRedirect, Organisation, User
from switchboard.web.errors import Unavailable

log = logging.getLogger("switchboard.web")

DB_NAME = "web.sqlite3"
SCHEMA_VERSION = 2  # 1 had incidents here; 2 leaves that table unused (they live in the call log)
USER_SWITCHES = ("voicemail", "mobile_follows_calendar", "international_unlocked")
GLOBAL_VOICEMAIL = "voicemail_extension_users"

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS manual_redirects (
        user_id TEXT PRIMARY KEY, reason TEXT NOT NULL, until_at TEXT, text TEXT,
        set_at TEXT NOT NULL, returns_at TEXT, set_by TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS overrides (
        user_id TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,
        set_by TEXT NOT NULL, set_at TEXT NOT NULL, PRIMARY KEY (user_id, name))""",
    """CREATE TABLE IF NOT EXISTS web_schema (version INTEGER NOT NULL)""",
)


def _t(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat() if dt is not None else None


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True, slots=True)
class ManualChange:
    """A manual redirect set or cleared: published to subscribers (board, telephone mirror)."""

    user_id: str
    before: ManualRedirect | None
    after: ManualRedirect | None
    by: str
    at: datetime


class ChangeHub:
    """In-process fan-out of 'user X may have changed' notices (server-sent events)."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[str | None]] = set()

    def publish(self, user_id: str) -> None:
        """Tell every subscriber that this user's state may have changed."""
        for q in self._queues:
            q.put_nowait(user_id)

    def subscribe(self) -> asyncio.Queue[str | None]:
        """A queue receiving user ids; None means 'stop' (shutdown)."""
        q: asyncio.Queue[str | None] = asyncio.Queue()
        self._queues.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[str | None]) -> None:
        """Stop delivering to this queue."""
        self._queues.discard(q)

    def close_all(self) -> None:
        """Wake every subscriber with the stop marker."""
        for q in self._queues:
            q.put_nowait(None)

    @property
    def subscribers(self) -> int:
        """How many subscribers are listening."""
        return len(self._queues)


class WebStore:
    """Manual redirects and admin overrides in `<data_dir>/web/web.sqlite3`."""

    def __init__(self, path: str | Path, hub: ChangeHub | None = None) -> None:
        self.path = Path(path)
        self.hub = hub or ChangeHub()
        self._db: aiosqlite.Connection | None = None
        self._manual: dict[str, ManualRedirect] = {}
        self._set_by: dict[str, str] = {}
        self._overrides: dict[tuple[str, str], bool] = {}
        self._listeners: list[Callable[[ManualChange], None]] = []
        self._lock = asyncio.Lock()

    @classmethod
    def in_data_dir(cls, data_dir: str | Path, hub: ChangeHub | None = None) -> WebStore:
        """The store at its usual place in an organisation's data directory."""
        return cls(Path(data_dir) / "web" / DB_NAME, hub)

    @property
    def db(self) -> aiosqlite.Connection:
        """The open connection; Unavailable before `open()`."""
        if self._db is None:
            raise Unavailable("the web store is not open")
        return self._db

    async def open(self) -> None:
        """Create or open the database and load the mirror."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path)
        await self._db.execute("PRAGMA journal_mode=WAL")
        try:
            await self._migrate()
        except BaseException:
            await self.close()
            raise
        await self._load()

    async def _migrate(self) -> None:
        db = self.db
        for statement in _SCHEMA:
            await db.execute(statement)
        async with db.execute("SELECT MAX(version) FROM web_schema") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row is not None and row[0] is not None else 0
        if version > SCHEMA_VERSION:
            await db.rollback()
            raise Unavailable(f"{self.path}: schema {version} is newer than {SCHEMA_VERSION}")
        if version == 1:
            await self._retire_incidents()
        if version == 0:
            await db.execute("INSERT INTO web_schema (version) VALUES (?)", (SCHEMA_VERSION,))
        elif version < SCHEMA_VERSION:
            await db.execute("UPDATE web_schema SET version = ?", (SCHEMA_VERSION,))
        await db.commit()

    async def _retire_incidents(self) -> None:
        """Schema 1 -> 2: the old incidents table stays as it was, unused; say if it holds rows."""
        async with self.db.execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'incidents'"
        ) as cur:
            row = await cur.fetchone()
        if row is None or not row[0]:
            return
        async with self.db.execute("SELECT COUNT(*) FROM incidents") as cur:
            row = await cur.fetchone()
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
            await self._db.close()
            self._db = None

    async def __aenter__(self) -> WebStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _load(self) -> None:
        self._manual.clear()
        self._set_by.clear()
        sql = (
            "SELECT user_id, reason, until_at, text, set_at, returns_at, set_by"
            " FROM manual_redirects"
        )
        async with self.db.execute(sql) as cur:
            for uid, reason, until, text, set_at, returns, set_by in await cur.fetchall():
                self._manual[uid] = ManualRedirect(
                    uid, AbsenceReason(reason), _dt(until), text, _dt(set_at), _dt(returns)
                )
                self._set_by[uid] = set_by
        self._overrides.clear()
        async with self.db.execute("SELECT user_id, name, value FROM overrides") as cur:
            for uid, name, value in await cur.fetchall():
                self._overrides[(uid, name)] = bool(value)

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

    async def changes(self) -> AsyncIterator[ManualChange]:
        """Every change from now on, as an async iterator (for the telephone mirror's pump)."""
        q: asyncio.Queue[ManualChange] = asyncio.Queue()
        self._listeners.append(q.put_nowait)
        try:
            while True:
                yield await q.get()
        finally:
            self._listeners.remove(q.put_nowait)

    def _publish(self, change: ManualChange) -> None:
        self.hub.publish(change.user_id)
        for listener in list(self._listeners):
            listener(change)

    async def set_manual(self, redirect: ManualRedirect, by: str, now: datetime) -> ManualChange:
        """Store (replace) a user's manual redirect; expired rows are purged on the way."""
        async with self._lock:
            await self.db.execute(
                "DELETE FROM manual_redirects WHERE until_at IS NOT NULL AND until_at <= ?",
                (_t(now),),
            )
            await self.db.execute(
                "DELETE FROM manual_redirects WHERE user_id = ?", (redirect.user_id,)
            )
            await self.db.execute(
                "INSERT INTO manual_redirects (user_id, reason, until_at, text, set_at, returns_at,"
                " set_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    redirect.user_id,
                    redirect.reason.value,
                    _t(redirect.until),
                    redirect.text,
                    _t(redirect.set_at or now),
                    _t(redirect.returns),
                    by,
                ),
            )
            await self.db.commit()
            before = self.manual_for(redirect.user_id, now)
            await self._load()
        change = ManualChange(redirect.user_id, before, self._manual.get(redirect.user_id), by, now)
        self._publish(change)
        return change

    async def clear_manual(self, user_id: str, by: str, now: datetime) -> ManualChange:
        """Remove a user's manual redirect (nothing happens when there is none)."""
        async with self._lock:
            before = self.manual_for(user_id, now)
            await self.db.execute("DELETE FROM manual_redirects WHERE user_id = ?", (user_id,))
            await self.db.commit()
            await self._load()
        change = ManualChange(user_id, before, None, by, now)
        self._publish(change)
        return change

    # -- admin overrides (ALV-05, ALV-10, ALV-12, ALV-19)

    def overrides(self) -> Mapping[tuple[str, str], bool]:
        """(user id or '' for the organisation, switch name) -> value."""
        return dict(self._overrides)

    async def set_override(
        self, user_id: str, name: str, value: bool, by: str, now: datetime
    ) -> None:
        """Persist one switch; user_id '' is organisation-wide (the ALV-12 voicemail switch)."""
        async with self._lock:
            await self.db.execute(
                "DELETE FROM overrides WHERE user_id = ? AND name = ?", (user_id, name)
            )
            await self.db.execute(
                "INSERT INTO overrides (user_id, name, value, set_by, set_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (user_id, name, int(value), by, _t(now)),
            )
            await self.db.commit()
            self._overrides[(user_id, name)] = value
        if user_id:
            self.hub.publish(user_id)

    def apply(self, org: Organisation) -> Organisation:
        """The organisation with the admin switches applied to its users and policy."""
        if not self._overrides:
            return org
        users: list[User] = []
        for u in org.directory.users:
            changes = {
                name: self._overrides[(u.id, name)]
                for name in USER_SWITCHES
                if (u.id, name) in self._overrides
            }
            users.append(dataclasses.replace(u, **changes) if changes else u)  # type: ignore[arg-type]
        d = org.directory
        directory = type(d).build(tuple(users), d.groups, d.shared_phones, d.switchboard, d.plan)
        policy = org.policy
        if ("", GLOBAL_VOICEMAIL) in self._overrides:
            policy = dataclasses.replace(
                policy, voicemail_extension_users=self._overrides[("", GLOBAL_VOICEMAIL)]
            )
        return dataclasses.replace(org, directory=directory, policy=policy)
