"""Calendars from Outlook-shaped ICS: status mapping, recurrences, time zones, broken input."""

from __future__ import annotations

import time as clock
from datetime import UTC, datetime

import pytest

from calendar_sync.errors import CalendarParseError
from calendar_sync.ics import IcsRead, parse_ics, read_ics
from calendar_sync.status import event_status, named_status
from calendar_sync.zones import known_zone, zone
from routing.absence import BusyStatus
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


# ---------------------------------------------------------------- issue 16: regression calendars

NOV = (datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 12, 1, 22, 0, tzinfo=UTC))


def read(name: str, window: tuple[datetime, datetime] = NOV) -> IcsRead:
    """Read one fixture over a window in late November 2026."""
    return read_ics((ICS / name).read_bytes(), *window, TZ, name)


def test_a_zone_defined_in_a_file_applies_to_that_file_only() -> None:
    """Anna's and Bertil's "Customized Time Zone" are +05:00 and −03:00: each calendar is read
    with its own definition, whichever was read first (icalendar caches zones by TZID)."""
    anna = "customized_time_zone_utc_plus5_anna.ics"
    bertil = "customized_time_zone_utc_minus3_bertil.ics"
    for name, utc in [(anna, 4), (bertil, 13), (anna, 4), (bertil, 13)]:
        (block,) = read(name).blocks
        assert block.start == datetime(2026, 11, 24, utc, 0, tzinfo=UTC), name


def test_an_empty_exdate_drops_that_exdate_not_the_lunch_series() -> None:
    """`EXDATE;TZID=…:` without a value: the weekday lunch series stays, the EXDATE is reported."""
    got = read("lunch_series_empty_exdate.ics")
    days = [b.start.astimezone(TZ).date().isoformat() for b in got.blocks]
    assert days[:5] == ["2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27"]
    assert all(b.start.astimezone(TZ).hour == 11 and b.subject == "Lunch" for b in got.blocks)
    (skip,) = got.skipped
    assert (skip.uid, skip.what) == ("lunch-weekdays", "EXDATE") and "ignored" in skip.why


def test_a_bad_valarm_geo_or_attachment_never_loses_the_vacation() -> None:
    """A malformed VALARM trigger, GEO and base64 ATTACH cannot change busy time: ignored, and
    the five-day vacation (OOF) is read."""
    (vacation,) = read("vacation_bad_valarm_geo_attach.ics").blocks
    assert vacation.status is BusyStatus.OOF and vacation.subject == "Semester"
    assert vacation.start == local(2026, 11, 23, 0, 0) and vacation.end == local(2026, 11, 28, 0, 0)


def test_one_bad_moved_occurrence_keeps_the_rest_of_the_series() -> None:
    """A RECURRENCE-ID override with an unreadable DTSTART is skipped (reported with its UID);
    every other Monday of the series is still there, the moved one at its original time."""
    got = read("weekly_meeting_one_bad_moved_occurrence.ics")
    mondays = [b.start.astimezone(TZ).replace(tzinfo=None) for b in got.blocks]
    assert mondays == [datetime(2026, 11, 23, 9, 0), datetime(2026, 11, 30, 9, 0)]
    assert [(s.uid, s.what) for s in got.skipped] == [
        ("ledning-weekly", "DTSTART"),
        ("ledning-weekly", "VEVENT"),
    ]
    assert "2026-11-23 13:00" in got.skipped[0].why


def test_what_was_skipped_is_logged_per_event(caplog: pytest.LogCaptureFixture) -> None:
    """parse_ics logs one line per skipped item: source, UID, property and why."""
    parse_ics((ICS / "lunch_series_empty_exdate.ics").read_bytes(), *NOV, TZ, "lunch.ics")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "calendar_sync.ics"]
    assert line.startswith("calendar lunch.ics: UID lunch-weekdays: EXDATE: unreadable")


def test_an_event_without_dtstart_is_named_in_the_error() -> None:
    """When no event can be read, the error says which event and why (not just "no event")."""
    with pytest.raises(CalendarParseError) as info:
        read("event_without_dtstart.ics")
    assert "UID no-start-1" in str(info.value) and "no DTSTART" in str(info.value)


@pytest.mark.parametrize(
    "data",
    [
        b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nEND:VTODO\r\nEND:VCALENDAR\r\n",
        b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART:x\r\n\r\nY\r\n",
        b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART:2026\nEND:VEVENT\r\nEND:VCALENDAR",
        b"BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:X\r\nBEGIN:STANDARD\r\nTZOFFSETTO:+99\r\n"
        b"END:STANDARD\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n",
        b"<html>\r\n<body>Logga in</body>\r\n</html>\r\n",
    ],
    ids=["mismatched-end", "truncated", "bad-dtstart", "bad-vtimezone", "html"],
)
def test_error_messages_are_one_line_without_file_text(data: bytes) -> None:
    """No CR, LF or other control character of the file reaches an error message."""
    try:
        got = read_ics(data, *NOV, TZ, "x.ics")
    except CalendarParseError as exc:
        text = str(exc)
    else:
        text = " ".join(str(s) for s in got.skipped)
    assert text.isprintable(), repr(text)
    assert "Logga in" not in text


def test_a_utf16_outlook_export_is_read() -> None:
    """Outlook's "Unicode" save (UTF-16 LE with BOM) is a calendar, not "not an iCalendar file"."""
    (block,) = read("outlook_unicode_utf16le_bom.ics").blocks
    assert block.subject == "Möte på Älvkarleby bruk"


def test_several_vcalendars_in_one_stream_are_all_read() -> None:
    """RFC 5545 allows several VCALENDAR objects in one stream: events of both are read."""
    got = read("two_vcalendars_one_stream.ics")
    assert [b.subject for b in got.blocks] == ["Möte", "Utbildning"]


def test_a_floating_time_in_the_last_hour_of_a_utc_window_is_kept() -> None:
    """Window ends 22:00 UTC (23:00 in Stockholm); a floating 22:30 local event is 21:30 UTC."""
    (block,) = read("floating_time_evening.ics").blocks
    assert block.start == datetime(2026, 12, 1, 21, 30, tzinfo=UTC)


def test_count_with_until_keeps_until_without_dateutil_warning() -> None:
    """Found by the fuzzer: RFC 5545 allows COUNT or UNTIL; with both, dateutil warns (and will
    raise). UNTIL is kept, COUNT ignored and reported."""
    data = (
        b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:both\r\nDTSTART:20261123T090000Z\r\n"
        b"DURATION:PT1H\r\nRRULE:FREQ=DAILY;COUNT=10;UNTIL=20261125T090000Z\r\n"
        b"END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    got = read_ics(data, *NOV, TZ, "x")
    assert [b.start.day for b in got.blocks] == [23, 24, 25]
    assert [(s.uid, s.what) for s in got.skipped] == [("both", "RRULE")]
