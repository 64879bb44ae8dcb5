"""The register for people's spreadsheets: Swedish Excel CSV and XLSX.

Swedish Excel opens a CSV with semicolons as separators (the comma is the decimal sign) and
reads it as UTF-8 only when the file starts with a byte order mark; without both, the
machine-readable CSV export (`exports.to_csv`, a contract) opens as one column of mojibake. These
exports are for reading, so their headings are Swedish, times are local, numbers are in national
form and the mailbox shows its owner's name when the caller passes the names. Cells stay
formula-safe (`exports.csv_cell`), and the XLSX holds real dates and numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from routing.numbers import national_format
from voicemail.exports import CLASSIFICATION_SV, REPLACEMENT, csv_cell
from voicemail.models import PublicRecord, RecordStatus

STATUS_SV: dict[RecordStatus, str] = {
    RecordStatus.AWAITING_CLASSIFICATION: "Väntar på klassificering",
    RecordStatus.CLASSIFIED: "Klassificerad",
    RecordStatus.DISPOSED: "Gallrad",
}

# (heading, width in characters for the XLSX, value of a record)
Column = tuple[str, int, Callable[[PublicRecord, ZoneInfo, Mapping[str, str]], object]]


def _local(dt: datetime | None, tz: ZoneInfo) -> datetime | None:
    return dt.astimezone(tz).replace(tzinfo=None) if dt is not None else None


def _number(number: str | None) -> str:
    return national_format(number) if number else ""


COLUMNS: tuple[Column, ...] = (
    ("Diarienummer", 18, lambda r, tz, n: r.registration_number),
    ("Inkom", 17, lambda r, tz, n: _local(r.arrived_at, tz)),
    ("Brevlåda", 24, lambda r, tz, n: n.get(r.owner_id or "", r.owner_id or r.mailbox)),
    ("Brevlådans nummer", 12, lambda r, tz, n: r.mailbox),
    ("Uppringare", 18, lambda r, tz, n: _number(r.caller_number)),
    ("Uppringarens namn", 24, lambda r, tz, n: r.caller_name or ""),
    ("Längd (s)", 10, lambda r, tz, n: r.duration_s),
    ("Status", 24, lambda r, tz, n: STATUS_SV[r.status]),
    (
        "Klassificering",
        44,
        lambda r, tz, n: CLASSIFICATION_SV[r.classification] if r.classification else "",
    ),
    ("Ärende", 16, lambda r, tz, n: r.case_reference or ""),
    ("Sammanfattning", 48, lambda r, tz, n: r.summary or ""),
    ("Klassificerad", 17, lambda r, tz, n: _local(r.classified_at, tz)),
    ("Klassificerad av", 18, lambda r, tz, n: r.classified_by or ""),
    ("Gallrad", 17, lambda r, tz, n: _local(r.disposed_at, tz)),
    ("SHA-256", 20, lambda r, tz, n: r.sha256),
)


def _rows(
    records: Sequence[PublicRecord], tz: ZoneInfo, names: Mapping[str, str]
) -> list[list[object]]:
    return [[value(r, tz, names) for _h, _w, value in COLUMNS] for r in records]


def to_excel_csv(
    records: Sequence[PublicRecord], tz: ZoneInfo, names: Mapping[str, str] | None = None
) -> bytes:
    """CSV that Swedish Excel opens as columns: UTF-8 with BOM, `;`, CRLF, Swedish headings."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    writer.writerow([h for h, _w, _v in COLUMNS])
    for row in _rows(records, tz, names or {}):
        writer.writerow(
            [
                ""
                if v is None
                else v.strftime("%Y-%m-%d %H:%M")
                if isinstance(v, datetime)
                else csv_cell(v)
                for v in row
            ]
        )
    return "\ufeff".encode() + buf.getvalue().encode("utf-8", errors="replace")


def _xlsx_cell(value: object) -> str | int | float | datetime | None:
    if isinstance(value, str):
        # openpyxl refuses control characters; a formula-looking text stays text
        text = "".join(c if c >= " " or c in "\t\n" else REPLACEMENT for c in value)
        return str(csv_cell(text))
    if value is None or isinstance(value, int | float | datetime):
        return value
    return str(value)


def to_xlsx(
    records: Sequence[PublicRecord],
    tz: ZoneInfo,
    names: Mapping[str, str] | None = None,
    title: str = "Röstmeddelanden",
) -> bytes:
    """An Excel workbook: one sheet, bold frozen headings, real dates and numbers."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.freeze_panes = "A2"
    for i, (_h, width, _v) in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    bold = Font(bold=True)
    heading = []
    for h, _w, _v in COLUMNS:
        cell = WriteOnlyCell(sheet, value=h)
        cell.font = bold
        heading.append(cell)
    sheet.append(heading)
    for row in _rows(records, tz, names or {}):
        cells = []
        for v in row:
            cell = WriteOnlyCell(sheet, value=_xlsx_cell(v))
            if isinstance(v, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
