"""The call log's request shapes: the IT role's filter and the threat report's body."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

CALL_QUERY = {
    "since": "ISO 8601 time (local without offset)",
    "until": "ISO 8601 time (local without offset)",
    "number": "digits that must occur in the caller, called or dialled number",
    "limit": "at most this many calls (default 1000)",
}
THREAT_BODY = {"type": "object", "required": ["note"], "properties": {"note": {"type": "string"}}}


@dataclass(frozen=True, slots=True)
class CallQuery:
    """The IT role's call-log filter: [since, until) as instants, a number, a limit."""

    since: datetime | None
    until: datetime | None
    number: str | None
    limit: int
