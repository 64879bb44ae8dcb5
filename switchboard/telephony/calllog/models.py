"""What the call log holds: one `CallEntry` per call (ALV-18) and threat `Incident`s (ALV-20).

Times are stored as UTC ISO 8601 text with milliseconds (`db_time`): fixed width, so text order
is time order on both engines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime


def db_time(dt: datetime | None) -> str | None:
    """A time as stored: UTC ISO 8601 with milliseconds (fixed width: text order = time order)."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        raise ValueError("call-log times must be timezone-aware")
    return dt.astimezone(UTC).isoformat(timespec="milliseconds")


def from_db(text: str | None) -> datetime | None:
    """A stored time back as a datetime (None for none)."""
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


def incident_reference(org_code: str, next_id: int, now: datetime) -> str:
    """`<ORG>-HOT-<year>-<NNNN>`."""
    return f"{org_code}-HOT-{now.year}-{next_id:04d}"
