"""The call log's tables and statements, written once for both engines (`?` placeholders).

Portable SQL: plain tables, `VARCHAR`/`INTEGER`/`TEXT`, times as UTC ISO 8601 text, no
SQLite-only functions in queries. Schema 2 adds the service records (`calllog.records`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from switchboard.telephony.calllog.models import CallEntry, Incident, db_time, from_db
from switchboard.telephony.calllog.records import MIGRATION_2

DB_NAME = "calllog.sqlite3"
VERSION_TABLE = "calllog_schema"
SCHEMA_VERSION = 2
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            "CREATE TABLE calls ("
            " call_id VARCHAR(64) PRIMARY KEY,"
            " channel VARCHAR(200),"
            " started_at VARCHAR(32),"
            " answered_at VARCHAR(32),"
            " ended_at VARCHAR(32),"
            " duration_s INTEGER,"
            " billable_s INTEGER,"
            " caller VARCHAR(64),"
            " called VARCHAR(64),"
            " dialled TEXT NOT NULL,"
            " outcome VARCHAR(32) NOT NULL,"
            " action VARCHAR(32),"
            " disposition VARCHAR(32),"
            " dial_status VARCHAR(32),"
            " interrupted INTEGER NOT NULL)",
            "CREATE INDEX calls_started ON calls (started_at)",
            "CREATE TABLE incidents ("
            " id INTEGER PRIMARY KEY,"
            " reference VARCHAR(40) NOT NULL UNIQUE,"
            " call_id VARCHAR(64) NOT NULL,"
            " reported_by VARCHAR(100) NOT NULL,"
            " reported_at VARCHAR(32) NOT NULL,"
            " note TEXT NOT NULL,"
            " call_json TEXT NOT NULL)",
        ),
    ),
    (2, MIGRATION_2),  # directory history, notices, assisted calls (calllog.records)
)
_COLUMNS = (
    "call_id, channel, started_at, answered_at, ended_at, duration_s, billable_s, caller,"
    " called, dialled, outcome, action, disposition, dial_status, interrupted"
)
# One statement, so a rewrite is atomic on both engines (SQLite >= 3.24, PostgreSQL >= 9.5):
# DELETE + INSERT let two writers of one call fail on the key or leave an older state.
UPSERT_CALL_SQL = (
    f"INSERT INTO calls ({_COLUMNS}) VALUES ({', '.join('?' * 15)})"
    " ON CONFLICT (call_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS.replace(" ", "").split(",")[1:])
)
GET_CALL_SQL = f"SELECT {_COLUMNS} FROM calls WHERE call_id = ?"
ALL_CALLS_SQL = f"SELECT {_COLUMNS} FROM calls ORDER BY started_at, call_id"
OUTCOME_COUNTS_SQL = "SELECT outcome, COUNT(*) FROM calls GROUP BY outcome ORDER BY outcome"
NEXT_INCIDENT_SQL = "SELECT COALESCE(MAX(id), 0) + 1 FROM incidents"
INSERT_INCIDENT_SQL = (
    "INSERT INTO incidents (id, reference, call_id, reported_by, reported_at, note, call_json)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
INCIDENTS_SQL = (
    "SELECT id, reference, call_id, reported_by, reported_at, note, call_json"
    " FROM incidents ORDER BY id"
)


def entry_params(entry: CallEntry) -> tuple[object, ...]:
    """One entry as the row both engines write (`UPSERT_CALL_SQL`)."""
    return (
        entry.call_id,
        entry.channel,
        db_time(entry.start),
        db_time(entry.answer),
        db_time(entry.end),
        entry.duration_s,
        entry.billable_s,
        entry.caller,
        entry.called,
        json.dumps(list(entry.dialled), ensure_ascii=False),
        entry.outcome,
        entry.action,
        entry.disposition,
        entry.dial_status,
        1 if entry.interrupted else 0,
    )


def row_entry(row: Sequence[Any]) -> CallEntry:
    """A row of `GET_CALL_SQL` (or any `SELECT` of the columns above) as a CallEntry."""
    (cid, channel, start, answer, end, dur, bill, caller, called, dialled, outcome, action) = row[
        :12
    ]
    disposition, dial_status, interrupted = row[12:15]
    return CallEntry(
        call_id=cid,
        start=from_db(start),
        answer=from_db(answer),
        end=from_db(end),
        duration_s=dur,
        billable_s=bill,
        caller=caller,
        called=called,
        dialled=tuple(json.loads(dialled or "[]")),
        outcome=outcome,
        action=action,
        disposition=disposition,
        dial_status=dial_status,
        interrupted=bool(interrupted),
        channel=channel,
    )


def query_sql(
    since: datetime | None,
    until: datetime | None,
    number: str | None,
    outcome: str | None,
    limit: int,
) -> tuple[str, list[object]]:
    """The call-log query both engines run (`?` placeholders), and its parameters."""
    where: list[str] = []
    params: list[object] = []
    if since is not None:
        where.append("started_at >= ?")
        params.append(db_time(since))
    if until is not None:
        where.append("started_at < ?")
        params.append(db_time(until))
    if outcome is not None:
        where.append("outcome = ?")
        params.append(outcome)
    digits = "".join(ch for ch in number or "" if ch.isdigit())
    if digits:
        where.append("(caller LIKE ? OR called LIKE ? OR dialled LIKE ?)")
        params += [f"%{digits}%"] * 3
    sql = f"SELECT {_COLUMNS} FROM calls"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY started_at DESC, call_id DESC LIMIT ?"
    params.append(max(0, int(limit)))
    return sql, params


def row_incident(row: Sequence[Any]) -> Incident:
    """An `INCIDENTS_SQL` row as an Incident."""
    iid, ref, cid, by, at, note, call_json = row
    reported = from_db(at)
    assert reported is not None
    return Incident(iid, ref, cid, by, reported, note, json.loads(call_json))
