"""Calendars from Outlook-shaped ICS: status mapping, recurrences, time zones, broken input."""

from __future__ import annotations

import time as clock
from datetime import UTC, datetime

import pytest

from calendar_sync.errors import CalendarParseError
from calendar_sync.ics import parse_ics
from calendar_sync.status import event_status, named_status
from calendar_sync.zones import known_zone, zone
from routing.models import BusyStatus
from tests.conftest import FIXTURES
from tests.core.helpers import TZ, local

ICS = FIXTURES / "ics"
WINDOW = (datetime(2026, 9, 1, tzinfo=UTC), datetime(2027, 7, 1, tzinfo=UTC))


def blocks(name: str, start: datetime = WINDOW[0], end: datetime = WINDOW[1]) -> list:  # type: ignore[type-arg]
    """Parse one fixture over a window."""
    return parse_ics((ICS / name).read_bytes(), start, end, TZ, name)


def test_hv01_cdo_busystatus_wins_over_transp() -> None:
    """HV-01: X-MICROSOFT-CDO-BUSYSTATUS decides; otherwise TRANSPARENT is free, OPAQUE busy."""
    assert event_status("FREE", "OPAQUE") is BusyStatus.FREE
    assert event_status("OOF", None) is BusyStatus.OOF
    assert event_status("WORKINGELSEWHERE", "OPAQUE") is BusyStatus.WORKING_ELSEWHERE
    assert event_status(None, "TRANSPARENT") is BusyStatus.FREE
    assert event_status(None, "OPAQUE") is BusyStatus.BUSY
    assert event_status(None, None) is BusyStatus.BUSY
    assert named_status("workingElsewhere") is BusyStatus.WORKING_ELSEWHERE
    assert named_status("NoData") is BusyStatus.NO_DATA


def test_weekly_meeting_with_exdate_and_moved_occurrence() -> None:
    """RRULE weekly on Tuesdays; EXDATE removes 8 Dec; RECURRENCE-ID moves 15 Dec to 16 Dec 13:00."""
    found = [
        b
        for b in blocks("outlook_weekly_exdate_moved_private_semester.ics")
        if b.subject and b.subject.startswith("Bygglovsmöte")
    ]
    starts = {b.start.astimezone(TZ).replace(tzinfo=None) for b in found}
    assert datetime(2026, 12, 1, 10, 0) in starts
    assert datetime(2026, 12, 8, 10, 0) not in starts  # EXDATE
    assert datetime(2026, 12, 15, 10, 0) not in starts  # moved away
    assert datetime(2026, 12, 16, 13, 0) in starts  # moved here
    assert datetime(2026, 12, 22, 10, 0) in starts


def test_windows_tzid_mapped_to_iana_across_dst() -> None:
    """'W. Europe Standard Time' is Europe/Berlin: 10:00 local stays 10:00 across the October change."""
    assert known_zone("W. Europe Standard Time") == "Europe/Berlin"
    assert known_zone("Customized Time Zone") is None
    found = [
        b
        for b in blocks("outlook_weekly_exdate_moved_private_semester.ics")
        if b.subject == "Bygglovsmöte"
    ]
    before = next(b for b in found if b.start.astimezone(TZ).date().isoformat() == "2026-10-20")
    after = next(b for b in found if b.start.astimezone(TZ).date().isoformat() == "2026-10-27")
    assert before.start.hour == 8 and after.start.hour == 9  # UTC: +02:00 then +01:00
    assert before.start.astimezone(TZ).hour == after.start.astimezone(TZ).hour == 10


def test_one_zone_mapping_for_ics_and_graph() -> None:
    """IANA names pass; every Windows name icalendar knows maps; unknown names are refused."""
    assert known_zone("Europe/Stockholm") == "Europe/Stockholm"
    assert known_zone("E. Europe Standard Time") == "Europe/Chisinau"
    assert known_zone("Coordinated Universal Time") == "Etc/UTC"
    assert zone(" W. Europe Standard Time ").key == "Europe/Berlin"
    with pytest.raises(ValueError, match="'Customized Time Zone'"):
        zone("Customized Time Zone")


def test_dst_weekly_meeting_over_last_sunday_of_march_and_october() -> None:
    """Events across the last Sunday of October 2026 and March 2027 keep their local time."""
    found = blocks("outlook_dst_weekly_march_october.ics")
    mondays = [b for b in found if b.subject == "Ledningsgruppsmöte"]
    hours = {b.start.astimezone(TZ).hour for b in mondays}
    assert hours == {9}
    assert any(b.start.astimezone(TZ).date().isoformat() == "2027-03-29" for b in mondays)
    night = next(b for b in found if b.subject == "Planeringsdag")  # 23:00 → 04:00 over the change
    assert (night.end - night.start).total_seconds() == 6 * 3600  # the clock went back one hour
    spring = next(b for b in found if b.subject == "Studieresa")
    assert (spring.end - spring.start).total_seconds() == 8 * 3600  # the clock went forward


def test_allday_semester_week_and_private_event() -> None:
    """All-day events are local midnight to midnight; CLASS:PRIVATE hides the subject (HV-04)."""
    found = blocks("outlook_weekly_exdate_moved_private_semester.ics")
    semester = next(b for b in found if b.subject == "Semester")
    assert semester.all_day and semester.status is BusyStatus.OOF
    assert semester.start == local(2026, 11, 30, 0, 0) and semester.end == local(2026, 12, 5, 0, 0)
    private = next(b for b in found if b.private)
    assert private.subject is None


def test_hv04_private_subject_never_leaves_the_parser() -> None:
    """HV-04: the text of a private event's SUMMARY appears in no block."""
    found = blocks("outlook_weekly_exdate_moved_private_semester.ics")
    assert all("Tandläkare" not in (b.subject or "") for b in found)


def test_alv07_free_reminder_parsed_as_free() -> None:
    """ALV-07: the 'free' reminder comes through as FREE."""
    found = blocks("outlook_weekly_exdate_moved_private_semester.ics")
    reminder = next(b for b in found if b.subject and b.subject.startswith("Påminnelse"))
    assert reminder.status is BusyStatus.FREE


@pytest.mark.parametrize("newline", [b"\r\n", b"\n"], ids=["crlf", "lf"])
def test_unicode_line_breaks_inside_summary_do_not_cut_the_line(newline: bytes) -> None:
    """U+2028, U+0085, form feed, vertical tab, U+2029 in a SUMMARY are text, not line ends."""
    data = (ICS / "outlook_summary_unicode_line_breaks.ics").read_bytes()
    found = parse_ics(data.replace(b"\r\n", newline), *WINDOW, TZ)
    assert [(b.start, b.end, b.status, b.subject) for b in found] == [
        (
            local(2026, 11, 24, 10, 0),
            local(2026, 11, 24, 11, 30),
            BusyStatus.BUSY,
            "Bygglovsmöte\u2028Stora Holmen 1:12",
        ),
        (
            local(2026, 11, 24, 13, 0),
            local(2026, 11, 24, 16, 0),
            BusyStatus.OOF,
            "Tjänsteresa\x85 Gävle",
        ),
        (
            local(2026, 11, 25, 9, 0),
            local(2026, 11, 25, 12, 0),
            BusyStatus.BUSY,
            "Utbildning\x0cExcel del 2",
        ),
        (
            local(2026, 11, 25, 13, 0),
            local(2026, 11, 25, 15, 0),
            BusyStatus.BUSY,
            "Ledningsgrupp\x0bAgenda: budget 2027\u2029 uppföljning av delårsrapporten för oktober",
        ),
    ]


@pytest.mark.parametrize(
    "name",
    [
        "exchange2010_allday_oof_recurrence_id.ics",
        "exchange2010_cest_custom_tz_exdate_crlf.ics",
        "exchange2010_moved_exceptions_recurrence_id.ics",
        "exchange2010_multi_exdate_folded.ics",
        "exchange2010_published_availability_feed.ics",
        "exchange2010_many_windows_timezones.ics",
    ],
)
def test_real_exchange_exports_parse(name: str) -> None:
    """Real Exchange 2010 exports (LF and CRLF, folded lines, custom zones) give aware blocks."""
    found = blocks(name, datetime(2019, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    assert found
    assert all(b.start.tzinfo is not None and b.end > b.start for b in found)


def test_one_broken_event_is_skipped_not_the_calendar() -> None:
    """A broken DTSTART in one series skips that series only."""
    found = blocks(
        "exchange2010_many_windows_timezones.ics",
        datetime(2019, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert {b.subject for b in found} >= {"test", "Not the actual summary 1"}


@pytest.mark.parametrize("name", ["broken_truncated.ics", "broken_not_ical.ics"])
def test_broken_ics_raises_a_clear_error(name: str) -> None:
    """Broken calendars raise CalendarParseError naming the source."""
    with pytest.raises(CalendarParseError, match=name):
        blocks(name)


def test_known_vtimezone_replaced_is_faster_than_walking_1601_rules() -> None:
    """The IANA replacement gives the same instants as the calendar's own VTIMEZONE."""
    data = (ICS / "outlook_weekly_exdate_moved_private_semester.ics").read_bytes()
    custom = data.replace(b"W. Europe Standard Time", b"Customized Time Zone")
    t0 = clock.perf_counter()
    fast = parse_ics(data, *WINDOW, TZ)
    t1 = clock.perf_counter()
    slow = parse_ics(custom, *WINDOW, TZ)
    assert t1 > t0
    assert [(b.start, b.end) for b in fast] == [(b.start, b.end) for b in slow]
