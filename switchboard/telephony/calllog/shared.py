"""What the call log offers (`CallLogStorage`), and its methods written once for both engines.

`SharedCallLog` runs the statements of `calllog.schema` over a `storage.db.Db`; an engine
(`calllog.store` for SQLite, `calllog.pg` for PostgreSQL) supplies the connection, opening and
migrations. A call's row is written with one upsert, so a rewrite is atomic on both engines.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol, Self

from storage.db import Db
from switchboard.telephony.calllog.errors import UnknownCall
from switchboard.telephony.calllog.export import calls_csv
from switchboard.telephony.calllog.models import CallEntry, Incident, db_time, incident_reference
from switchboard.telephony.calllog.records import RecordSource, ServiceRecords
from switchboard.telephony.calllog.schema import (
    ALL_CALLS_SQL,
    GET_CALL_SQL,
    INCIDENTS_SQL,
    INSERT_INCIDENT_SQL,
    NEXT_INCIDENT_SQL,
    OUTCOME_COUNTS_SQL,
    UPSERT_CALL_SQL,
    entry_params,
    query_sql,
    row_entry,
    row_incident,
)

log = logging.getLogger("switchboard.telephony.calllog")

OUTCOME_OF_SQL = "SELECT outcome FROM calls WHERE call_id = ?"  # by the key: one row


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

    async def outcome_tally(self) -> dict[str, int]:
        """How many calls per outcome, counted once and then kept as this store writes."""

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


class SharedCallLog(ServiceRecords):
    """The `CallLogStorage` methods both engines run alike, over `sql` (a `storage.db.Db`).

    An engine supplies `sql` and its plumbing (open, close, migrations); on PostgreSQL incident
    numbering takes the advisory lock `incident_lock`, so two nodes never share a reference.
    """

    org_code: str
    incident_lock: str | None = None
    _outcomes: dict[str, int] | None = None  # the outcome tally, once `outcome_tally` began it

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
        """Insert or replace one call's entry (one upsert). Once the outcome tally is kept, the
        call's previous outcome is read by its key first, and the tally moves after the commit."""
        params = entry_params(entry)
        tally = self._outcomes
        async with self.sql.transaction() as tx:
            before = (
                await tx.fetchone(OUTCOME_OF_SQL, (entry.call_id,)) if tally is not None else None
            )
            await tx.execute(UPSERT_CALL_SQL, params)
        if tally is not None:
            if before is not None and (old := str(before[0])) in tally:
                tally[old] -= 1
                if not tally[old]:
                    del tally[old]
            tally[entry.outcome] = tally.get(entry.outcome, 0) + 1

    async def get(self, call_id: str) -> CallEntry | None:
        """One call by its id (the platform's Linkedid/Uniqueid), or None."""
        row = await self.sql.fetchone(GET_CALL_SQL, (call_id,))
        return row_entry(row) if row is not None else None

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
        return [row_entry(r) for r in await self.sql.fetch(sql, params)]

    async def calls(self) -> list[Mapping[str, object]]:
        """Every call oldest first as JSON dicts (the web layer's `CallLogSource`)."""
        return [row_entry(r).as_json() for r in await self.sql.fetch(ALL_CALLS_SQL)]

    async def outcome_counts(self) -> dict[str, int]:
        """How many calls the log holds per outcome (counted by the database: one GROUP BY)."""
        return {str(outcome): int(n) for outcome, n in await self.sql.fetch(OUTCOME_COUNTS_SQL)}

    async def outcome_tally(self) -> dict[str, int]:
        """The same counts for /metrics without a table read per scrape: the first call counts
        in the database (one GROUP BY, in a transaction, so on SQLite no write of this store
        falls between the count and the tally); from then on `record` moves the tally, a call
        counting once under its newest outcome (a row is rewritten as the call goes on).
        On PostgreSQL, writes by other nodes after the first count are not seen."""
        if self._outcomes is None:
            async with self.sql.transaction() as tx:
                rows = await tx.fetch(OUTCOME_COUNTS_SQL)
            if self._outcomes is None:
                self._outcomes = {str(outcome): int(n) for outcome, n in rows}
        return dict(self._outcomes)

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
