"""Exports of the register: JSON, CSV, and XML shaped after ERMS (FGS Ärendehantering).

Pure functions of records. Nothing here reads the directory, so no personal identity number
can reach an export (HAL-10). Caller names and numbers come from outside (the telephone
network), so every export defuses what they may carry: a CSV cell that a spreadsheet would run
as a formula gets a leading `'`, and the XML holds only characters XML 1.0 allows.
"""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from voicemail.models import Classification, PublicRecord

EXPORT_FIELDS: tuple[str, ...] = (
    "registration_number",
    "arrived_at",
    "arrived_local",
    "registered_at",
    "mailbox",
    "mailbox_number",
    "caller_number",
    "caller_name",
    "duration_s",
    "sha256",
    "status",
    "classification",
    "case_reference",
    "summary",
    "classified_at",
    "classified_by",
    "disposed_at",
    "disposal_rule",
    "msg_id",
)

CLASSIFICATION_SV: dict[Classification, str] = {
    Classification.PUBLIC_REGISTERED: "Allmän handling, registrerad i ärende",
    Classification.PUBLIC_MINOR: "Allmän handling av ringa betydelse, ej registrerad",
    Classification.NOT_PUBLIC_INTERNAL: "Ej allmän handling: intern",
    Classification.NOT_PUBLIC_PRIVATE: "Ej allmän handling: privat",
    Classification.NOT_PUBLIC_OTHER_CAPACITY: "Ej allmän handling: mottagen i annan egenskap",
}

ERMS_NS = "https://DILCIS.eu/XML/ERMS"

# A cell starting with one of these is a formula (or becomes one) in Excel and LibreOffice.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# What XML 1.0 forbids: C0 controls but tab, LF and CR; surrogates; U+FFFE and U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def csv_cell(value: object) -> object:
    """A value as a CSV cell no spreadsheet runs: text starting `= + - @`, tab or CR gets a
    leading `'` (shown as text, the `'` hidden); a lone surrogate becomes U+FFFD."""
    if not isinstance(value, str):
        return value
    value = _SURROGATE.sub(REPLACEMENT, value)
    return "'" + value if value.startswith(FORMULA_START) else value


def xml_text(value: str) -> str:
    """Text XML 1.0 can hold: each forbidden character (e.g. \\x0b) becomes U+FFFD."""
    return _NOT_XML.sub(REPLACEMENT, value)


def local_iso(dt: datetime | None, tz: ZoneInfo) -> str | None:
    """ISO 8601 in the organisation's zone, with its offset (REC-05)."""
    return dt.astimezone(tz).isoformat() if dt is not None else None


def local_text(dt: datetime, tz: ZoneInfo) -> str:
    """Swedish display form, e.g. '2026-11-23 17.04'."""
    return dt.astimezone(tz).strftime("%Y-%m-%d %H.%M")


def record_json(r: PublicRecord, tz: ZoneInfo) -> dict[str, object]:
    """One record as the export's JSON object (field names are a contract)."""
    return {
        "registration_number": r.registration_number,
        "arrived_at": local_iso(r.arrived_at, tz),
        "arrived_local": local_text(r.arrived_at, tz),
        "registered_at": local_iso(r.registered_at, tz),
        "mailbox": r.owner_id,
        "mailbox_number": r.mailbox,
        "caller_number": r.caller_number,
        "caller_name": r.caller_name,
        "duration_s": r.duration_s,
        "sha256": r.sha256,
        "status": r.status.value,
        "classification": r.classification.value if r.classification else None,
        "case_reference": r.case_reference,
        "summary": r.summary,
        "classified_at": local_iso(r.classified_at, tz),
        "classified_by": r.classified_by,
        "disposed_at": local_iso(r.disposed_at, tz),
        "disposal_rule": r.disposal_rule,
        "msg_id": r.msg_id,
    }


def to_json(records: Sequence[PublicRecord], tz: ZoneInfo) -> str:
    """A JSON array of every record."""
    rows = [
        {k: _SURROGATE.sub(REPLACEMENT, v) if isinstance(v, str) else v for k, v in row.items()}
        for row in (record_json(r, tz) for r in records)
    ]
    return json.dumps(rows, ensure_ascii=False, indent=2)


def to_csv(records: Sequence[PublicRecord], tz: ZoneInfo) -> str:
    """CSV with a header row, the same columns as the JSON export (formula-safe cells)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=EXPORT_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for r in records:
        row = record_json(r, tz)
        writer.writerow({k: "" if row[k] is None else csv_cell(row[k]) for k in EXPORT_FIELDS})
    return buf.getvalue()


def _title(r: PublicRecord, tz: ZoneInfo) -> str:
    if r.summary:
        return r.summary
    sender = r.caller_name or r.caller_number or "okänd avsändare"
    return f"Röstmeddelande från {sender} {local_text(r.arrived_at, tz)}"


def to_xml(records: Sequence[PublicRecord], tz: ZoneInfo, organisation: str, org_code: str) -> str:
    """ERMS-shaped XML: direction, received date, number, sender, title, classification."""
    ET.register_namespace("", ERMS_NS)

    def el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        clean = {k: xml_text(v) for k, v in attrs.items()}
        child = ET.SubElement(parent, f"{{{ERMS_NS}}}{tag}", clean)
        if text is not None:
            child.text = xml_text(text)
        return child

    root = ET.Element(f"{{{ERMS_NS}}}erms")
    control = el(root, "control")
    el(control, "identification", organisation, identificationType="arkivbildare")
    el(control, "identification", org_code, identificationType="diariekod")
    out = el(root, "records")
    for r in records:
        rec = el(out, "record", recordType="röstmeddelande")
        el(rec, "objectId", r.registration_number)
        if r.msg_id:
            el(rec, "extraId", r.msg_id, extraIdType="deliveringSystemId")
        el(rec, "title", _title(r, tz))
        el(rec, "status", value="obliterated" if r.disposed_at else "closed")
        el(rec, "direction", directionDefinition="incoming")
        agents = el(rec, "agents")
        sender = el(agents, "agent", agentType="sender")
        el(sender, "name", r.caller_name or r.caller_number or "okänd")
        if r.caller_number:
            contact = el(sender, "contactInformation")
            el(contact, "contactLine", r.caller_number, contactLineType="phone")
        if r.owner_id:
            el(el(agents, "agent", agentType="receiver"), "name", r.owner_id)
        dates = el(rec, "dates")
        el(dates, "date", local_iso(r.arrived_at, tz), dateType="received")
        el(dates, "date", local_iso(r.registered_at, tz), dateType="registered")
        if r.classification is not None:
            notes = el(rec, "notes")
            el(
                notes,
                "note",
                CLASSIFICATION_SV[r.classification],
                noteType="classification",
                code=r.classification.value,
            )
            if r.case_reference:
                el(rec, "relation", r.case_reference, relationType="reference")
        el(rec, "checksum", r.sha256, algorithm="SHA-256")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
