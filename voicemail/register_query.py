"""How a register question becomes SQL: the registrar's search and filters (`RecordFilter`)
as WHERE conditions, the page of records and the count of all that match."""

from __future__ import annotations

from voicemail.models import (
    RecordStatus,
)
from voicemail.register import RecordFilter, to_db_time
from voicemail.register_schema import (
    RECORD_COLUMNS,
)

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
    sql = f"SELECT {RECORD_COLUMNS} FROM records"
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
    if where.hidden_only:
        conds.append("hidden_from_owner = 1")
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
    if where.registration_number is not None:
        conds.append("registration_number = ?")
        params.append(where.registration_number)
    if where.text:
        # LOWER() folds a–z only (SQLite; PostgreSQL under the C locale): a search with capitals
        # is tried as typed too, so "Örjan" finds Örjan although "örjan" may not. A column
        # at a time, no COALESCE (NULL matches nothing): the cheapest form on both engines
        # (a row's columns joined into one text is slower). The owners are those whose name
        # matched the search (the directory knows names, the register only ids).
        folded, typed = _like(where.text.lower()), _like(where.text)
        alternatives = [f"LOWER({c}) LIKE ? ESCAPE '\\'" for c in SEARCHED]
        params.extend(folded for _ in SEARCHED)
        if typed != folded:
            alternatives += [f"{c} LIKE ? ESCAPE '\\'" for c in SEARCHED]
            params.extend(typed for _ in SEARCHED)
        if where.text_number:
            alternatives.append("caller_number LIKE ? ESCAPE '\\'")
            params.append(_like(where.text_number))
        if where.text_owners:
            alternatives.append(f"owner_id IN ({', '.join('?' for _ in where.text_owners)})")
            params.extend(where.text_owners)
        conds.append("(" + " OR ".join(alternatives) + ")")
    return conds, params
