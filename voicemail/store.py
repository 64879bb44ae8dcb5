"""The register's storage: a small interface and its SQLite implementation (aiosqlite, WAL).

The SQL is kept portable (no SQLite-only functions; `ON CONFLICT`, `RETURNING`; times as
fixed-width UTC text) so that `voicemail.store_pg.PostgresStore` implements the same
`RegisterStore` protocol with the same statements. The engines' differences live in `DIALECTS`
(DDL types) and `numbered` (placeholders); the methods both run alike are written once, in
`SharedRegister`, over the small `storage.db.Db` interface (either engine).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from storage import sqlite
from storage.db import Db, Row
from voicemail.audit import GENESIS, canonical, event_hash
from voicemail.errors import RecordRefused, StorageError
from voicemail.models import (
    AuditEvent,
    Classification,
    NewRecord,
    PublicRecord,
    RecordStatus,
)
from voicemail.owner_schema import OWNER_MIGRATION

SYSTEM_ACTOR = "system:intake"
MIGRATION_ACTOR = "system:migration"


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
    arrived_from: datetime | None = None  # inclusive
    arrived_before: datetime | None = None  # exclusive
    text: str | None = None  # in the number, caller, owner, case or summary (case-blind, ASCII)
    text_number: str | None = None  # the search as E.164, also matched against the caller
    limit: int | None = None
    offset: int = 0
    oldest_first: bool = True
    recording_key: str | None = None  # the copies of one recording


class RegisterStore(Protocol):
    """Storage of records, registration-number series and the audit chain."""

    async def open(self) -> None:
        """Connect and bring the schema up to date."""

    async def close(self) -> None:
        """Close the connection."""

    @property
    def where(self) -> str:
        """Where the register lives, without secrets (for messages)."""

    async def schema_version(self) -> int:
        """The highest migration applied."""

    async def known_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of these intake keys are already registered."""

    async def known_messages(
        self, context: str, messages: Sequence[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """Which of these (mailbox, msg_id) pairs of the context are already registered."""

    async def known_txts(
        self, context: str, txts: Sequence[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """Which of these (mailbox, `msgNNNN.txt` SHA-256) pairs belong to registered records."""

    async def register_id(self) -> str:
        """The register's identity (made once, when the database is created)."""

    async def integrity_problems(self, full: bool = False) -> list[str]:
        """What the engine's own consistency check finds wrong (empty when nothing)."""

    async def record_contents(self) -> list[dict[str, object]]:
        """Every record row as stored: `id` and the `CONTENT_COLUMNS`, in id order."""

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

    async def count_matching(self, where: RecordFilter) -> int:
        """How many records the filter matches (its limit and offset aside)."""

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
    " classified_by, hidden_from_owner, first_heard_at, disposed_at, disposal_rule,"
    " recording_key"
)
# Everything a record row holds besides its surrogate id: what the audit chain covers.
INSERT_COLUMNS: tuple[str, ...] = (
    "registration_number",
    "reg_prefix",
    "reg_year",
    "reg_seq",
    "intake_key",
    "msg_id",
    "txt_sha256",
    "arrived_at",
    "registered_at",
    "context",
    "mailbox",
    "owner_id",
    "caller_raw",
    "caller_number",
    "caller_name",
    "duration_s",
    "sha256",
    "audio_bytes",
    "audio_format",
    "spool_fields",
    "status",
    "recording_key",
)
CONTENT_COLUMNS: tuple[str, ...] = INSERT_COLUMNS + tuple(sorted(MUTABLE_FIELDS - {"status"}))

MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE records (
                id {id_pk},
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
    (
        # Issue 15: a message's identity is (context, mailbox, msg_id), so that the copies
        # app_voicemail makes for several mailboxes are one record each, linked by the
        # recording they share; and the audit chain covers every record's content, so rows
        # that predate this are sealed into the chain when the register next opens.
        2,
        (
            "ALTER TABLE records ADD COLUMN recording_key TEXT",
            "UPDATE records SET recording_key = COALESCE(msg_id, intake_key)",
            "CREATE INDEX records_recording ON records (recording_key)",
            "CREATE UNIQUE INDEX records_message ON records (msg_id, context, mailbox)",
            "INSERT INTO register_meta (key, value) SELECT 'seal_pending', '2'"
            " WHERE EXISTS (SELECT 1 FROM records)",
        ),
    ),
    OWNER_MIGRATION,  # issue 17: phone copies, notification outbox, owners' greetings
)
SCHEMA_VERSION = MIGRATIONS[-1][0]
PENDING_SEAL = "seal_pending"

# The only DDL differences between the engines: a surrogate key that numbers itself.
DIALECTS: dict[str, Mapping[str, str]] = {
    "sqlite": {"id_pk": "INTEGER PRIMARY KEY"},
    "postgresql": {"id_pk": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"},
}


def migrations_for(engine: str) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """MIGRATIONS with the engine's DDL words filled in."""
    words = DIALECTS[engine]
    return tuple((v, tuple(sql.format_map(words) for sql in stmts)) for v, stmts in MIGRATIONS)


def row_to_record(row: Row) -> PublicRecord:
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
        recording_key=row[26],
    )


def row_to_event(row: Row) -> AuditEvent:
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


# Statements shared by both engines (written with `?`; PostgreSQL's store runs them `numbered`).
LAST_EVENT_SQL = "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"
INSERT_EVENT_SQL = (
    "INSERT INTO audit_events (seq, at, actor, action, record_id, before_json,"
    " after_json, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SET_HEAD_SQL = (
    "INSERT INTO register_meta (key, value) VALUES ('audit_head', ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
GET_HEAD_SQL = "SELECT value FROM register_meta WHERE key = 'audit_head'"
KEY_EXISTS_SQL = (
    "SELECT 1 FROM records WHERE intake_key = ? OR (msg_id = ? AND context = ? AND mailbox = ?)"
)
GET_ID_SQL = "SELECT value FROM register_meta WHERE key = 'register_id'"
KEYS_IN_SQL = "SELECT intake_key FROM records WHERE intake_key {in}"
MESSAGES_IN_SQL = "SELECT msg_id, context, mailbox FROM records WHERE msg_id {in}"
RESERVE_SEQ_SQL = (
    "UPDATE registration_series SET last_seq = last_seq + ?"
    " WHERE prefix = ? AND year = ? RETURNING last_seq"
)
ENSURE_ID_SQL = (
    "INSERT INTO register_meta (key, value) VALUES ('register_id', ?) ON CONFLICT (key) DO NOTHING"
)
GET_PENDING_SEAL_SQL = f"SELECT value FROM register_meta WHERE key = '{PENDING_SEAL}'"
DROP_PENDING_SEAL_SQL = f"DELETE FROM register_meta WHERE key = '{PENDING_SEAL}'"
CONTENTS_SQL = f"SELECT id, {', '.join(CONTENT_COLUMNS)} FROM records ORDER BY id"
ENSURE_SERIES_SQL = (
    "INSERT INTO registration_series (prefix, year, last_seq) VALUES (?, ?, 0)"
    " ON CONFLICT (prefix, year) DO NOTHING"
)
NEXT_SEQ_SQL = (
    "UPDATE registration_series SET last_seq = last_seq + 1"
    " WHERE prefix = ? AND year = ? RETURNING last_seq"
)
INSERT_RECORD_SQL = (
    f"INSERT INTO records ({', '.join(INSERT_COLUMNS)})"
    f" VALUES ({', '.join('?' for _ in INSERT_COLUMNS)}) RETURNING id"
)
EVENT_COLUMNS = "seq, at, actor, action, record_id, before_json, after_json, prev_hash, hash"
INSERT_RECORDS_SQL = (
    f"INSERT INTO records ({', '.join(INSERT_COLUMNS)}) VALUES {{values}}"
    " RETURNING id, registration_number"
)
INSERT_EVENTS_SQL = f"INSERT INTO audit_events ({EVENT_COLUMNS}) VALUES {{values}}"
_MAX_PARAMS = 900  # below SQLite's oldest limit (999) and PostgreSQL's (32,767)


def _values(columns: int, rows: int) -> str:
    """`(?, ?), (?, ?)` for a multi-row INSERT."""
    one = "(" + ", ".join("?" for _ in range(columns)) + ")"
    return ", ".join(one for _ in range(rows))


def _chunks(rows: list[tuple[object, ...]], columns: int) -> list[list[tuple[object, ...]]]:
    """Rows in slices whose parameters stay under `_MAX_PARAMS`."""
    step = max(1, _MAX_PARAMS // columns)
    return [rows[i : i + step] for i in range(0, len(rows), step)]


GET_RECORD_SQL = f"SELECT {_RECORD_COLUMNS} FROM records WHERE id = ?"
GET_BY_NUMBER_SQL = f"SELECT {_RECORD_COLUMNS} FROM records WHERE registration_number = ?"


def registration_number(prefix: str, year: int, seq: int) -> str:
    """`ALV-RÖST-2026-000042`."""
    return f"{prefix}-{year}-{seq:06d}"


def record_params(
    new: NewRecord, number: str, prefix: str, year: int, seq: int, now: datetime
) -> tuple[object, ...]:
    """Parameters of `INSERT_RECORD_SQL` for one new record."""
    return (
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
        recording_of(new),
    )


def recording_of(new: NewRecord) -> str:
    """The recording a new record is a copy of: its own key, else msg_id, else intake key."""
    return new.recording_key or new.msg_id or new.intake_key


_INT64 = (1 << 63) - 1


def check_new_record(new: NewRecord, year: int) -> None:
    """RecordRefused when a value cannot be stored alike on both engines (before any SQL)."""
    texts = {
        "intake_key": new.intake_key,
        "msg_id": new.msg_id,
        "context": new.context,
        "mailbox": new.mailbox,
        "owner_id": new.owner_id,
        "caller_raw": new.caller_raw,
        "caller_number": new.caller_number,
        "caller_name": new.caller_name,
        "sha256": new.sha256,
        "audio_format": new.audio_format,
        "txt_sha256": new.txt_sha256,
        "recording_key": new.recording_key,
    }
    texts.update({f"spool field {k!r}": v for k, v in new.spool_fields})
    for name, value in texts.items():
        if value is None:
            continue
        if "\0" in value:
            raise RecordRefused(new.intake_key, f"{name} holds a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise RecordRefused(new.intake_key, f"{name} is not valid Unicode") from None
    for name, number in (("duration_s", new.duration_s), ("audio_bytes", new.audio_bytes)):
        if number is not None and not 0 <= number <= _INT64:
            raise RecordRefused(new.intake_key, f"{name} {number} is out of range")
    if not 1 <= year <= 9999 or new.arrived_at.tzinfo is None:
        raise RecordRefused(new.intake_key, "arrival time out of range")


def received_record(new: NewRecord, record_id: int, number: str, now: datetime) -> PublicRecord:
    """The record as just inserted (times rounded the way the database keeps them)."""
    return PublicRecord(
        id=record_id,
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
        recording_key=recording_of(new),
    )


def received_after(params: Sequence[object]) -> dict[str, object]:
    """The `after` of a `record.received` audit event: the whole row as inserted
    (`record_params`), so that `verify` can hold every stored value against the chain."""
    after = dict(zip(INSERT_COLUMNS, params, strict=True))
    after.update({name: None for name in MUTABLE_FIELDS - {"status"}})
    after["hidden_from_owner"] = False
    return after


def row_content(row: Sequence[Any]) -> tuple[int, dict[str, object]]:
    """A `CONTENTS_SQL` row as (id, content) in the form the audit events hold."""
    content = dict(zip(CONTENT_COLUMNS, row[1:], strict=True))
    content["hidden_from_owner"] = bool(content["hidden_from_owner"])
    return int(row[0]), content


def link_event(
    last: Row | None,
    actor: str,
    action: str,
    record_id: int | None,
    before: Mapping[str, object] | None,
    after: Mapping[str, object] | None,
    now: datetime,
) -> tuple[AuditEvent, tuple[object, ...]]:
    """The next event after `last` (a `LAST_EVENT_SQL` row) and its `INSERT_EVENT_SQL` params."""
    seq, prev = (int(last[0]) + 1, str(last[1])) if last else (1, GENESIS)
    at = _must_time(to_db_time(now))
    before_d = dict(before) if before is not None else None
    after_d = dict(after) if after is not None else None
    digest = event_hash(prev, seq, at, actor, action, record_id, before_d, after_d)
    params = (
        seq,
        to_db_time(at),
        actor,
        action,
        record_id,
        canonical(before_d) if before_d is not None else None,
        canonical(after_d) if after_d is not None else None,
        prev,
        digest,
    )
    return AuditEvent(seq, at, actor, action, record_id, before_d, after_d, prev, digest), params


SEARCHED = (
    "registration_number",
    "caller_number",
    "caller_name",
    "owner_id",
    "mailbox",
    "case_reference",
    "summary",
)


def _like(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def record_query(where: RecordFilter) -> tuple[str, list[object]]:
    """SELECT statement and parameters for `RegisterStore.records`."""
    conds, params = _record_conditions(where)
    sql = f"SELECT {_RECORD_COLUMNS} FROM records"
    if conds:
        sql += " WHERE " + " AND ".join(conds)
    order = "arrived_at, id" if where.oldest_first else "arrived_at DESC, id DESC"
    sql += f" ORDER BY {order}"
    if where.limit is not None:
        sql += " LIMIT ?"
        params.append(where.limit)
        if where.offset:
            sql += " OFFSET ?"
            params.append(where.offset)
    return sql, params


def count_query(where: RecordFilter) -> tuple[str, list[object]]:
    """SELECT COUNT(*) of the records the filter matches (limit and offset aside)."""
    conds, params = _record_conditions(where)
    sql = "SELECT COUNT(*) FROM records"
    if conds:
        sql += " WHERE " + " AND ".join(conds)
    return sql, params


def _record_conditions(where: RecordFilter) -> tuple[list[str], list[object]]:
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
    if where.arrived_from is not None:
        conds.append("arrived_at >= ?")
        params.append(to_db_time(where.arrived_from))
    if where.arrived_before is not None:
        conds.append("arrived_at < ?")
        params.append(to_db_time(where.arrived_before))
    if where.recording_key is not None:
        conds.append("recording_key = ?")
        params.append(where.recording_key)
    if where.text:
        # LOWER() folds a–z only (SQLite; PostgreSQL under the C locale): the text as typed is
        # tried too, so "Örjan" finds Örjan although "örjan" may not
        folded, typed = _like(where.text.lower()), _like(where.text)
        one = "LOWER(COALESCE({c}, '')) LIKE ? ESCAPE '\\' OR COALESCE({c}, '') LIKE ? ESCAPE '\\'"
        alternatives = [one.format(c=c) for c in SEARCHED]
        for _ in SEARCHED:
            params.extend((folded, typed))
        if where.text_number:
            alternatives.append("caller_number LIKE ? ESCAPE '\\'")
            params.append(_like(where.text_number))
        conds.append("(" + " OR ".join(alternatives) + ")")
    return conds, params


def update_statement(record_id: int, changes: Mapping[str, object]) -> tuple[str, list[object]]:
    """UPDATE statement and parameters for a record's mutable fields (refuses the others)."""
    bad = set(changes) - MUTABLE_FIELDS
    if bad:
        raise ValueError(f"fields fixed at intake cannot change: {sorted(bad)}")
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
    return f"UPDATE records SET {assignments} WHERE id = ?", [*values, record_id]


def audited_change(
    current: PublicRecord,
    updated: PublicRecord,
    changes: Mapping[str, object],
    note: Mapping[str, object] | None,
) -> tuple[dict[str, object], dict[str, object]]:
    """Before and after of a record update for its audit event."""
    before = record_view(current, changes)
    after = record_view(updated, changes)
    if note:
        after.update(note)
    return before, after


class SharedRegister:
    """The `RegisterStore` methods both engines run alike, over `sql` (a `Db`).

    An engine supplies `sql`, `_known` and its plumbing (open, close, migrations); on
    PostgreSQL every transaction that appends to the chain takes the advisory lock `chain_lock`
    and a record being updated is read `FOR UPDATE`.
    """

    chain_lock: str | None = None
    for_update = ""

    @property
    def sql(self) -> Db:
        """The open database."""
        raise NotImplementedError

    async def _rows_in(
        self, sql: str, params: Sequence[object], values: Sequence[str], db: Db | None = None
    ) -> list[Sequence[Any]]:
        """Rows of `sql`, whose `{in}` is a membership test of its last column in `values`
        (on `db`, an open transaction, else on `sql`)."""
        raise NotImplementedError

    async def known_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of these intake keys are already registered."""
        rows = await self._rows_in("SELECT intake_key FROM records WHERE intake_key {in}", (), keys)
        return {str(r[0]) for r in rows}

    async def known_messages(
        self, context: str, messages: Sequence[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """Which (mailbox, msg_id) pairs are registered: one message's copies in other
        mailboxes are other messages (issue 15), not the same one."""
        sql = "SELECT mailbox, msg_id FROM records WHERE context = ? AND msg_id {in}"
        rows = await self._rows_in(sql, (context,), sorted({m for _, m in messages}))
        return {(str(r[0]), str(r[1])) for r in rows} & set(messages)

    async def known_txts(
        self, context: str, txts: Sequence[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """Which (mailbox, txt hash) pairs are registered (copies share the txt's bytes)."""
        sql = "SELECT mailbox, txt_sha256 FROM records WHERE context = ? AND txt_sha256 {in}"
        rows = await self._rows_in(sql, (context,), sorted({h for _, h in txts}))
        return {(str(r[0]), str(r[1])) for r in rows} & set(txts)

    async def register_id(self) -> str:
        """The register's identity, stored in `register_meta` when it was created."""
        row = await self.sql.fetchone(GET_ID_SQL)
        if row is None:
            raise StorageError(f"{self.where}: the register has no id (not opened?)")
        return str(row[0])

    async def record_contents(self) -> list[dict[str, object]]:
        """Every record row as stored (`id` and the content columns), in id order."""
        out: list[dict[str, object]] = []
        for row in await self.sql.fetch(CONTENTS_SQL):
            record_id, content = row_content(row)
            out.append({"id": record_id, **content})
        return out

    @property
    def where(self) -> str:
        """Where the register lives (for messages)."""
        raise NotImplementedError

    async def prepare(self, now: datetime | None = None) -> None:
        """After the migrations: give a new register its id, and seal rows that predate the
        chain's coverage of record content (`record.sealed`, one per record, once)."""
        if await self.sql.fetchone(GET_ID_SQL) and not await self.sql.fetchone(
            GET_PENDING_SEAL_SQL
        ):
            return
        at = now or datetime.now(UTC)
        async with self.sql.transaction(self.chain_lock) as tx:
            await tx.execute(ENSURE_ID_SQL, (uuid.uuid4().hex,))
            if not await tx.fetchone(GET_PENDING_SEAL_SQL):
                return
            for row in await tx.fetch(CONTENTS_SQL):
                record_id, content = row_content(row)
                await self._append(
                    tx, MIGRATION_ACTOR, "record.sealed", record_id, None, content, at
                )
            await tx.execute(DROP_PENDING_SEAL_SQL)

    async def _append(
        self,
        tx: Db,
        actor: str,
        action: str,
        record_id: int | None,
        before: Mapping[str, object] | None,
        after: Mapping[str, object] | None,
        now: datetime,
    ) -> AuditEvent:
        """Append inside an open transaction: read the head, link, insert, move the head."""
        last = await tx.fetchone(LAST_EVENT_SQL)
        event, params = link_event(last, actor, action, record_id, before, after, now)
        await tx.execute(INSERT_EVENT_SQL, params)
        await tx.execute(SET_HEAD_SQL, (event.hash,))
        return event

    async def add_records(
        self, items: Sequence[tuple[NewRecord, int]], prefix: str, actor: str, now: datetime
    ) -> list[PublicRecord]:
        """Insert new records (skipping keys already present) with numbers and audit events.

        Group commit (issue 21): one transaction of a few statements for the whole batch —
        which keys exist (two queries), a range of numbers per series, the rows in multi-row
        INSERTs, the chain's events linked in order and inserted together, the head moved
        once — instead of seven statements per record. Same rows, numbers and chain as one
        record after another.
        """
        added: list[PublicRecord] = []
        if not items:
            return added
        for new, year in items:
            check_new_record(new, year)
        async with self.sql.transaction(self.chain_lock) as tx:
            # Under the chain lock every statement below sees all earlier commits (READ
            # COMMITTED), so a key another node registered a moment ago is skipped here.
            keys = sorted({new.intake_key for new, _ in items})
            ids = sorted({new.msg_id for new, _ in items if new.msg_id is not None})
            have_keys = {str(r[0]) for r in await self._rows_in(KEYS_IN_SQL, (), keys, tx)}
            have_msgs = {
                (str(r[0]), str(r[1]), str(r[2]))
                for r in await self._rows_in(MESSAGES_IN_SQL, (), ids, tx)
            }
            fresh: list[tuple[NewRecord, int]] = []
            for new, year in items:
                message = (str(new.msg_id), new.context, new.mailbox)
                if new.intake_key in have_keys or (new.msg_id is not None and message in have_msgs):
                    continue
                have_keys.add(new.intake_key)
                if new.msg_id is not None:
                    have_msgs.add(message)
                fresh.append((new, year))
            if not fresh:
                return added
            last_seq: dict[int, int] = {}
            for year in sorted({year for _, year in fresh}):
                count = sum(1 for _, y in fresh if y == year)
                await tx.execute(ENSURE_SERIES_SQL, (prefix, year))
                row = await tx.fetchone(RESERVE_SEQ_SQL, (count, prefix, year))
                assert row is not None
                last_seq[year] = int(row[0]) - count
            rows: list[tuple[object, ...]] = []
            for new, year in fresh:
                last_seq[year] += 1
                seq = last_seq[year]
                number = registration_number(prefix, year, seq)
                rows.append(record_params(new, number, prefix, year, seq, now))
            record_ids: dict[str, int] = {}
            for chunk in _chunks(rows, len(INSERT_COLUMNS)):
                sql = INSERT_RECORDS_SQL.format(values=_values(len(INSERT_COLUMNS), len(chunk)))
                for r in await tx.fetch(sql, [v for params in chunk for v in params]):
                    record_ids[str(r[1])] = int(r[0])
            last = await tx.fetchone(LAST_EVENT_SQL)
            events: list[tuple[object, ...]] = []
            for (new, _), params in zip(fresh, rows, strict=True):
                number = str(params[0])
                record = received_record(new, record_ids[number], number, now)
                after = received_after(params)
                event, event_params = link_event(
                    last, actor, "record.received", record.id, None, after, now
                )
                last = (event.seq, event.hash)
                events.append(event_params)
                added.append(record)
            for chunk in _chunks(events, 9):
                sql = INSERT_EVENTS_SQL.format(values=_values(9, len(chunk)))
                await tx.execute(sql, [v for params in chunk for v in params])
            assert last is not None
            await tx.execute(SET_HEAD_SQL, (last[1],))
        return added

    async def get(self, record_id: int) -> PublicRecord | None:
        """One record by id."""
        row = await self.sql.fetchone(GET_RECORD_SQL, (record_id,))
        return row_to_record(row) if row else None

    async def get_by_number(self, registration_number: str) -> PublicRecord | None:
        """One record by registration number."""
        row = await self.sql.fetchone(GET_BY_NUMBER_SQL, (registration_number,))
        return row_to_record(row) if row else None

    async def records(self, where: RecordFilter) -> list[PublicRecord]:
        """Records matching the filter."""
        sql, params = record_query(where)
        return [row_to_record(r) for r in await self.sql.fetch(sql, params)]

    async def count_matching(self, where: RecordFilter) -> int:
        """How many records the filter matches (its limit and offset aside)."""
        sql, params = count_query(where)
        row = await self.sql.fetchone(sql, params)
        return int(row[0]) if row else 0

    async def count(self, status: RecordStatus | None = None) -> int:
        """How many records (with this status)."""
        if status is None:
            row = await self.sql.fetchone("SELECT COUNT(*) FROM records")
        else:
            row = await self.sql.fetchone(
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
        sql, params = update_statement(record_id, changes)
        async with self.sql.transaction(self.chain_lock) as tx:
            row = await tx.fetchone(GET_RECORD_SQL + self.for_update, (record_id,))
            if row is None:
                raise StorageError(f"record {record_id} vanished")
            current = row_to_record(row)
            await tx.execute(sql, params)
            row = await tx.fetchone(GET_RECORD_SQL, (record_id,))
            assert row is not None
            updated = row_to_record(row)
            before, after = audited_change(current, updated, changes, note)
            await self._append(tx, actor, action, record_id, before, after, now)
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
        async with self.sql.transaction(self.chain_lock) as tx:
            return await self._append(tx, actor, action, record_id, before, after, now)

    async def events(self, record_id: int | None = None) -> list[AuditEvent]:
        """The audit trail in order."""
        if record_id is None:
            rows = await self.sql.fetch(f"SELECT {EVENT_COLUMNS} FROM audit_events ORDER BY seq")
        else:
            rows = await self.sql.fetch(
                f"SELECT {EVENT_COLUMNS} FROM audit_events WHERE record_id = ? ORDER BY seq",
                (record_id,),
            )
        return [row_to_event(r) for r in rows]

    async def audit_head(self) -> str:
        """The stored head hash (GENESIS for an empty trail)."""
        row = await self.sql.fetchone(GET_HEAD_SQL)
        return str(row[0]) if row else GENESIS


class SqliteStore(SharedRegister):
    """`RegisterStore` on one SQLite file in WAL mode with synchronous=FULL (fsync on commit)."""

    engine = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    @property
    def where(self) -> str:
        """The database file."""
        return str(self.path)

    @property
    def db(self) -> aiosqlite.Connection:
        """The open connection (raises if `open` was not awaited)."""
        if self._db is None:
            raise StorageError("register store is not open")
        return self._db

    @property
    def sql(self) -> sqlite.SqliteDb:
        """The open connection; one writer at a time, every transaction BEGIN IMMEDIATE."""
        return sqlite.SqliteDb(self.db, self._lock)

    async def open(self) -> None:
        """Open the file, set WAL + FULL sync, and run pending migrations."""

        def too_new(current: int) -> StorageError:
            return StorageError(
                f"{self.path}: schema {current} is newer than this program's {SCHEMA_VERSION}"
            )

        migrations = migrations_for(self.engine)
        try:
            db = await sqlite.connect(self.path, "FULL")
        except aiosqlite.Error as exc:
            raise StorageError(f"{self.path}: {exc}") from None
        try:
            # A damaged file must stop the start, not be migrated and written on (issue 15).
            problems = await sqlite.integrity_problems(db, quick=True)
            if problems:
                raise StorageError(
                    f"{self.path}: the database is damaged ({'; '.join(problems[:3])});"
                    " restore it from backup"
                )
            await sqlite.migrate(db, "schema_migrations", migrations, SCHEMA_VERSION, too_new)
            self._db = db
            await self.prepare()
        except aiosqlite.Error as exc:
            self._db = None
            await db.close()
            raise StorageError(f"{self.path}: {exc}") from None
        except BaseException:
            self._db = None
            await db.close()
            raise

    async def close(self) -> None:
        """Close the connection if open."""
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    async def schema_version(self) -> int:
        """The highest migration applied."""
        return await sqlite.schema_version(self.db, "schema_migrations")

    async def _rows_in(
        self, sql: str, params: Sequence[object], values: Sequence[str], db: Db | None = None
    ) -> list[Sequence[Any]]:
        on = db or self.sql
        rows: list[Sequence[Any]] = []
        for i in range(0, len(values), 500):
            chunk = list(values[i : i + 500])
            marks = ", ".join("?" for _ in chunk)
            rows += await on.fetch(sql.format(**{"in": f"IN ({marks})"}), [*params, *chunk])
        return rows

    async def integrity_problems(self, full: bool = False) -> list[str]:
        """SQLite's `integrity_check` (or the faster `quick_check`); a file SQLite cannot
        read at all is one problem, not an exception."""
        try:
            return await sqlite.integrity_problems(self.db, quick=not full)
        except aiosqlite.DatabaseError as exc:
            return [str(exc)]
