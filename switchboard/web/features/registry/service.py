"""The register read and changed for the registrar: the lists (the queue, the classified
records by outcome, the ones owners deleted, the disposed ones, all; a date range, an order, a
search) paged with their true count, a record's audit trail, classification and the exports."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta

from aiohttp import web

from routing.models import Organisation
from routing.numbers import normalise
from switchboard.web import paging
from switchboard.web.core import services
from switchboard.web.errors import InvalidField, Unavailable
from switchboard.web.features.registry.schemas import (
    QUEUE_PAGE,
    SORTS,
    VIEWS,
    XLSX_TYPE,
    AuditEntry,
    ExportFile,
    Listing,
    QueuePage,
    QueueRow,
)
from switchboard.web.http import enum_field, text_field, text_problem
from switchboard.web.services import WebServices
from voicemail.exports import to_csv, to_json, to_xml
from voicemail.models import Classification, PublicRecord, RecordStatus
from voicemail.register import RecordFilter
from voicemail.service import Register
from voicemail.spreadsheets import to_excel_csv, to_xlsx


def register_of(svc: WebServices) -> Register:
    """The voicemail register, or Unavailable."""
    if svc.register is None:
        raise Unavailable("the voicemail register is not configured")
    return svc.register


REGISTRATION_NUMBER = re.compile(r"[^\W\d_]+-[^\W\d_]+-\d{4}-\d{6}")  # ALV-RÖST-2026-000042
MAX_PAGE = 100_000
MAX_PER_PAGE = 500
MAX_OWNERS = 200  # a name search matching more owners than this searches the text only
VIEW_STATUS: dict[str, RecordStatus | None] = {
    "waiting": RecordStatus.AWAITING_CLASSIFICATION,
    "classified": RecordStatus.CLASSIFIED,
    "hidden": None,  # every status: the ones owners deleted (hidden from them, kept: REC-04)
    "disposed": RecordStatus.DISPOSED,
    "all": None,
}


def read_listing(query: Mapping[str, str]) -> tuple[Listing, dict[str, str]]:
    """The list the query asks for and, per field, what is wrong with it (in Swedish; a wrong
    field is left out of the list, what was typed is kept by the page)."""
    problems: dict[str, str] = {}
    view = query.get("view") or "waiting"
    if view not in VIEWS:
        problems["view"] = "välj en av listorna i rullgardinen"
        view = "waiting"
    outcome: Classification | None = None
    if query.get("outcome"):
        try:
            outcome = Classification(query["outcome"])
        except ValueError:
            problems["outcome"] = "välj ett av utfallen i rullgardinen"
        if outcome is not None and view == "waiting":
            problems["outcome"] = (
                "ett meddelande som väntar har inget utfall än: välj ”Alla utfall” eller en"
                " annan lista"
            )
            outcome = None
    first, last = _day(query, "from", problems), _day(query, "to", problems)
    if first is not None and last is not None and last < first:
        problems["to"] = "slutdatumet ligger före startdatumet: ändra något av datumen"
        last = None
    sort = query.get("sort") or "oldest"
    if sort not in SORTS:
        problems["sort"] = "välj en av ordningarna i rullgardinen"
        sort = "oldest"
    text = (query.get("q") or "").strip()[:100]
    if text and text_problem(text) is not None:
        problems["q"] = "sök med vanlig text på en rad"
        text = ""
    page = paging.page_param(query, "page", MAX_PAGE, f"ange ett heltal mellan 1 och {MAX_PAGE}")
    per_page = paging.per_page_param(query, QUEUE_PAGE, MAX_PER_PAGE)
    return Listing(view, outcome, first, last, sort, text, page, per_page), problems


def _day(query: Mapping[str, str], name: str, problems: dict[str, str]) -> date | None:
    raw = (query.get(name) or "").strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        problems[name] = "ange datumet som år-månad-dag, till exempel 2026-11-24"
        return None
    if not 2000 <= day.year <= 2100:
        problems[name] = "ange ett datum mellan år 2000 och 2100"
        return None
    return day


async def list_page(svc: WebServices, listing: Listing) -> QueuePage:
    """One page of the list `listing` asks for, with the true count of all it matches: the
    queue longest-waiting first unless asked otherwise (REC-02)."""
    reg = register_of(svc)
    where = record_filter(svc.config.org, listing)
    records = await reg.store.records(where)
    if len(records) < listing.per_page and (records or where.offset == 0):
        total = where.offset + len(records)  # the last page: the count is known, no 2nd scan
    else:
        total = await reg.store.count_matching(where)
    now = svc.now()
    tz = svc.config.org.timezone
    rows = [QueueRow(r, _waited(r, now), tz) for r in records]
    return QueuePage(rows, total, listing.page, listing.per_page, listing.query, listing)


def record_filter(org: Organisation, listing: Listing) -> RecordFilter:
    """The register's question for `listing` (each view an indexed one, see register_schema)."""
    text = listing.query
    digits = sum(ch.isdigit() for ch in text)
    number = (
        normalise(text, org.plan)
        if digits >= 5 and all(ch.isdigit() or ch in "+-() " for ch in text)
        else None
    )  # "070-120 00 42" finds the caller stored as +46701200042
    owners: tuple[str, ...] = ()
    if len(text) >= 2 and not digits:  # "Anna" finds the mailbox of Anna Andersson
        folded = text.casefold()
        owners = tuple(u.id for u in org.directory.users if folded in u.name.casefold())
        owners = owners if len(owners) <= MAX_OWNERS else ()
    exact = text.upper() if REGISTRATION_NUMBER.fullmatch(text) else None
    tz = org.timezone
    return RecordFilter(
        status=VIEW_STATUS[listing.view],
        hidden_only=listing.view == "hidden",
        classification=listing.outcome,
        arrived_from=datetime.combine(listing.first, time(), tz) if listing.first else None,
        arrived_before=(
            datetime.combine(listing.last + timedelta(days=1), time(), tz) if listing.last else None
        ),
        registration_number=exact,  # a whole registration number: one index lookup
        text=(text or None) if exact is None else None,
        text_number=number,
        text_owners=owners,
        limit=listing.per_page,
        offset=(listing.page - 1) * listing.per_page,
        oldest_first=listing.sort == "oldest",
    )


def _waited(rec: PublicRecord, now: datetime) -> int:
    """How long a record waited: until it was classified, else until now (an arrival after
    `now`, the PBX's clock ahead of ours, has waited 0 s)."""
    end = rec.classified_at or now
    return int(max(0.0, (end - rec.arrived_at).total_seconds()))


async def queue_page(request: web.Request) -> QueuePage:
    """`?q=` (registration number, caller, mailbox owner, case or summary), `view=`, `outcome=`,
    `from=`/`to=` (local arrival dates), `sort=oldest|newest`, `page=` (from 1), `per_page=`
    (1–500): one page, with the total (the API: a wrong field is refused)."""
    listing, problems = read_listing(request.query)
    for name, problem in problems.items():
        raise InvalidField(name, problem)
    return await list_page(services(request), listing)


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
