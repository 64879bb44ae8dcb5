"""The register's statements, written once for both engines (`?` placeholders), and the
conversions between rows and records."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from json.encoder import encode_basestring
from typing import Any

from storage.db import Row
from voicemail.audit import GENESIS, canonical
from voicemail.errors import RecordRefused
from voicemail.models import (
    AuditEvent,
    Classification,
    NewRecord,
    PublicRecord,
    RecordStatus,
)
from voicemail.register import from_db_time, must_time, to_db_time
from voicemail.register_schema import (
    CONTENT_COLUMNS,
    INSERT_COLUMNS,
    MUTABLE_FIELDS,
    PENDING_SEAL,
    RECORD_COLUMNS,
)


def row_to_record(row: Row) -> PublicRecord:
    cls = row[17]
    return PublicRecord(
        id=int(row[0]),
        registration_number=row[1],
        intake_key=row[2],
        msg_id=row[3],
        arrived_at=must_time(row[4]),
        registered_at=must_time(row[5]),
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
        at=must_time(row[1]),
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


def values_clause(columns: int, rows: int) -> str:
    """`(?, ?), (?, ?)` for a multi-row INSERT."""
    one = "(" + ", ".join("?" for _ in range(columns)) + ")"
    return ", ".join(one for _ in range(rows))


def row_chunks(rows: list[tuple[object, ...]], columns: int) -> list[list[tuple[object, ...]]]:
    """Rows in slices whose parameters stay under `_MAX_PARAMS`."""
    step = max(1, _MAX_PARAMS // columns)
    return [rows[i : i + step] for i in range(0, len(rows), step)]


GET_RECORD_SQL = f"SELECT {RECORD_COLUMNS} FROM records WHERE id = ?"
GET_BY_NUMBER_SQL = f"SELECT {RECORD_COLUMNS} FROM records WHERE registration_number = ?"


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
        db_now(now)[0],
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
        arrived_at=must_time(to_db_time(new.arrived_at)),
        registered_at=db_now(now)[1],
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
    text, at = db_now(now)
    before_d = dict(before) if before is not None else None
    after_d = dict(after) if after is not None else None
    before_json = canonical(before_d) if before_d is not None else None
    after_json = canonical(after_d) if after_d is not None else None
    digest = chained_hash(prev, seq, at, actor, action, record_id, before_json, after_json)
    params = (seq, text, actor, action, record_id, before_json, after_json, prev, digest)
    return AuditEvent(seq, at, actor, action, record_id, before_d, after_d, prev, digest), params


def chained_hash(
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    record_id: int | None,
    before_json: str | None,
    after_json: str | None,
) -> str:
    """`audit.event_hash` of an event whose `before` and `after` are already canonical JSON,
    as they are stored (issue 21: each serialised once, not once for the hash and again for
    the row). The same body: its keys in sorted order, each value as `canonical` writes it."""
    body = (
        f'{{"action":{encode_basestring(action)},"actor":{encode_basestring(actor)},'
        f'"after":{"null" if after_json is None else after_json},'
        f'"at":{encode_basestring(at.isoformat())},'
        f'"before":{"null" if before_json is None else before_json},'
        f'"record_id":{"null" if record_id is None else int.__repr__(record_id)},'
        f'"seq":{int.__repr__(seq)}}}'
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


@functools.lru_cache(maxsize=16)
def db_now(now: datetime) -> tuple[str, datetime]:
    """`now` as the register stores it, and as it reads back (`to_db_time`, `must_time`):
    a batch's every record and event is stamped with the same `now`."""
    text = to_db_time(now)
    return text, must_time(text)


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
