"""The register's shapes: a queue row and page, an audit entry, an export file; the
classification body's schema."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

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


@dataclass(frozen=True, slots=True)
class QueuePage:
    """One page of the classification queue and what it is a page of."""

    items: list[QueueRow]
    total: int
    page: int
    per_page: int
    query: str

    def as_json(self) -> dict[str, object]:
        """GET /api/registry/queue."""
        return {
            "queue": [i.as_json() for i in self.items],
            "total": self.total,
            "page": self.page,
            "per_page": self.per_page,
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
