"""The register read and changed for the registrar: the queue searched and paged, a record's
audit trail, classification and the exports."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time, timedelta

from aiohttp import web

from routing.numbers import normalise
from switchboard.web.core import services
from switchboard.web.errors import InvalidField, Unavailable
from switchboard.web.features.registry.schemas import (
    QUEUE_PAGE,
    XLSX_TYPE,
    AuditEntry,
    ExportFile,
    QueuePage,
    QueueRow,
)
from switchboard.web.http import enum_field, int_query, text_field, text_problem
from switchboard.web.services import WebServices
from voicemail.exports import to_csv, to_json, to_xml
from voicemail.models import Classification, PublicRecord
from voicemail.register import RecordFilter
from voicemail.service import Register
from voicemail.spreadsheets import to_excel_csv, to_xlsx


def register_of(svc: WebServices) -> Register:
    """The voicemail register, or Unavailable."""
    if svc.register is None:
        raise Unavailable("the voicemail register is not configured")
    return svc.register


async def queue_page(request: web.Request) -> QueuePage:
    """`?q=` (registration number, caller, mailbox, case or summary), `page=` (from 1),
    `per_page=` (1–500): one page of the queue, longest-waiting first, with the total."""
    svc = services(request)
    reg = register_of(svc)
    query = (request.query.get("q") or "").strip()[:100]
    if query and text_problem(query) is not None:
        raise InvalidField("q", "sök med vanlig text på en rad")
    per_page = int_query(request, "per_page", QUEUE_PAGE, 1, 500)
    page = int_query(request, "page", 1, 1, 100_000)
    digits = sum(ch.isdigit() for ch in query)
    number = (
        normalise(query, svc.config.org.plan)
        if digits >= 5 and all(ch.isdigit() or ch in "+-() " for ch in query)
        else None
    )  # "070-120 00 42" finds the caller stored as +46701200042
    items, total = await reg.queue_page(
        svc.now(), query, (page - 1) * per_page, per_page, text_number=number
    )
    tz = svc.config.org.timezone
    rows = [QueueRow(item.record, int(item.waiting_s), tz) for item in items]
    return QueuePage(rows, total, page, per_page, query)


async def audit_trail(svc: WebServices, ref: str) -> list[AuditEntry]:
    """A record's audit trail, oldest first."""
    reg = register_of(svc)
    rec = await reg.get(ref)
    tz = svc.config.org.timezone
    return [AuditEntry(ev, ev.at.astimezone(tz)) for ev in await reg.store.events(rec.id)]


async def classify_record(
    svc: WebServices, ref: str, actor: str, data: dict[str, object]
) -> PublicRecord:
    """Classify through the register; the record as it is now."""
    classification = enum_field(data, "classification", Classification, required=True)
    assert classification is not None
    return await register_of(svc).classify(
        ref,
        classification,
        actor,
        svc.now(),
        summary=text_field(data, "summary", max_len=500, multiline=True),
        case_reference=text_field(data, "case_reference", max_len=100),
    )


async def export(
    svc: WebServices, fmt: str, year: int | None, first: date | None, last: date | None
) -> ExportFile:
    """The register (records arrived from `first` to `last`, local dates, both included) in
    one of the formats: `excel` is CSV for Swedish Excel (`;`, UTF-8 with BOM), `xlsx` a
    workbook."""
    org = svc.config.org
    start = datetime.combine(first, time(), org.timezone) if first else None
    end = datetime.combine(last + timedelta(days=1), time(), org.timezone) if last else None
    records = await register_of(svc).records(
        RecordFilter(year=year, arrived_from=start, arrived_before=end)
    )
    body: bytes
    if fmt in ("excel", "xlsx"):
        names = {u.id: u.name for u in svc.config.directory.users}
        if fmt == "excel":
            body, ctype, ext = to_excel_csv(records, org.timezone, names), "text/csv", "csv"
        else:
            body = await asyncio.to_thread(to_xlsx, records, org.timezone, names)
            ctype, ext = XLSX_TYPE, "xlsx"
    elif fmt == "csv":
        body, ctype, ext = to_csv(records, org.timezone).encode(), "text/csv", fmt
    elif fmt == "xml":
        text = to_xml(records, org.timezone, org.name, org.code)
        body, ctype, ext = text.encode(), "application/xml", fmt
    else:
        body, ctype, ext = to_json(records, org.timezone).encode(), "application/json", fmt
    span = f"-{first or ''}--{last or ''}" if first or last else ""
    name = f"{org.code}-register{'-' + str(year) if year else ''}{span}.{ext}"
    return ExportFile(body, ctype, name, binary=ext == "xlsx")
