"""Exports of the register (REC-01, ALV-15): the arrival time is the arrival, in every format."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from vmkit import LATER, STHLM, message_txt, put_message
from vmkit import wav_bytes as wav

from voicemail import exports
from voicemail.intake import SpoolIntake
from voicemail.models import PublicRecord, RecordStatus
from voicemail.service import Register

ERMS = {"e": exports.ERMS_NS}
ARRIVED = datetime(2026, 11, 23, 16, 4, 10, tzinfo=UTC)  # Monday 17.04.10 in Stockholm
ARRIVED_ISO = "2026-11-23T17:04:10+01:00"
ARRIVED_LOCAL = "2026-11-23 17.04"
PLAYED = datetime(2026, 11, 26, 8, 30, tzinfo=UTC)  # three days later: 09.30 in Stockholm
# (arrival ISO, arrival local text) per record, in export order
Arrivals = list[tuple[str | None, str | None]]


def arrivals_json(records: Sequence[PublicRecord]) -> Arrivals:
    """Arrival fields as the JSON export shows them."""
    rows = json.loads(exports.to_json(records, STHLM))
    return [(row["arrived_at"], row["arrived_local"]) for row in rows]


def arrivals_csv(records: Sequence[PublicRecord]) -> Arrivals:
    """Arrival fields as the CSV export shows them."""
    rows = csv.DictReader(io.StringIO(exports.to_csv(records, STHLM)))
    return [(row["arrived_at"], row["arrived_local"]) for row in rows]


def arrivals_xml(records: Sequence[PublicRecord]) -> Arrivals:
    """The ERMS `received` date, and the arrival as the generated title (no summary) states it."""
    root = ET.fromstring(exports.to_xml(records, STHLM, "Älvkarleby kommun", "ALV").encode())
    out: Arrivals = []
    for rec in root.findall("e:records/e:record", ERMS):
        received = rec.findtext("e:dates/e:date[@dateType='received']", namespaces=ERMS)
        title = rec.findtext("e:title", namespaces=ERMS) or ""
        out.append((received, title[-len(ARRIVED_LOCAL) :]))
    return out


FORMATS: dict[str, Callable[[Sequence[PublicRecord]], Arrivals]] = {
    "json": arrivals_json,
    "csv": arrivals_csv,
    "xml": arrivals_xml,
}


def played_record() -> PublicRecord:
    """A record that arrived at ARRIVED, was registered a little later and first heard at PLAYED."""
    return PublicRecord(
        id=1,
        registration_number="ALV-RÖST-2026-000001",
        intake_key="1795449850-00000000",
        msg_id="1795449850-00000000",
        arrived_at=ARRIVED,
        registered_at=ARRIVED + timedelta(seconds=7),
        context="default",
        mailbox="83012",
        owner_id="anna.andersson",
        caller_raw='"Örjan Öst" <0701234567>',
        caller_number="+46701234567",
        caller_name="Örjan Öst",
        duration_s=9,
        sha256="0" * 64,
        audio_bytes=10,
        audio_format="wav",
        status=RecordStatus.AWAITING_CLASSIFICATION,
        first_heard_at=PLAYED,
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_rec01_alv15_export_shows_arrival_not_first_playback(fmt: str) -> None:
    """REC-01 / ALV-15: a record played days after it arrived exports its arrival time."""
    assert FORMATS[fmt]([played_record()]) == [(ARRIVED_ISO, ARRIVED_LOCAL)]


async def test_rec01_alv15_register_export_after_playback_keeps_arrival(
    register: Register, spool: Path
) -> None:
    """REC-01 / ALV-15: taken in, then played by the owner; every export still shows arrival."""
    origtime = int(ARRIVED.timestamp())
    put_message(spool, "83012", 0, message_txt(origtime, f"{origtime}-00000000"), wav(b"a" * 10))
    [taken] = (await SpoolIntake(register, spool).run_once(LATER)).taken
    played, _ = await register.play(taken.id, "anna.andersson", PLAYED)
    assert (played.arrived_at, played.first_heard_at) == (ARRIVED, PLAYED)
    records = await register.records()
    assert [r.first_heard_at for r in records] == [PLAYED]
    for fmt, arrivals in FORMATS.items():
        assert arrivals(records) == [(ARRIVED_ISO, ARRIVED_LOCAL)], fmt
