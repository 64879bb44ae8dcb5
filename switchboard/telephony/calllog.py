"""The call log (ALV-18) in `<data_dir>/calllog.sqlite3`, and threat incidents (ALV-20).

`CallLog` folds AMI events (Newchannel, DialBegin/End, BridgeEnter, Cdr, Hangup) and the service's
own outcome into one `CallEntry` per call; `CallLogStore` keeps them in SQLite (WAL, versioned
migrations, portable SQL: plain tables, TEXT times in UTC ISO 8601, no SQLite-only functions in
queries). See docs/calllog.md.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, Self

import aiosqlite

from storage import sqlite
from storage.db import Db
from switchboard.telephony.ami import Message
from switchboard.telephony.errors import TelephonyError
from switchboard.telephony.records import (
    MIGRATION_2,
    RecordSource,
    ServiceRecords,
)

log = logging.getLogger(__name__)

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
    (2, MIGRATION_2),  # directory history, notices, assisted calls (switchboard.telephony.records)
)
CSV_FIELDS = (
    "call_id",
    "start",
    "answer",
    "end",
    "duration_s",
    "billable_s",
    "caller",
    "called",
    "dialled",
    "outcome",
    "action",
    "disposition",
    "dial_status",
    "interrupted",
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


class CallLogError(TelephonyError):
    """The call-log database could not be opened or used."""

    error_id = "calllog-error"


class UnknownCall(TelephonyError, KeyError):
    """No call with this id is in the log."""

    error_id = "unknown-call"

    def __init__(self, call_id: str) -> None:
        super().__init__(f"no call {call_id!r} in the call log")
        self.call_id = call_id


def db_time(dt: datetime | None) -> str | None:
    """A time as stored: UTC ISO 8601 with milliseconds (fixed width: text order = time order)."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        raise ValueError("call-log times must be timezone-aware")
    return dt.astimezone(UTC).isoformat(timespec="milliseconds")


def _from_db(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True, slots=True)
class CallEntry:
    """One call as the IT role sees it: times, numbers, what happened."""

    call_id: str
    start: datetime | None = None  # connect (channel created)
    answer: datetime | None = None
    end: datetime | None = None  # disconnect
    duration_s: int | None = None
    billable_s: int | None = None
    caller: str | None = None
    called: str | None = None
    dialled: tuple[str, ...] = ()
    outcome: str = "in_progress"  # completed, caller_hung_up, handed_back, interrupted, …
    action: str | None = None  # the routing decision: ring, redirect, voicemail, transfer, reject
    disposition: str | None = None  # the CDR's ANSWERED / NO ANSWER / BUSY / FAILED
    dial_status: str | None = None
    interrupted: bool = False
    channel: str | None = None

    def as_json(self) -> dict[str, object]:
        """A JSON-ready dict; times in UTC ISO 8601 (the web API's `CALL_FIELDS` names)."""
        out: dict[str, object] = {}
        for key, value in asdict(self).items():
            if isinstance(value, datetime):
                out[key] = db_time(value)
            elif isinstance(value, tuple):
                out[key] = list(value)
            else:
                out[key] = value
        return out


@dataclass(frozen=True, slots=True)
class Incident:
    """ALV-20: a call flagged as a threat, with a copy of the call's details at the time."""

    id: int
    reference: str  # <ORG>-HOT-<year>-<NNNN>
    call_id: str
    reported_by: str
    reported_at: datetime
    note: str
    call: Mapping[str, object] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "id": self.id,
            "reference": self.reference,
            "call_id": self.call_id,
            "reported_by": self.reported_by,
            "reported_at": db_time(self.reported_at),
            "note": self.note,
            "call": dict(self.call),
        }


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


def incident_reference(org_code: str, next_id: int, now: datetime) -> str:
    """`<ORG>-HOT-<year>-<NNNN>`."""
    return f"{org_code}-HOT-{now.year}-{next_id:04d}"


def row_incident(row: Sequence[Any]) -> Incident:
    """An `INCIDENTS_SQL` row as an Incident."""
    iid, ref, cid, by, at, note, call_json = row
    reported = _from_db(at)
    assert reported is not None
    return Incident(iid, ref, cid, by, reported, note, json.loads(call_json))


class CallLogStorage(RecordSource, Protocol):
    """What the service and the web layer need from the call log, on either engine."""

    async def open(self) -> None:
        """Connect and migrate."""

    async def close(self) -> None:
        """Disconnect."""

    async def record(self, entry: CallEntry) -> None:
        """Insert or replace one call's entry."""

    async def get(self, call_id: str) -> CallEntry | None:
        """One call by id."""

    async def query(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        number: str | None = None,
        outcome: str | None = None,
        limit: int = 1000,
    ) -> list[CallEntry]:
        """Calls that started in [since, until), newest first."""

    async def calls(self) -> list[Mapping[str, object]]:
        """Every call oldest first as JSON dicts."""

    async def outcome_counts(self) -> dict[str, int]:
        """How many calls per outcome."""

    async def export_csv(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        number: str | None = None,
        outcome: str | None = None,
        limit: int = 100_000,
    ) -> str:
        """The query as CSV."""

    async def flag_threat(self, call_id: str, by: str, note: str, now: datetime) -> Incident:
        """ALV-20: an incident record holding the call's details."""

    async def incidents(self) -> list[Incident]:
        """Every incident, oldest first."""


def _row_entry(row: Sequence[Any]) -> CallEntry:
    (cid, channel, start, answer, end, dur, bill, caller, called, dialled, outcome, action) = row[
        :12
    ]
    disposition, dial_status, interrupted = row[12:15]
    return CallEntry(
        call_id=cid,
        start=_from_db(start),
        answer=_from_db(answer),
        end=_from_db(end),
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


class SharedCallLog(ServiceRecords):
    """The `CallLogStorage` methods both engines run alike, over `sql` (a `storage.db.Db`).

    An engine supplies `sql` and its plumbing (open, close, migrations); on PostgreSQL incident
    numbering takes the advisory lock `incident_lock`, so two nodes never share a reference.
    """

    org_code: str
    incident_lock: str | None = None

    @property
    def sql(self) -> Db:
        """The open database."""
        raise NotImplementedError

    async def open(self) -> None:
        """Connect and migrate."""
        raise NotImplementedError

    async def close(self) -> None:
        """Disconnect (idempotent)."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def record(self, entry: CallEntry) -> None:
        """Insert or replace one call's entry (one upsert)."""
        params = entry_params(entry)
        async with self.sql.transaction() as tx:
            await tx.execute(UPSERT_CALL_SQL, params)

    async def get(self, call_id: str) -> CallEntry | None:
        """One call by its id (the platform's Linkedid/Uniqueid), or None."""
        row = await self.sql.fetchone(GET_CALL_SQL, (call_id,))
        return _row_entry(row) if row is not None else None

    async def query(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        number: str | None = None,
        outcome: str | None = None,
        limit: int = 1000,
    ) -> list[CallEntry]:
        """Calls that started in [since, until), newest first.

        `number`: digits that must occur in the caller, called or a dialled number.
        """
        sql, params = query_sql(since, until, number, outcome, limit)
        return [_row_entry(r) for r in await self.sql.fetch(sql, params)]

    async def calls(self) -> list[Mapping[str, object]]:
        """Every call oldest first as JSON dicts (the web layer's `CallLogSource`)."""
        return [_row_entry(r).as_json() for r in await self.sql.fetch(ALL_CALLS_SQL)]

    async def outcome_counts(self) -> dict[str, int]:
        """How many calls the log holds per outcome (counted by the database, for /metrics)."""
        return {str(outcome): int(n) for outcome, n in await self.sql.fetch(OUTCOME_COUNTS_SQL)}

    async def export_csv(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        number: str | None = None,
        outcome: str | None = None,
        limit: int = 100_000,
    ) -> str:
        """The same query as CSV (CRLF lines, header row; dialled numbers space-separated)."""
        return calls_csv(await self.query(since, until, number, outcome, limit))

    async def flag_threat(self, call_id: str, by: str, note: str, now: datetime) -> Incident:
        """ALV-20: an incident record holding the call's details; UnknownCall if there is none."""
        entry = await self.get(call_id)
        if entry is None:
            raise UnknownCall(call_id)
        details = entry.as_json()
        async with self.sql.transaction(self.incident_lock) as tx:
            row = await tx.fetchone(NEXT_INCIDENT_SQL)
            next_id = int(row[0]) if row else 1
            reference = incident_reference(self.org_code, next_id, now)
            await tx.execute(
                INSERT_INCIDENT_SQL,
                (
                    next_id,
                    reference,
                    call_id,
                    by,
                    db_time(now),
                    note,
                    json.dumps(details, ensure_ascii=False),
                ),
            )
        log.warning(
            "call flagged as a threat", extra={"call_id": call_id, "incident": reference, "by": by}
        )
        return Incident(next_id, reference, call_id, by, now, note, details)

    async def incidents(self) -> list[Incident]:
        """Every incident, oldest first."""
        return [row_incident(r) for r in await self.sql.fetch(INCIDENTS_SQL)]


class CallLogStore(SharedCallLog):
    """The call log and incidents on one SQLite file (WAL). Open with `open()` or `async with`."""

    def __init__(self, path: str | Path, *, org_code: str = "SB") -> None:
        self.path = Path(path)
        self.org_code = org_code
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def in_data_dir(cls, data_dir: str | Path, *, org_code: str = "SB") -> CallLogStore:
        """The store at `<data_dir>/calllog.sqlite3`."""
        return cls(Path(data_dir) / DB_NAME, org_code=org_code)

    @property
    def db(self) -> aiosqlite.Connection:
        """The open connection."""
        if self._db is None:
            raise CallLogError("the call log is not open")
        return self._db

    @property
    def sql(self) -> sqlite.SqliteDb:
        """The open connection; one writer at a time."""
        return sqlite.SqliteDb(self.db, self._lock, begin="BEGIN")

    async def open(self) -> None:
        """Create or open the database and run pending migrations."""

        def too_new(current: int) -> CallLogError:
            return CallLogError(f"{self.path}: schema {current} is newer than {SCHEMA_VERSION}")

        try:
            self._db = await sqlite.open_migrated(
                self.path,
                "NORMAL",
                VERSION_TABLE,
                MIGRATIONS,
                SCHEMA_VERSION,
                too_new,
                applied_at=("VARCHAR(32)", "milliseconds"),
            )
        except aiosqlite.Error as exc:
            raise CallLogError(f"{self.path}: {exc}") from None

    async def close(self) -> None:
        """Close the database (idempotent)."""
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    async def schema_version(self) -> int:
        """The applied schema version."""
        return await sqlite.schema_version(self.db, VERSION_TABLE)


def calls_csv(entries: Iterable[CallEntry]) -> str:
    """Entries as CSV text for a spreadsheet."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for entry in entries:
        data = entry.as_json()
        row: list[object] = []
        for name in CSV_FIELDS:
            value = data.get(name)
            if isinstance(value, list):
                value = " ".join(str(v) for v in value)
            row.append("" if value is None else value)
        writer.writerow(row)
    return buf.getvalue()


DONE_KEPT = 1024  # finished calls kept in memory so a late Cdr or Hangup still updates them
LINKS_KEPT = 16384  # channel Uniqueid → the call's Linkedid, for events that carry only one
OUTCOME_VARIABLE = "SWITCHBOARD_OUTCOME"  # set by the dialplan's fallback (manager channelvars)
# What the service learnt about a call that the wire may not show: not overridden by the fallback.
SERVICE_FINAL = {
    "answered",
    "covering_point",
    "transfer",
    "voicemail_left",
    "voicemail_empty",
    "message",
    "rejected",
    "no_answer",
    "failed_step",
    "caller_hung_up",
}


class CallLog:
    """Folds AMI events and the service's outcome into one entry per call, and writes them.

    A call is keyed by its Linkedid (every channel of one call shares it); a Cdr carries only
    the channel's `UniqueID`, so each channel's Uniqueid → Linkedid is remembered from the
    events that carry both. Times come from the service's clock, never from the Cdr's fields
    (written in the platform's time zone): connect at the first Newchannel, answer at the first
    channel going Up (Newstate 6), disconnect at the last channel's Hangup; so start ≤ answer ≤
    end always. A call ends when its last channel hangs up, Cdr or not (a CHANUNAVAIL dial has
    none). The outcome is what the caller got: the service's (docs/calllog.md), else the
    dialplan fallback's (`fallback_<what>`, from the SWITCHBOARD_OUTCOME channel variable), and
    a MessageWaiting on the call's channel means a voicemail was left.

    An entry is written when the service's handling ends and when the call ends, and rewritten
    when a later Cdr adds to it. Writes are tasks (event callbacks are synchronous): one writer
    per call, which writes the call's newest state and then any state that arrived meanwhile,
    so updates of one call never race and the last state is the one that stays. `flush()`
    waits for them.
    """

    def __init__(self, store: CallLogStorage | None, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock
        self._open: dict[str, CallEntry] = {}
        self._done: dict[str, CallEntry] = {}
        self._links: dict[str, str] = {}  # Uniqueid → Linkedid
        self._live: dict[str, set[str]] = {}  # Linkedid → channels not hung up yet
        self._fallback: dict[str, str] = {}  # Linkedid → the dialplan fallback's outcome
        self._service: set[str] = set()  # calls the service has finished
        self._orphans: set[str] = set()  # open calls whose events stopped (AMI lost)
        self._unwritten: dict[str, CallEntry] = {}  # newest state per call not yet written
        self._writers: dict[str, asyncio.Task[None]] = {}  # at most one per call
        self.written = 0

    def call_id(self, uniqueid: str) -> str:
        """The call (Linkedid) a channel's Uniqueid belongs to, as far as the events told."""
        return self._links.get(uniqueid, uniqueid)

    def _link(self, msg: Message) -> str:
        uid = msg.get("Uniqueid") or msg.get("UniqueID") or ""
        linked = msg.get("Linkedid") or ""
        if uid and linked:
            if uid not in self._links:
                self._links[uid] = linked
                while len(self._links) > LINKS_KEPT:
                    del self._links[next(iter(self._links))]
            return linked
        return self._links.get(uid, uid) if uid else linked

    def on_event(self, msg: Message) -> None:
        """Fold one AMI event into its call's entry (keyed by Linkedid)."""
        name = msg.name
        if name not in (
            "Newchannel",
            "Newstate",
            "DialBegin",
            "DialEnd",
            "MessageWaiting",
            "Cdr",
            "Hangup",
        ):
            return
        key = self._link(msg)
        if not key:
            return
        done = key in self._done
        e = self._done[key] if done else self._open.get(key)
        if e is None:
            if name == "Cdr":
                self._late_cdr(key, msg)
                return
            e = CallEntry(call_id=key, start=self.clock())
        uid = msg.get("Uniqueid") or msg.get("UniqueID") or ""
        if name == "Newchannel":
            self._live.setdefault(key, set()).add(uid)
            first = uid == key or not uid  # the calling channel (Uniqueid = Linkedid)
            e = replace(
                e,
                caller=e.caller or (_number(msg.get("CallerIDNum")) if first else None),
                called=e.called or msg.get("Exten"),
                channel=e.channel or msg.get("Channel"),
            )
        elif name == "Newstate":
            if msg.get("ChannelState") == "6" and e.answer is None:
                e = replace(e, answer=self.clock())
        elif name == "DialBegin":
            if msg.get("Channel"):  # a channel dialled (an Originate's DialBegin has none)
                e = replace(e, dialled=(*e.dialled, msg.get("DialString") or ""))
        elif name == "DialEnd":
            if msg.get("Channel"):
                e = replace(e, dial_status=msg.get("DialStatus"))
        elif name == "MessageWaiting":
            if not msg.get("Channel"):
                return  # a mailbox count change (e.g. after intake), not a caller
            self._fallback.setdefault(key, "voicemail_left")
            e = replace(e, outcome=_left(e.outcome, key in self._service))
        elif name == "Cdr":
            disposition = msg.get("Disposition")
            if e.disposition != "ANSWERED" and disposition:
                e = replace(e, disposition=disposition)
        elif name == "Hangup":
            live = self._live.get(key)
            if live is not None:
                live.discard(uid)
            if uid == key and (caller := _number(msg.get("CallerIDNum"))):
                e = replace(e, caller=e.caller or caller)  # the calling channel's, known by now
            for var in msg.get_all("ChanVariable"):
                variable, _, value = var.partition("=")
                if variable == OUTCOME_VARIABLE and value:
                    self._fallback[key] = value
            if live:
                self._open[key] = e  # other channels of the call are still up
                return
            self._live.pop(key, None)
            e = replace(e, end=e.end or self.clock())
            self._finish(self._with_fallback(e))
            return
        if done:
            self._finish(e)
        else:
            self._open[key] = e

    def _late_cdr(self, key: str, msg: Message) -> None:
        """A Cdr of a call whose channels were never seen (e.g. before we connected)."""
        end = self.clock()
        duration = _int(msg.get("Duration"))
        billable = _int(msg.get("BillableSeconds"))
        answered = msg.get("Disposition") == "ANSWERED" or bool(msg.get("AnswerTime"))
        e = CallEntry(
            call_id=key,
            start=end - timedelta(seconds=duration),
            answer=end - timedelta(seconds=billable) if answered else None,
            end=end,
            caller=_number(msg.get("Source")),
            called=msg.get("Destination") or None,
            disposition=msg.get("Disposition"),
            channel=msg.get("Channel"),
            outcome="dialplan",
        )
        self._finish(e)

    def _with_fallback(self, e: CallEntry) -> CallEntry:
        """The outcome when the call has ended: the service's, unless the dialplan's fallback
        handled it (not the service at all, or after a hand-back)."""
        fallback = self._fallback.pop(e.call_id, None)
        if fallback is None:
            if e.outcome == "in_progress":
                return replace(e, outcome="dialplan")  # the dialplan alone, nothing reported
            return e
        if e.call_id in self._service and e.outcome in SERVICE_FINAL:
            return e
        if fallback == "fallback":  # the fallback began and got nowhere (e.g. CHANUNAVAIL)
            fallback = "no_answer"
        return replace(e, outcome=f"fallback_{fallback}")

    def on_call_done(
        self,
        call_id: str,
        *,
        caller: str | None,
        called: str | None,
        outcome: str,
        action: str | None,
        channel: str | None = None,
    ) -> CallEntry:
        """Add the service's outcome (and the decision's action) and write the entry.
        `call_id` is the AGI channel's Uniqueid: the entry is its call's (Linkedid)."""
        key = self.call_id(call_id)
        self._service.add(key)
        done = key in self._done
        e = self._done.get(key) if done else self._open.get(key)
        if e is None:
            e = CallEntry(call_id=key, start=self.clock())
        left = self._fallback.get(key) == "voicemail_left" and outcome in (
            "voicemail_empty",
            "caller_hung_up",
        )
        e = replace(
            e,
            caller=e.caller or caller,
            called=e.called or called,
            channel=e.channel or channel,
            outcome="voicemail_left" if left else outcome,
            action=action,
            interrupted=e.interrupted or outcome == "interrupted",
        )
        if done or key in self._orphans or key not in self._live:
            # Ended already, or its channels' events will not come (not seen, AMI lost).
            self._orphans.discard(key)
            self._live.pop(key, None)
            return self._finish(replace(e, end=e.end or self.clock()))
        self._open[key] = e
        self._write(e)  # written now; rewritten with its end when the last channel hangs up
        return e

    def interrupt_open(self, keep: Iterable[str] = ()) -> list[CallEntry]:
        """The link broke: calls still open (except `keep`, Uniqueids the controller will
        finish) are written as interrupted, so none is left hanging."""
        kept = {self.call_id(u) for u in keep}
        out = []
        for key in [k for k in self._open if k not in kept]:
            e = self._open.pop(key)
            self._live.pop(key, None)
            if key in self._service:  # the service had finished it: only its end is unknown
                out.append(self._finish(replace(e, end=e.end or self.clock())))
                continue
            out.append(self._finish(replace(e, outcome="interrupted", interrupted=True)))
        self._orphans |= kept & self._open.keys()
        return out

    @property
    def open_calls(self) -> int:
        """Calls seen on the wire and not finished yet."""
        return len(self._open)

    def _finish(self, e: CallEntry) -> CallEntry:
        self._open.pop(e.call_id, None)
        e = _ordered(e)
        self._done[e.call_id] = e
        while len(self._done) > DONE_KEPT:
            old = next(iter(self._done))
            del self._done[old]
            self._service.discard(old)
        self._write(e)
        return e

    def _write(self, entry: CallEntry) -> None:
        log.info(
            "call logged",
            extra={"call_id": entry.call_id, "outcome": entry.outcome, "action": entry.action},
        )
        if self.store is None:
            return
        # A newer state replaces one still waiting: only the newest needs writing.
        self._unwritten[entry.call_id] = entry
        if entry.call_id not in self._writers:
            task = asyncio.get_running_loop().create_task(self._writer(self.store, entry.call_id))
            self._writers[entry.call_id] = task

    async def _writer(self, store: CallLogStorage, call_id: str) -> None:
        """Write one call's states one at a time until none is waiting."""
        try:
            while (entry := self._unwritten.pop(call_id, None)) is not None:
                try:
                    await store.record(entry)
                    self.written += 1
                except (CallLogError, aiosqlite.Error) as exc:
                    log.error("call %s not logged: %s", call_id, exc)
        finally:
            # No await since the last pop: a state arriving from now on starts a new writer.
            self._writers.pop(call_id, None)

    async def flush(self) -> None:
        """Wait for every write under way (and the states queued behind them)."""
        while self._writers:
            await asyncio.gather(*list(self._writers.values()))


def _left(outcome: str, by_service: bool) -> str:
    """A MessageWaiting on the call's channel: a message was left. For a call the service
    handled that upgrades what it could not see (e.g. AsyncAGI loses the channel, and its
    VMSTATUS, when the caller hangs up); the fallback's calls get theirs at the end."""
    if by_service and outcome in ("in_progress", "voicemail_empty", "caller_hung_up", "message"):
        return "voicemail_left"
    return outcome


def _ordered(e: CallEntry) -> CallEntry:
    """start ≤ answer ≤ end, and the durations they give (billable from the answer)."""
    start, answer, end = e.start, e.answer, e.end
    if start is not None and end is not None and end < start:
        end = start
    if answer is not None:
        if start is not None and answer < start:
            answer = start
        if end is not None and answer > end:
            answer = end
    duration = billable = None
    if start is not None and end is not None:
        duration = int((end - start).total_seconds())
        billable = int((end - answer).total_seconds()) if answer is not None else 0
    return replace(
        e,
        answer=answer,
        end=end,
        duration_s=duration if duration is not None else e.duration_s,
        billable_s=billable if billable is not None else e.billable_s,
    )


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def _number(text: str | None) -> str | None:
    return None if not text or text == "<unknown>" else text
