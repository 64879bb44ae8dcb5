"""What every engine of the register runs alike (`SharedRegister`): intake in batches with
its audit events, classification, playback marks, disposal, sealing and verifying the audit
chain — over the small `storage.db.Db` interface, so SQLite and PostgreSQL share every line."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from storage.db import Db
from voicemail.audit import GENESIS
from voicemail.errors import StorageError
from voicemail.models import (
    AuditEvent,
    NewRecord,
    PublicRecord,
    RecordStatus,
)
from voicemail.register import MIGRATION_ACTOR, RecordFilter
from voicemail.register_query import TextSearch, count_query, record_query
from voicemail.register_schema import INSERT_COLUMNS
from voicemail.register_sql import (
    CONTENTS_SQL,
    DROP_PENDING_SEAL_SQL,
    ENSURE_ID_SQL,
    ENSURE_SERIES_SQL,
    EVENT_COLUMNS,
    GET_BY_NUMBER_SQL,
    GET_HEAD_SQL,
    GET_ID_SQL,
    GET_PENDING_SEAL_SQL,
    GET_RECORD_SQL,
    INSERT_EVENT_SQL,
    INSERT_EVENTS_SQL,
    INSERT_RECORDS_SQL,
    KEYS_IN_SQL,
    LAST_EVENT_SQL,
    MESSAGES_IN_SQL,
    RESERVE_SEQ_SQL,
    SET_HEAD_SQL,
    audited_change,
    check_new_record,
    link_event,
    received_after,
    received_record,
    record_params,
    registration_number,
    row_chunks,
    row_content,
    row_to_event,
    row_to_record,
    update_statement,
    values_clause,
)


class SharedRegister:
    """The `RegisterStore` methods both engines run alike, over `sql` (a `Db`).

    An engine supplies `sql`, `_known` and its plumbing (open, close, migrations); on
    PostgreSQL every transaction that appends to the chain takes the advisory lock `chain_lock`
    and a record being updated is read `FOR UPDATE`.
    """

    chain_lock: str | None = None
    for_update = ""
    text_search: TextSearch = "fts5"  # how free text is searched (PostgreSQL: its index or a scan)

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
            for chunk in row_chunks(rows, len(INSERT_COLUMNS)):
                sql = INSERT_RECORDS_SQL.format(
                    values=values_clause(len(INSERT_COLUMNS), len(chunk))
                )
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
            for chunk in row_chunks(events, 9):
                sql = INSERT_EVENTS_SQL.format(values=values_clause(9, len(chunk)))
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
        sql, params = record_query(where, self.text_search)
        return [row_to_record(r) for r in await self.sql.fetch(sql, params)]

    async def count_matching(self, where: RecordFilter) -> int:
        """How many records the filter matches (its limit and offset aside)."""
        sql, params = count_query(where, self.text_search)
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
