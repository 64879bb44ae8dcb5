"""The register's storage: a small interface and its SQLite implementation (aiosqlite, WAL).

The SQL is kept portable (no SQLite-only functions; `ON CONFLICT`, `RETURNING`) so that a
PostgreSQL store through asyncpg can implement the same `RegisterStore` protocol later.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from voicemail.audit import GENESIS, canonical, event_hash
from voicemail.errors import StorageError
from voicemail.models import (
    AuditEvent,
    Classification,
    NewRecord,
    PublicRecord,
    RecordStatus,
)

SYSTEM_ACTOR = "system:intake"


def to_db_time(dt: datetime) -> str:
    """An aware datetime as fixed-width UTC text, so text order is time order."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime given to the register")
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def from_db_time(text: str | None) -> datetime | None:
    """Inverse of `to_db_time`."""
    return datetime.fromisoformat(text) if text else None


def _must_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Which records `RegisterStore.records` returns (all conditions must hold)."""

    owner_id: str | None = None
    status: RecordStatus | None = None
    classification: Classification | None = None
    classified_before: datetime | None = None
    include_hidden: bool = True
    unheard_only: bool = False
    year: int | None = None
    limit: int | None = None
    oldest_first: bool = True


class RegisterStore(Protocol):
    """Storage of records, registration-number series and the audit chain."""

    async def open(self) -> None:
        """Connect and bring the schema up to date."""

    async def close(self) -> None:
        """Close the connection."""

    async def known_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of these intake keys (msg_id or audio hash) are already registered."""

    async def known_txt_hashes(self, hashes: Sequence[str]) -> set[str]:
        """Which of these `msgNNNN.txt` SHA-256 values belong to registered records."""

    async def add_records(
        self, items: Sequence[tuple[NewRecord, int]], prefix: str, actor: str, now: datetime
    ) -> list[PublicRecord]:
        """Insert new records with gapless numbers (prefix, year) and audit events, atomically."""

    async def get(self, record_id: int) -> PublicRecord | None:
        """One record by its internal id."""

    async def get_by_number(self, registration_number: str) -> PublicRecord | None:
        """One record by its registration number."""

    async def records(self, where: RecordFilter) -> list[PublicRecord]:
        """Records matching the filter, ordered by arrival."""

    async def count(self, status: RecordStatus | None = None) -> int:
        """How many records (with this status)."""

    async def update_record(
        self,
        record_id: int,
        changes: Mapping[str, object],
        actor: str,
        action: str,
        now: datetime,
        note: Mapping[str, object] | None = None,
    ) -> PublicRecord:
        """Change fields of one record and append the audit event with before/after, atomically."""

    async def append_event(
        self,
        actor: str,
        action: str,
        record_id: int | None,
        before: Mapping[str, object] | None,
        after: Mapping[str, object] | None,
        now: datetime,
    ) -> AuditEvent:
        """Append one audit event (e.g. a playback) to the chain."""

    async def events(self, record_id: int | None = None) -> list[AuditEvent]:
        """The audit trail in order (all of it, or one record's events)."""

    async def audit_head(self) -> str:
        """The hash of the last event, as stored beside the trail."""


# Columns a record update may touch; everything else is fixed at intake (REC-03).
MUTABLE_FIELDS = frozenset(
    {
        "status",
        "classification",
        "case_reference",
        "summary",
        "classified_at",
        "classified_by",
        "hidden_from_owner",
        "first_heard_at",
        "disposed_at",
        "disposal_rule",
    }
)
_TIME_FIELDS = frozenset({"classified_at", "first_heard_at", "disposed_at"})

_RECORD_COLUMNS = (
    "id, registration_number, intake_key, msg_id, arrived_at, registered_at, context, mailbox,"
    " owner_id, caller_raw, caller_number, caller_name, duration_s, sha256, audio_bytes,"
    " audio_format, status, classification, case_reference, summary, classified_at,"
    " classified_by, hidden_from_owner, first_heard_at, disposed_at, disposal_rule"
)

MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE records (
                id INTEGER PRIMARY KEY,
                registration_number TEXT NOT NULL UNIQUE,
                reg_prefix TEXT NOT NULL,
                reg_year INTEGER NOT NULL,
                reg_seq INTEGER NOT NULL,
                intake_key TEXT NOT NULL UNIQUE,
                msg_id TEXT,
                txt_sha256 TEXT NOT NULL,
                arrived_at TEXT NOT NULL,
                registered_at TEXT NOT NULL,
                context TEXT NOT NULL,
                mailbox TEXT NOT NULL,
                owner_id TEXT,
                caller_raw TEXT NOT NULL,
                caller_number TEXT,
                caller_name TEXT,
                duration_s INTEGER,
                sha256 TEXT NOT NULL,
                audio_bytes INTEGER NOT NULL,
                audio_format TEXT NOT NULL,
                spool_fields TEXT NOT NULL,
                status TEXT NOT NULL,
                classification TEXT,
                case_reference TEXT,
                summary TEXT,
                classified_at TEXT,
                classified_by TEXT,
                hidden_from_owner INTEGER NOT NULL DEFAULT 0,
                first_heard_at TEXT,
                disposed_at TEXT,
                disposal_rule TEXT,
                UNIQUE (reg_prefix, reg_year, reg_seq)
            )""",
            "CREATE INDEX records_queue ON records (status, arrived_at)",
            "CREATE INDEX records_owner ON records (owner_id, arrived_at)",
            "CREATE INDEX records_txt ON records (txt_sha256)",
            """CREATE TABLE registration_series (
                prefix TEXT NOT NULL,
                year INTEGER NOT NULL,
                last_seq INTEGER NOT NULL,
                PRIMARY KEY (prefix, year)
            )""",
            """CREATE TABLE audit_events (
                seq INTEGER PRIMARY KEY,
                at TEXT NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                record_id INTEGER,
                before_json TEXT,
                after_json TEXT,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL
            )""",
            "CREATE INDEX audit_record ON audit_events (record_id, seq)",
            """CREATE TABLE register_meta (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL
            )""",
        ),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


def _row_to_record(row: Sequence[Any]) -> PublicRecord:
    cls = row[17]
    return PublicRecord(
        id=int(row[0]),
        registration_number=row[1],
        intake_key=row[2],
        msg_id=row[3],
        arrived_at=_must_time(row[4]),
        registered_at=_must_time(row[5]),
        context=row[6],
        mailbox=row[7],
        owner_id=row[8],
        caller_raw=row[9],
        caller_number=row[10],
        caller_name=row[11],
        duration_s=row[12],
        sha256=row[13],
        audio_bytes=int(row[14]),
        audio_format=row[15],
        status=RecordStatus(row[16]),
        classification=Classification(cls) if cls else None,
        case_reference=row[18],
        summary=row[19],
        classified_at=from_db_time(row[20]),
        classified_by=row[21],
        hidden_from_owner=bool(row[22]),
        first_heard_at=from_db_time(row[23]),
        disposed_at=from_db_time(row[24]),
        disposal_rule=row[25],
    )


def _row_to_event(row: Sequence[Any]) -> AuditEvent:
    return AuditEvent(
        seq=int(row[0]),
        at=_must_time(row[1]),
        actor=row[2],
        action=row[3],
        record_id=row[4],
        before=json.loads(row[5]) if row[5] is not None else None,
        after=json.loads(row[6]) if row[6] is not None else None,
        prev_hash=row[7],
        hash=row[8],
    )


def record_view(record: PublicRecord, fields: Iterable[str]) -> dict[str, object]:
    """Selected fields of a record as JSON-ready values (for audit before/after)."""
    out: dict[str, object] = {}
    for name in fields:
        value = getattr(record, name)
        if isinstance(value, datetime):
            value = to_db_time(value)
        elif isinstance(value, Classification | RecordStatus):
            value = value.value
        out[name] = value
    return out


class SqliteStore:
    """`RegisterStore` on one SQLite file in WAL mode with synchronous=FULL (fsync on commit)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    @property
    def db(self) -> aiosqlite.Connection:
        """The open connection (raises if `open` was not awaited)."""
        if self._db is None:
            raise StorageError("register store is not open")
        return self._db

    async def open(self) -> None:
        """Open the file, set WAL + FULL sync, and run pending migrations."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            await self._db.execute("PRAGMA journal_mode=WAL")
            await self._db.execute("PRAGMA synchronous=FULL")
            await self._db.execute("PRAGMA busy_timeout=10000")
            await self._migrate()
        except aiosqlite.Error as exc:
            await self.close()
            raise StorageError(f"{self.path}: {exc}") from None

    async def close(self) -> None:
        """Close the connection if open."""
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    async def _migrate(self) -> None:
        await self.db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        async with self.db.execute("SELECT MAX(version) FROM schema_migrations") as cur:
            row = await cur.fetchone()
        current = int(row[0]) if row and row[0] is not None else 0
        if current > SCHEMA_VERSION:
            raise StorageError(
                f"{self.path}: schema {current} is newer than this program's {SCHEMA_VERSION}"
            )
        for version, statements in MIGRATIONS:
            if version <= current:
                continue
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                for sql in statements:
                    await self.db.execute(sql)
                await self.db.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (version, to_db_time(datetime.now(UTC))),
                )
                await self.db.execute("COMMIT")
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise

    async def _fetchall(self, sql: str, params: Sequence[object] = ()) -> list[Sequence[Any]]:
        async with self.db.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def _fetchone(self, sql: str, params: Sequence[object] = ()) -> Sequence[Any] | None:
        async with self.db.execute(sql, params) as cur:
            row = await cur.fetchone()
        return row

    async def known_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of these intake keys are already registered."""
        return await self._known("intake_key", keys)

    async def known_txt_hashes(self, hashes: Sequence[str]) -> set[str]:
        """Which of these txt hashes belong to registered records."""
        return await self._known("txt_sha256", hashes)

    async def _known(self, column: str, values: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(values), 500):
            chunk = list(values[i : i + 500])
            marks = ", ".join("?" for _ in chunk)
            rows = await self._fetchall(
                f"SELECT {column} FROM records WHERE {column} IN ({marks})", chunk
            )
            found.update(str(r[0]) for r in rows)
        return found

    async def _append(
        self,
        actor: str,
        action: str,
        record_id: int | None,
        before: Mapping[str, object] | None,
        after: Mapping[str, object] | None,
        now: datetime,
    ) -> AuditEvent:
        """Append inside an open transaction: read the head, link, insert, move the head."""
        row = await self._fetchone("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        seq, prev = (int(row[0]) + 1, str(row[1])) if row else (1, GENESIS)
        at = _must_time(to_db_time(now))
        before_d = dict(before) if before is not None else None
        after_d = dict(after) if after is not None else None
        digest = event_hash(prev, seq, at, actor, action, record_id, before_d, after_d)
        await self.db.execute(
            "INSERT INTO audit_events (seq, at, actor, action, record_id, before_json,"
            " after_json, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                seq,
                to_db_time(at),
                actor,
                action,
                record_id,
                canonical(before_d) if before_d is not None else None,
                canonical(after_d) if after_d is not None else None,
                prev,
                digest,
            ),
        )
        await self.db.execute(
            "INSERT INTO register_meta (key, value) VALUES ('audit_head', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (digest,),
        )
        return AuditEvent(seq, at, actor, action, record_id, before_d, after_d, prev, digest)

    async def add_records(
        self, items: Sequence[tuple[NewRecord, int]], prefix: str, actor: str, now: datetime
    ) -> list[PublicRecord]:
        """Insert new records (skipping keys already present) with numbers and audit events."""
        added: list[PublicRecord] = []
        async with self._lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                for new, year in items:
                    if await self._fetchone(
                        "SELECT 1 FROM records WHERE intake_key = ?", (new.intake_key,)
                    ):
                        continue
                    await self.db.execute(
                        "INSERT INTO registration_series (prefix, year, last_seq) VALUES (?, ?, 0)"
                        " ON CONFLICT (prefix, year) DO NOTHING",
                        (prefix, year),
                    )
                    row = await self._fetchone(
                        "UPDATE registration_series SET last_seq = last_seq + 1"
                        " WHERE prefix = ? AND year = ? RETURNING last_seq",
                        (prefix, year),
                    )
                    assert row is not None
                    seq = int(row[0])
                    number = f"{prefix}-{year}-{seq:06d}"
                    row = await self._fetchone(
                        "INSERT INTO records (registration_number, reg_prefix, reg_year, reg_seq,"
                        " intake_key, msg_id, txt_sha256, arrived_at, registered_at, context,"
                        " mailbox, owner_id, caller_raw, caller_number, caller_name, duration_s,"
                        " sha256, audio_bytes, audio_format, spool_fields, status)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                        " RETURNING id",
                        (
                            number,
                            prefix,
                            year,
                            seq,
                            new.intake_key,
                            new.msg_id,
                            new.txt_sha256,
                            to_db_time(new.arrived_at),
                            to_db_time(now),
                            new.context,
                            new.mailbox,
                            new.owner_id,
                            new.caller_raw,
                            new.caller_number,
                            new.caller_name,
                            new.duration_s,
                            new.sha256,
                            new.audio_bytes,
                            new.audio_format,
                            canonical([list(f) for f in new.spool_fields]),
                            RecordStatus.AWAITING_CLASSIFICATION.value,
                        ),
                    )
                    assert row is not None
                    record = PublicRecord(
                        id=int(row[0]),
                        registration_number=number,
                        intake_key=new.intake_key,
                        msg_id=new.msg_id,
                        arrived_at=_must_time(to_db_time(new.arrived_at)),
                        registered_at=_must_time(to_db_time(now)),
                        context=new.context,
                        mailbox=new.mailbox,
                        owner_id=new.owner_id,
                        caller_raw=new.caller_raw,
                        caller_number=new.caller_number,
                        caller_name=new.caller_name,
                        duration_s=new.duration_s,
                        sha256=new.sha256,
                        audio_bytes=new.audio_bytes,
                        audio_format=new.audio_format,
                        status=RecordStatus.AWAITING_CLASSIFICATION,
                    )
                    await self._append(
                        actor,
                        "record.received",
                        record.id,
                        None,
                        {
                            "registration_number": number,
                            "intake_key": new.intake_key,
                            "arrived_at": to_db_time(new.arrived_at),
                            "mailbox": new.mailbox,
                            "owner_id": new.owner_id,
                            "sha256": new.sha256,
                            "audio_bytes": new.audio_bytes,
                        },
                        now,
                    )
                    added.append(record)
                await self.db.execute("COMMIT")
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
        return added

    async def get(self, record_id: int) -> PublicRecord | None:
        """One record by id."""
        row = await self._fetchone(
            f"SELECT {_RECORD_COLUMNS} FROM records WHERE id = ?", (record_id,)
        )
        return _row_to_record(row) if row else None

    async def get_by_number(self, registration_number: str) -> PublicRecord | None:
        """One record by registration number."""
        row = await self._fetchone(
            f"SELECT {_RECORD_COLUMNS} FROM records WHERE registration_number = ?",
            (registration_number,),
        )
        return _row_to_record(row) if row else None

    async def records(self, where: RecordFilter) -> list[PublicRecord]:
        """Records matching the filter."""
        conds: list[str] = []
        params: list[object] = []
        if where.owner_id is not None:
            conds.append("owner_id = ?")
            params.append(where.owner_id)
        if where.status is not None:
            conds.append("status = ?")
            params.append(where.status.value)
        if where.classification is not None:
            conds.append("classification = ?")
            params.append(where.classification.value)
        if where.classified_before is not None:
            conds.append("classified_at <= ?")
            params.append(to_db_time(where.classified_before))
        if not where.include_hidden:
            conds.append("hidden_from_owner = 0")
        if where.unheard_only:
            conds.append("first_heard_at IS NULL AND hidden_from_owner = 0 AND status <> ?")
            params.append(RecordStatus.DISPOSED.value)
        if where.year is not None:
            conds.append("reg_year = ?")
            params.append(where.year)
        sql = f"SELECT {_RECORD_COLUMNS} FROM records"
        if conds:
            sql += " WHERE " + " AND ".join(conds)
        sql += (
            " ORDER BY arrived_at, id"
            if where.oldest_first
            else " ORDER BY arrived_at DESC, id DESC"
        )
        if where.limit is not None:
            sql += " LIMIT ?"
            params.append(where.limit)
        return [_row_to_record(r) for r in await self._fetchall(sql, params)]

    async def count(self, status: RecordStatus | None = None) -> int:
        """How many records (with this status)."""
        if status is None:
            row = await self._fetchone("SELECT COUNT(*) FROM records")
        else:
            row = await self._fetchone(
                "SELECT COUNT(*) FROM records WHERE status = ?", (status.value,)
            )
        return int(row[0]) if row else 0

    async def update_record(
        self,
        record_id: int,
        changes: Mapping[str, object],
        actor: str,
        action: str,
        now: datetime,
        note: Mapping[str, object] | None = None,
    ) -> PublicRecord:
        """Apply changes to one record and audit before/after in the same transaction."""
        bad = set(changes) - MUTABLE_FIELDS
        if bad:
            raise ValueError(f"fields fixed at intake cannot change: {sorted(bad)}")
        async with self._lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                current = await self.get(record_id)
                if current is None:
                    raise StorageError(f"record {record_id} vanished")
                values: list[object] = []
                for value in changes.values():
                    if isinstance(value, datetime):
                        value = to_db_time(value)
                    elif isinstance(value, Classification | RecordStatus):
                        value = value.value
                    elif isinstance(value, bool):
                        value = int(value)
                    values.append(value)
                assignments = ", ".join(f"{name} = ?" for name in changes)
                await self.db.execute(
                    f"UPDATE records SET {assignments} WHERE id = ?", (*values, record_id)
                )
                updated = await self.get(record_id)
                assert updated is not None
                before = record_view(current, changes)
                after = record_view(updated, changes)
                if note:
                    after.update(note)
                await self._append(actor, action, record_id, before, after, now)
                await self.db.execute("COMMIT")
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
        return updated

    async def append_event(
        self,
        actor: str,
        action: str,
        record_id: int | None,
        before: Mapping[str, object] | None,
        after: Mapping[str, object] | None,
        now: datetime,
    ) -> AuditEvent:
        """Append one audit event in its own transaction."""
        async with self._lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                event = await self._append(actor, action, record_id, before, after, now)
                await self.db.execute("COMMIT")
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
        return event

    async def events(self, record_id: int | None = None) -> list[AuditEvent]:
        """The audit trail in order."""
        cols = "seq, at, actor, action, record_id, before_json, after_json, prev_hash, hash"
        if record_id is None:
            rows = await self._fetchall(f"SELECT {cols} FROM audit_events ORDER BY seq")
        else:
            rows = await self._fetchall(
                f"SELECT {cols} FROM audit_events WHERE record_id = ? ORDER BY seq", (record_id,)
            )
        return [_row_to_event(r) for r in rows]

    async def audit_head(self) -> str:
        """The stored head hash (GENESIS for an empty trail)."""
        row = await self._fetchone("SELECT value FROM register_meta WHERE key = 'audit_head'")
        return str(row[0]) if row else GENESIS
