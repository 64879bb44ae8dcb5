"""The register's shapes: a queue row and page, an audit entry, an export file; the
classification body's schema."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from switchboard.web.paging import Page, page_of
from voicemail.exports import local_text, record_json
from voicemail.models import AuditEvent, Classification, PublicRecord

QUEUE_PAGE = 50
EXPORT_FORMATS = ("json", "csv", "xml", "excel", "xlsx")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CLASSIFY_BODY = {
    "type": "object",
    "required": ["classification", "summary"],
    "properties": {
        "classification": {"type": "string", "enum": [c.value for c in Classification]},
        "summary": {"type": "string"},
        "case_reference": {"type": "string"},
    },
}


def record_view(rec: PublicRecord, tz: ZoneInfo) -> dict[str, object]:
    """One record as the API returns it: the export's fields and its id."""
    return record_json(rec, tz) | {"id": rec.id}


@dataclass(frozen=True, slots=True)
class QueueRow:
    """A record awaiting classification and how long it has waited."""

    record: PublicRecord
    waiting_s: int
    tz: ZoneInfo

    @property
    def arrived_local(self) -> str:
        """When it came in, as the page shows it ('2026-11-23 17.04')."""
        return local_text(self.record.arrived_at, self.tz)

    def as_json(self) -> dict[str, object]:
        """The record's fields, its id and the seconds it has waited."""
        return record_view(self.record, self.tz) | {"waiting_s": self.waiting_s}


# The registrar's lists (`view`): the queue, the classified records, the ones owners deleted
# (hidden from them, kept here: REC-04), the disposed ones, and all.
VIEWS = ("waiting", "classified", "hidden", "disposed", "all")
SORTS = ("oldest", "newest")


@dataclass(frozen=True, slots=True)
class Listing:
    """What the registrar asked to see: a view, an outcome, an arrival date range (local dates,
    both included), the order, a search and the page; `params` puts it back in a URL."""

    view: str = "waiting"
    outcome: Classification | None = None
    first: date | None = None
    last: date | None = None
    sort: str = "oldest"
    query: str = ""
    page: int = 1
    per_page: int = QUEUE_PAGE

    def params(self, page: int | None = None) -> dict[str, str]:
        """The query parameters that ask for this list again (at `page`); defaults left out."""
        out = {
            "view": self.view if self.view != "waiting" else "",
            "outcome": self.outcome.value if self.outcome else "",
            "from": self.first.isoformat() if self.first else "",
            "to": self.last.isoformat() if self.last else "",
            "sort": self.sort if self.sort != "oldest" else "",
            "q": self.query,
            "per_page": str(self.per_page) if self.per_page != QUEUE_PAGE else "",
            "page": str(page or self.page) if (page or self.page) > 1 else "",
        }
        return {k: v for k, v in out.items() if v}


@dataclass(frozen=True, slots=True)
class QueuePage:
    """One page of the classification queue (or another of the registrar's lists) and what it
    is a page of."""

    items: list[QueueRow]
    total: int
    page: int
    per_page: int
    query: str
    listing: Listing = Listing()

    @property
    def paging(self) -> Page:
        """Where this page is among the pages of the list (`page` as asked: may be past the
        end, then `items` is empty)."""
        return page_of(self.total, self.page, self.per_page)

    def as_json(self) -> dict[str, object]:
        """GET /api/registry/queue."""
        return {
            "queue": [i.as_json() for i in self.items],
            "total": self.total,
            "page": self.page,
            "per_page": self.per_page,
            "view": self.listing.view,
            "sort": self.listing.sort,
        }


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One event of a record's audit trail, its time in the organisation's zone."""

    event: AuditEvent
    at: datetime

    def as_json(self) -> dict[str, object]:
        """The trail's object (`before` and `after` as stored)."""
        ev = self.event
        return {
            "seq": ev.seq,
            "at": self.at.isoformat(),
            "actor": ev.actor,
            "action": ev.action,
            "before": ev.before,
            "after": ev.after,
            "hash": ev.hash,
        }


@dataclass(frozen=True, slots=True)
class ExportFile:
    """An export of the register: its bytes, content type and file name."""

    body: bytes
    content_type: str
    name: str
    binary: bool
