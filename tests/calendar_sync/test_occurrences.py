"""HAL-02 (issue 21): the calendar reader's own expansion of plain events and simple series
(calendar_sync.occurrences) gives exactly the blocks, and says exactly the same about what it
skipped, as recurring_ical_events does for every event, and as the blocks read from
recurring_ical_events' full occurrence copies (`as_component`), over generated Outlook-shaped
calendars: zoned, UTC, floating and all-day times, custom zones, DST weeks, DURATION, reversed
times, duplicate UIDs, moved occurrences, EXDATE, UNTIL in every form, cancelled and private
events, and windows whose edges cut occurrences."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import recurring_ical_events

from calendar_sync import ics, occurrences
from calendar_sync.errors import CalendarError
from calendar_sync.ics import expansion
from calendar_sync.status import event_status
from routing.absence import CalendarBlock
from tests.conftest import FIXTURES
from tests.core.helpers import TZ

VTZ = """BEGIN:VTIMEZONE\r
TZID:Customized Time Zone\r
BEGIN:STANDARD\r
DTSTART:16010101T030000\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:16010101T020000\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r
END:DAYLIGHT\r
END:VTIMEZONE\r
"""
# Around both DST changes of 2026 and an ordinary week.
DAYS = (datetime(2026, 3, 27, 9), datetime(2026, 10, 23, 9), datetime(2026, 11, 24, 9))
ZONES = ("W. Europe Standard Time", "Europe/Stockholm", "Customized Time Zone", "America/New_York")


def _when(rnd: random.Random, day: datetime) -> datetime:
    return day + timedelta(days=rnd.randrange(-12, 12), minutes=30 * rnd.randrange(0, 48))


def _stamp(kind: str, value: datetime, zone: str) -> str:
    if kind == "date":
        return f";VALUE=DATE:{value:%Y%m%d}"
    if kind == "utc":
        return f":{value:%Y%m%dT%H%M%S}Z"
    if kind == "floating":
        return f":{value:%Y%m%dT%H%M%S}"
    return f";TZID={zone}:{value:%Y%m%dT%H%M%S}"


def _rule(rnd: random.Random, start: datetime) -> str:
    until = start + timedelta(days=rnd.randrange(-3, 40))
    return rnd.choice(
        [
            "FREQ=WEEKLY;COUNT=20",
            "FREQ=DAILY;COUNT=5",
            "FREQ=DAILY;INTERVAL=2",
            "FREQ=WEEKLY;BYDAY=MO,WE,FR",
            f"FREQ=WEEKLY;UNTIL={until:%Y%m%dT%H%M%S}Z",
            f"FREQ=DAILY;UNTIL={until:%Y%m%d}",
            f"FREQ=DAILY;UNTIL={until:%Y%m%dT%H%M%S}",
            "FREQ=MONTHLY;BYMONTHDAY=31",
            "FREQ=DAILY;COUNT=-3",
            "FREQ=HOURLY;COUNT=30",
        ]
    )


def _event(rnd: random.Random, day: datetime, uid: str) -> str:
    start = _when(rnd, day)
    kind = rnd.choice(["zoned", "zoned", "zoned", "utc", "floating", "date"])
    zone = rnd.choice(ZONES)
    lines = ["BEGIN:VEVENT", f"UID:{uid}", f"DTSTART{_stamp(kind, start, zone)}"]
    length = timedelta(minutes=rnd.choice([0, 30, 60, 90, 24 * 60, -60]))
    end_kind = kind if rnd.random() < 0.85 else rnd.choice(["zoned", "utc", "date"])
    end_zone = zone if rnd.random() < 0.9 else rnd.choice(ZONES)
    form = rnd.random()
    if form < 0.8:
        lines.append(f"DTEND{_stamp(end_kind, start + length, end_zone)}")
    elif form < 0.9:
        lines.append(f"DURATION:PT{abs(length) // timedelta(minutes=1)}M")
    if rnd.random() < 0.35:
        lines.append(f"RRULE:{_rule(rnd, start)}")
        if rnd.random() < 0.1:
            lines.append(f"RRULE:{_rule(rnd, start)}")
    if rnd.random() < 0.1:
        lines.append(f"EXDATE{_stamp(kind, start + timedelta(days=7), zone)}")
    if rnd.random() < 0.08:
        lines.append(f"RDATE{_stamp(kind, start + timedelta(days=2), zone)}")
    if rnd.random() < 0.1:
        moved = start - timedelta(days=rnd.choice([0, 7, 14]))
        lines.append(f"RECURRENCE-ID{_stamp(kind, moved, zone)}")
    if rnd.random() < 0.1:
        lines.append(f"SEQUENCE:{rnd.randrange(3)}")
    if rnd.random() < 0.1:
        lines.append("STATUS:CANCELLED")
    lines.append(f"CLASS:{rnd.choice(['PUBLIC', 'PUBLIC', 'PRIVATE', 'CONFIDENTIAL'])}")
    lines.append(f"SUMMARY:{rnd.choice(['Möte', 'Lunch', 'Semester', ''])}")
    lines.append(f"TRANSP:{rnd.choice(['OPAQUE', 'TRANSPARENT'])}")
    status = rnd.choice(["BUSY", "FREE", "OOF", "TENTATIVE", "WORKINGELSEWHERE", None])
    if status:
        lines.append(f"X-MICROSOFT-CDO-BUSYSTATUS:{status}")
    lines.append("END:VEVENT")
    return "\r\n".join(lines) + "\r\n"


def calendar(seed: int) -> tuple[bytes, datetime]:
    """A generated calendar, and a moment to read it around."""
    rnd = random.Random(seed)
    day = rnd.choice(DAYS)
    uids = [f"u{seed}-{k}" for k in range(rnd.randrange(3, 25))]
    parts = ["BEGIN:VCALENDAR\r\nVERSION:2.0\r\n", VTZ]
    for _ in range(len(uids)):
        parts.append(_event(rnd, day, rnd.choice(uids) if rnd.random() < 0.2 else uids.pop()))
    parts.append("END:VCALENDAR\r\n")
    return "".join(parts).encode(), day.replace(tzinfo=TZ) + timedelta(hours=rnd.randrange(24))


@contextmanager
def library_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every event through recurring_ical_events (the reader's own expansion switched off)."""
    with monkeypatch.context() as m:
        m.setattr(occurrences, "plain_span", lambda *a, **k: None)
        m.setattr(occurrences, "simple_series", lambda *a, **k: None)
        yield


def outcome(data: bytes, now: datetime, source: str) -> tuple[Any, ...]:
    """read_ics's answer as comparable values: blocks and skipped text, or the error."""
    lo, hi = now - timedelta(days=1), now + timedelta(days=8)
    try:
        read = ics.read_ics(data, lo, hi, TZ, source, 10_000, 1.5)
    except CalendarError as exc:
        return ("error", type(exc).__name__, str(exc))
    return ("ok", read.blocks, tuple(str(s) for s in read.skipped))


def copied_blocks(data: bytes, now: datetime) -> list[CalendarBlock]:
    """The blocks as the reader made them before it had its own expansion: every occurrence
    copied as a full component by recurring_ical_events (`as_component`), four fields read."""
    lo, hi = now - timedelta(days=1), now + timedelta(days=8)
    cal, _, _ = ics.load(data, "copied")
    span_lo, span_hi = (
        (lo - timedelta(days=1)).astimezone(TZ),
        (hi + timedelta(days=1)).astimezone(TZ),
    )
    query = recurring_ical_events.of(cal, skip_bad_series=True, calendar_query=expansion._Query)
    out = []
    for series in query.series:
        try:
            found = list(series.between(span_lo, span_hi))
        except tuple(expansion._Query.suppressed_errors):
            continue
        for occurrence in found:
            ev = occurrence.as_component(False)
            if str(ev.get("STATUS", "")).upper() == "CANCELLED":
                continue
            start_value, end_value = ev["DTSTART"].dt, ev["DTEND"].dt
            start, end = expansion._aware(start_value, TZ), expansion._aware(end_value, TZ)
            if end <= start or end <= lo or start >= hi:
                continue
            status = event_status(
                expansion._text(ev.get("X-MICROSOFT-CDO-BUSYSTATUS")),
                expansion._text(ev.get("TRANSP")),
            )
            private = expansion._text(ev.get("CLASS")).upper() in expansion._PRIVATE_CLASSES
            subject = None if private else (expansion._text(ev.get("SUMMARY")) or None)
            all_day = not isinstance(start_value, datetime)
            out.append(CalendarBlock(start, end, status, subject, private, all_day))
    out.sort(key=lambda b: (b.start, b.end))
    return out


def test_hal02_own_expansion_equals_recurring_ical_events(monkeypatch: pytest.MonkeyPatch) -> None:
    """HAL-02: over 400 generated calendars, the reader with its own expansion answers exactly
    as with recurring_ical_events for every event (blocks, skipped items, errors), and its
    blocks are those of recurring_ical_events' occurrence copies."""
    direct = 0
    for seed in range(400):
        data, now = calendar(seed)
        fast = outcome(data, now, f"gen{seed}")
        with library_only(monkeypatch):
            slow = outcome(data, now, f"gen{seed}")
        assert fast == slow, f"seed {seed}"
        if fast[0] == "ok":
            assert list(fast[1]) == copied_blocks(data, now), f"seed {seed}"
        cal, _, _ = ics.load(data)
        groups = occurrences.group(c for c in cal.subcomponents if c.name == "VEVENT")
        direct += sum(
            1
            for comps in groups.values()
            if len(comps) == 1
            and (occurrences.plain_span(comps[0]) or occurrences.simple_series(comps[0]))
        )
    assert direct > 1000  # the generated events do take the reader's own way


@pytest.mark.parametrize("name", sorted(p.name for p in (FIXTURES / "ics").glob("*.ics")))
def test_hal02_fixtures_read_alike_both_ways(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """HAL-02: every fixture calendar (Outlook, Exchange, hostile) reads alike both ways."""
    if name.startswith("hostile_"):
        pytest.skip("bounded by time, not compared: see tests/hostile")
    data = (FIXTURES / "ics" / name).read_bytes()
    for now in (datetime(2026, 12, 7, 9, tzinfo=UTC), datetime(2027, 3, 26, 9, tzinfo=UTC)):
        fast = outcome(data, now, name)
        with library_only(monkeypatch):
            assert outcome(data, now, name) == fast


def test_hal02_plain_span_is_the_events_own_times() -> None:
    """HAL-02: a plain event's one occurrence is its DTSTART to DTEND; dates stay dates."""
    data = (
        b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART;VALUE=DATE:20261124\r\n"
        b"DTEND;VALUE=DATE:20261126\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    cal, _, _ = ics.load(data)
    assert occurrences.plain_span(cal.subcomponents[0]) == (date(2026, 11, 24), date(2026, 11, 26))
    read = ics.read_ics(
        data, datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), TZ
    )
    assert [(b.start, b.end, b.all_day) for b in read.blocks] == [
        (datetime(2026, 11, 23, 23, tzinfo=UTC), datetime(2026, 11, 25, 23, tzinfo=UTC), True)
    ]
