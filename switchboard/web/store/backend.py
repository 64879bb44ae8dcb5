"""What the web store asks of an engine (`WebBackend`), and the methods both engines share.

`SharedWebBackend` runs the statements of `switchboard.web.store.schema` over the
engine-neutral `storage.db.Db`; each engine's module adds its plumbing (open, close,
migrations, LISTEN): `sqlite_backend.SqliteWebBackend`, `pg_backend.PgWebBackend`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from storage.db import Db
from switchboard.web.store.schema import (
    CLEAR_FAILURES_SQL,
    COUNT_FAILURES_AT_SQL,
    COUNT_SWITCH_CHANGES_SQL,
    DELETE_FAILURES_AT_SQL,
    DELETE_MANUAL_SQL,
    DELETE_OVERRIDE_SQL,
    INSERT_FAILURE_SQL,
    INSERT_MANUAL_SQL,
    INSERT_OVERRIDE_SQL,
    INSERT_REVOKED_SQL,
    INSERT_SWITCH_CHANGE_SQL,
    IS_REVOKED_SQL,
    LOAD_MANUAL_SQL,
    LOAD_OVERRIDES_SQL,
    PAGE_SWITCH_CHANGES_SQL,
    PURGE_FAILURES_SQL,
    PURGE_MANUAL_SQL,
    PURGE_REVOKED_SQL,
    RECENT_FAILURES_SQL,
    SIGN_IN_LOCK,
    targets_filter,
)

Rows = list[Sequence[Any]]
ManualParams = tuple[str, str, str | None, str | None, str | None, str | None, str]
# one switch set: (target, name, before or None, after)
SwitchRow = tuple[str, str, bool | None, bool]


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

    async def put_switches(
        self, rows: Sequence[SwitchRow], by: str, at: str, scope: str, batch: str, notice: str
    ) -> None:
        """Replace switches and audit those whose value changed, in one transaction."""

    async def switch_changes(
        self, limit: int, offset: int, targets: Sequence[str] | None = None
    ) -> tuple[int, Rows]:
        """How many audited switch changes (of `targets` only, when given), and one page of
        them, newest first."""

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

    async def put_switches(
        self, rows: Sequence[SwitchRow], by: str, at: str, scope: str, batch: str, notice: str
    ) -> None:
        """Replace switches and audit those whose value changed (before -> after), in one
        transaction: the audit never misses a change that took effect, nor keeps one that
        did not."""
        async with self.sql.transaction() as tx:
            seq = 0
            for target, name, before, after in rows:
                await tx.execute(DELETE_OVERRIDE_SQL, (target, name))
                await tx.execute(INSERT_OVERRIDE_SQL, (target, name, int(after), by, at))
                if before is not after:
                    old = None if before is None else int(before)
                    params = (batch, seq, at, by, scope, target, name, old, int(after))
                    await tx.execute(INSERT_SWITCH_CHANGE_SQL, params)
                    seq += 1
            await self._notify(tx, notice)

    async def switch_changes(
        self, limit: int, offset: int, targets: Sequence[str] | None = None
    ) -> tuple[int, Rows]:
        """How many audited switch changes (of `targets` only, when given), and one page of
        them, newest first."""
        where = targets_filter(targets)
        ids = list(targets or ())
        async with self.sql.transaction() as tx:
            row = await tx.fetchone(COUNT_SWITCH_CHANGES_SQL.format(where=where), ids)
            page_sql = PAGE_SWITCH_CHANGES_SQL.format(where=where)
            rows: Rows = await tx.fetch(page_sql, (*ids, limit, offset))
        return (int(row[0]) if row is not None else 0), rows

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
