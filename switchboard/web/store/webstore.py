"""`WebStore`: manual redirects (HV-03), admin overrides and sign-in state over a `WebBackend`.

It keeps an in-memory mirror loaded at open, so routing never waits on the database, and fans
every change out to subscribers (board, telephone mirror). The rows live in
`SqliteWebBackend` (`<data_dir>/web/web.sqlite3`, the default) or `PgWebBackend` beside the
register, where every write NOTIFYs the other nodes, which reload and publish the change: a
redirect set on one node reaches every node's routing, board and (on the leader) the
telephone platform. `WebStore.for_storage` chooses the engine.

Sign-in state (logged-out sessions, failed logins) is read from the database on every check,
never from a per-node copy. A login attempt is decided and counted as a failure in one
transaction (under an advisory lock on PostgreSQL), before its password is checked; a good
login takes its row back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from routing.absence import AbsenceReason, ManualRedirect
from routing.effective import Switches
from routing.models import Organisation
from switchboard.config.storage_settings import StorageSettings
from switchboard.web.store.backend import ManualParams, SwitchRow, WebBackend
from switchboard.web.store.hub import ChangeHub, ManualChange, SwitchChange
from switchboard.web.store.schema import DB_NAME
from switchboard.web.store.sqlite_backend import SqliteWebBackend

log = logging.getLogger("switchboard.web")


def _t(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat() if dt is not None else None


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def db_instant(dt: datetime) -> str:
    """A sign-in time as stored: fixed-width UTC ISO 8601 (text order is time order)."""
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


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
            from switchboard.web.store.pg_backend import PgWebBackend  # asyncpg only here

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
        """Persist one switch; user_id '' is organisation-wide (the ALV-12 voicemail switch).
        Audited with the stored value before (None when only the directory's applied)."""
        before = self._overrides.get((user_id, name))
        scope = "org" if not user_id else "user"
        await self.set_switches([(user_id, name, before, value)], by, now, scope)

    async def set_switches(
        self, rows: Sequence[SwitchRow], by: str, now: datetime, scope: str
    ) -> None:
        """Persist switches `(target, name, before, after)` in one transaction, auditing each
        whose value changed (issue 20); `scope` is "org", "user" or "bulk"."""
        if not rows:
            return
        targets = sorted({r[0] for r in rows})
        batch = f"{db_instant(now)}-{secrets.token_hex(4)}"
        async with self._lock:
            notice = self._notice("override", targets[0] if len(targets) == 1 else "")
            await self.backend.put_switches(list(rows), by, db_instant(now), scope, batch, notice)
            for target, name, _, after in rows:
                self._overrides[(target, name)] = after
        for target in targets:
            self._touched(target)

    async def switch_changes(
        self, limit: int, offset: int, targets: Sequence[str] | None = None
    ) -> tuple[int, list[SwitchChange]]:
        """How many switch changes the audit holds (of `targets` only, when given: user or
        shared-phone ids, "" the organisation), and `limit` of them from `offset`, newest
        first."""
        total, rows = await self.backend.switch_changes(limit, offset, targets)
        changes = [
            SwitchChange(
                datetime.fromisoformat(at),
                by,
                scope,
                target,
                name,
                None if before is None else bool(before),
                bool(after),
            )
            for at, by, scope, target, name, before, after in rows
        ]
        return total, changes

    def switches(self) -> Switches:
        """The administrators' switches as the effective state takes them."""
        return Switches(dict(self._overrides))

    def apply(self, org: Organisation) -> Organisation:
        """The organisation with the admin switches applied to its users and policy."""
        return self.switches().apply(org)
