"""The call log's request shapes: the IT role's filter (paged for the API) and the threat
report's body."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

CALL_QUERY = {
    "since": "ISO 8601 time (local without offset)",
    "until": "ISO 8601 time (local without offset)",
    "number": "digits that must occur in the caller, called or dialled number",
    "limit": "at most this many calls (default 1000): the newest of the filter",
}
API_PER_PAGE = 100
API_MAX_PER_PAGE = 1000
# GET /api/calls pages the calls of the filter (the CSV has them all, up to `limit`)
CALL_PAGE_QUERY = {
    **CALL_QUERY,
    "page": "from 1 (default 1); past the last page `calls` is empty",
    "per_page": f"calls per page, 1-{API_MAX_PER_PAGE} (default {API_PER_PAGE})",
}
THREAT_BODY = {"type": "object", "required": ["note"], "properties": {"note": {"type": "string"}}}


@dataclass(frozen=True, slots=True)
class CallQuery:
    """The IT role's call-log filter: [since, until) as instants, a number, a limit."""

    since: datetime | None
    until: datetime | None
    number: str | None
    limit: int
