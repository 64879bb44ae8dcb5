"""The call log as CSV for a spreadsheet (ALV-18: IT's export)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from switchboard.telephony.calllog.models import CallEntry

CSV_FIELDS = (
    "call_id",
    "start",
    "answer",
    "end",
    "duration_s",
    "billable_s",
    "caller",
    "called",
    "dialled",
    "outcome",
    "action",
    "disposition",
    "dial_status",
    "interrupted",
)


def calls_csv(entries: Iterable[CallEntry]) -> str:
    """Entries as CSV text for a spreadsheet (CRLF lines, header row; dialled numbers
    space-separated)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for entry in entries:
        data = entry.as_json()
        row: list[object] = []
        for name in CSV_FIELDS:
            value = data.get(name)
            if isinstance(value, list):
                value = " ".join(str(v) for v in value)
            row.append("" if value is None else value)
        writer.writerow(row)
    return buf.getvalue()
