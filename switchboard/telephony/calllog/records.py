"""Service records kept beside the call log (schema 2 of `calllog`), on either engine.

- `directory_history` (HAL-13): every directory change found when the configuration is loaded,
  against `directory_snapshot`, the directory as it was last seen;
- `notifications` (HAL-12): notices to the contact centre and the mobile officer (an outbox the
  contact-centre page shows; e-mail, where configured, is sent from it);
- `assisted_calls` (ALV-26): international calls the contact centre placed for a user.

`CallRow` is the light row the live reports read (HAL-03/05, ALV-25, HAL-14): only the columns
they need, for calls started in [since, until), found through the `calls_started` index.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from storage.db import Db

MIGRATION_2: tuple[str, ...] = (
    "CREATE TABLE directory_history ("
    " id INTEGER PRIMARY KEY,"
    " changed_at VARCHAR(32) NOT NULL,"
    " kind VARCHAR(32) NOT NULL,"
    " entry_id VARCHAR(100) NOT NULL,"
    " detail TEXT NOT NULL)",
    "CREATE INDEX directory_history_at ON directory_history (changed_at)",
    "CREATE TABLE directory_snapshot ("
    " id INTEGER PRIMARY KEY,"
    " taken_at VARCHAR(32) NOT NULL,"
    " snapshot TEXT NOT NULL)",
    "CREATE TABLE notifications ("
    " id INTEGER PRIMARY KEY,"
    " created_at VARCHAR(32) NOT NULL,"
    " recipient VARCHAR(100) NOT NULL,"
    " kind VARCHAR(32) NOT NULL,"
    " subject TEXT NOT NULL,"
    " body TEXT NOT NULL)",
    "CREATE TABLE assisted_calls ("
    " id INTEGER PRIMARY KEY,"
    " call_id VARCHAR(64) NOT NULL,"
    " user_id VARCHAR(100) NOT NULL,"
    " destination VARCHAR(64) NOT NULL,"
    " placed_by VARCHAR(100) NOT NULL,"
    " requested_at VARCHAR(32) NOT NULL,"
    " status VARCHAR(32) NOT NULL)",
)
CALL_ROWS_SQL = (
    "SELECT started_at, caller, called, dialled, outcome, action FROM calls"
    " WHERE started_at >= ? AND started_at < ? ORDER BY started_at"
)


def _t(dt: datetime) -> str:
    if dt.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return dt.astimezone(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class CallRow:
    """What a report needs of one logged call."""

    start: datetime
    caller: str | None
    called: str | None
    dialled: tuple[str, ...]
    outcome: str
    action: str | None


@dataclass(frozen=True, slots=True)
class DirectoryChange:
    """HAL-13: one change of the directory (`kind`: added, removed, number_changed, handover)."""

    changed_at: datetime
    kind: str
    entry_id: str
    detail: dict[str, Any]

    def as_json(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "changed_at": _t(self.changed_at),
            "kind": self.kind,
            "entry_id": self.entry_id,
            **self.detail,
        }


@dataclass(frozen=True, slots=True)
class Notice:
    """HAL-12: a notice to the contact centre (`recipient` "contact_centre") or a user."""

    id: int
    created_at: datetime
    recipient: str
    kind: str
    subject: str
    body: str

    def as_json(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "id": self.id,
            "created_at": _t(self.created_at),
            "recipient": self.recipient,
            "kind": self.kind,
            "subject": self.subject,
            "body": self.body,
        }


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


class RecordSource(Protocol):
    """What the web reads and writes of the service records beside the call log (issue 19);
    `ServiceRecords` is it on either engine."""

    async def call_rows(self, since: datetime, until: datetime) -> list[CallRow]:
        """Light rows of the calls started in [since, until) (HAL-03/05, ALV-25, HAL-14)."""
        ...

    async def directory_snapshot(self) -> str | None:
        """The directory as last seen (HAL-13)."""
        ...

    async def save_directory(
        self, snapshot: str, changes: Sequence[DirectoryChange], now: datetime
    ) -> None:
        """Store directory changes and the new snapshot (HAL-13)."""
        ...

    async def directory_history(self, limit: int = 1000) -> list[DirectoryChange]:
        """Directory changes, newest first (HAL-13)."""
        ...

    async def add_notice(
        self, recipient: str, kind: str, subject: str, body: str, now: datetime
    ) -> Notice:
        """A notice in the outbox (HAL-12)."""
        ...

    async def notices(self, recipients: Sequence[str], limit: int = 500) -> list[Notice]:
        """Notices to these recipients, newest first (HAL-12)."""
        ...

    async def add_assisted(
        self,
        call_id: str,
        user_id: str,
        destination: str,
        placed_by: str,
        status: str,
        now: datetime,
    ) -> int:
        """An assisted international call (ALV-26)."""
        ...

    async def assisted(self, limit: int = 500) -> list[dict[str, object]]:
        """Assisted calls, newest first (ALV-26)."""
        ...


class ServiceRecords:
    """The records' methods over `sql`; rows are numbered under `incident_lock` on PostgreSQL."""

    incident_lock: str | None = None

    @property
    def sql(self) -> Db:
        """The open database."""
        raise NotImplementedError

    async def _insert(self, table: str, columns: Sequence[str], values: Sequence[object]) -> int:
        async with self.sql.transaction(self.incident_lock) as tx:
            row = await tx.fetchone(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
            next_id = int(row[0]) if row else 1
            marks = ", ".join("?" * (len(columns) + 1))
            await tx.execute(
                f"INSERT INTO {table} (id, {', '.join(columns)}) VALUES ({marks})",
                (next_id, *values),
            )
        return next_id

    async def call_rows(self, since: datetime, until: datetime) -> list[CallRow]:
        """Calls started in [since, until), oldest first (an index range, never the table)."""
        rows = await self.sql.fetch(CALL_ROWS_SQL, (_t(since), _t(until)))
        return [
            CallRow(_dt(r[0]), r[1], r[2], tuple(json.loads(r[3] or "[]")), r[4], r[5])
            for r in rows
            if r[0]
        ]

    # -- HAL-13 directory history

    async def directory_snapshot(self) -> str | None:
        """The directory as last seen (JSON text), or None the first time."""
        row = await self.sql.fetchone("SELECT snapshot FROM directory_snapshot WHERE id = 1")
        return str(row[0]) if row is not None else None

    async def save_directory(
        self, snapshot: str, changes: Sequence[DirectoryChange], now: datetime
    ) -> None:
        """Store the changes and the new snapshot in one transaction."""
        async with self.sql.transaction(self.incident_lock) as tx:
            row = await tx.fetchone("SELECT COALESCE(MAX(id), 0) FROM directory_history")
            last = int(row[0]) if row else 0
            for i, c in enumerate(changes, start=last + 1):
                await tx.execute(
                    "INSERT INTO directory_history (id, changed_at, kind, entry_id, detail)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        i,
                        _t(c.changed_at),
                        c.kind,
                        c.entry_id,
                        json.dumps(c.detail, ensure_ascii=False),
                    ),
                )
            await tx.execute("DELETE FROM directory_snapshot WHERE id = 1")
            await tx.execute(
                "INSERT INTO directory_snapshot (id, taken_at, snapshot) VALUES (1, ?, ?)",
                (_t(now), snapshot),
            )

    async def directory_history(self, limit: int = 1000) -> list[DirectoryChange]:
        """The newest changes first."""
        rows = await self.sql.fetch(
            "SELECT changed_at, kind, entry_id, detail FROM directory_history"
            " ORDER BY id DESC LIMIT ?",
            (max(0, int(limit)),),
        )
        return [DirectoryChange(_dt(r[0]), r[1], r[2], json.loads(r[3])) for r in rows]

    # -- HAL-12 notices

    async def add_notice(
        self, recipient: str, kind: str, subject: str, body: str, now: datetime
    ) -> Notice:
        """Put a notice in the outbox."""
        nid = await self._insert(
            "notifications",
            ("created_at", "recipient", "kind", "subject", "body"),
            (_t(now), recipient, kind, subject, body),
        )
        return Notice(nid, now, recipient, kind, subject, body)

    async def notices(self, recipients: Sequence[str], limit: int = 500) -> list[Notice]:
        """Notices to any of `recipients`, newest first."""
        if not recipients:
            return []
        marks = ", ".join("?" * len(recipients))
        rows = await self.sql.fetch(
            "SELECT id, created_at, recipient, kind, subject, body FROM notifications"
            f" WHERE recipient IN ({marks}) ORDER BY id DESC LIMIT ?",
            (*recipients, max(0, int(limit))),
        )
        return [Notice(r[0], _dt(r[1]), r[2], r[3], r[4], r[5]) for r in rows]

    # -- ALV-26 assisted international calls

    async def add_assisted(
        self,
        call_id: str,
        user_id: str,
        destination: str,
        placed_by: str,
        status: str,
        now: datetime,
    ) -> int:
        """Record that the contact centre placed (or asked for) a call for a user."""
        return await self._insert(
            "assisted_calls",
            ("call_id", "user_id", "destination", "placed_by", "requested_at", "status"),
            (call_id, user_id, destination, placed_by, _t(now), status),
        )

    async def assisted(self, limit: int = 500) -> list[dict[str, object]]:
        """Assisted calls, newest first."""
        rows = await self.sql.fetch(
            "SELECT id, call_id, user_id, destination, placed_by, requested_at, status"
            " FROM assisted_calls ORDER BY id DESC LIMIT ?",
            (max(0, int(limit)),),
        )
        keys = ("id", "call_id", "user_id", "destination", "placed_by", "requested_at", "status")
        return [dict(zip(keys, r, strict=True)) for r in rows]
