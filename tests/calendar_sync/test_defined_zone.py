"""HAL-02 (issue 21): a zone a calendar defines itself (VTIMEZONE, Exchange's "Customized Time
Zone") answers every local time exactly as dateutil's zone built from the same definition: the
same UTC offset, DST and name in both folds (ambiguous and non-existent times included), and the
same local time and fold from UTC (`fromutc`), over DST edges and spot instants from 1601 to 2100,
for Outlook's zones and for zones of RDATEs only, a single STANDARD, rules ending (UNTIL), leap
days, BYSETPOS, southern DST, several components and generated definitions. The reader builds
it once per definition and process."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from io import StringIO
from typing import Any

import pytest
from dateutil.tz import tzical  # type: ignore[import-untyped]
from dateutil.tz.tz import _tzicalvtz  # type: ignore[import-untyped]

from calendar_sync import ics
from calendar_sync.ics import IcsRead, vtimezones
from calendar_sync.ics.zone_table import DefinedZone, defined_zone
from calendar_sync.workers import CalendarReaders, ReadJob, ReadLimits
from tests.conftest import FIXTURES
from tests.core.helpers import TZ


def vtimezone(tzid: str, *parts: str) -> str:
    """Components as "KIND DTSTART FROM TO [more lines, |-separated]" → a VTIMEZONE."""
    lines = ["BEGIN:VTIMEZONE", f"TZID:{tzid}"]
    for part in parts:
        kind, start, offset_from, offset_to, *extra = part.split(" ", 4)
        lines += [f"BEGIN:{kind}", f"DTSTART:{start}", f"TZOFFSETFROM:{offset_from}"]
        lines += [f"TZOFFSETTO:{offset_to}", f"TZNAME:{kind[:3]}{offset_to}"]
        lines += [x for x in "|".join(extra).split("|") if x]
        lines.append(f"END:{kind}")
    lines.append("END:VTIMEZONE")
    return "\r\n".join(lines) + "\r\n"


OUTLOOK = vtimezone(
    "Customized Time Zone",
    "STANDARD 16010101T030000 +0200 +0100 RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10",
    "DAYLIGHT 16010101T020000 +0100 +0200 RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3",
)
ZONES = {
    "outlook": OUTLOOK,
    "southern": vtimezone(
        "South",
        "DAYLIGHT 16010101T020000 -0300 -0200 RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=10",
        "STANDARD 16010101T030000 -0200 -0300 RRULE:FREQ=YEARLY;BYDAY=3SU;BYMONTH=2",
    ),
    "history": vtimezone(  # as IANA-derived writers put it: rules that end, then new ones
        "History",
        "DAYLIGHT 19810329T020000 +0100 +0200 RRULE:FREQ=YEARLY;UNTIL=19950326T010000Z;BYMONTH=3;BYDAY=-1SU",
        "STANDARD 19810927T030000 +0200 +0100 RRULE:FREQ=YEARLY;UNTIL=19950924T010000Z;BYMONTH=9;BYDAY=-1SU",
        "STANDARD 19961027T030000 +0200 +0100 RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
        "DAYLIGHT 19960331T020000 +0100 +0200 RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
    ),
    "abolished": vtimezone(  # summer time for good from 2011: the last onset is years back
        "Abolished",
        "STANDARD 19961027T030000 +0400 +0300 RRULE:FREQ=YEARLY;UNTIL=20101030T230000Z;BYMONTH=10;BYDAY=-1SU",
        "DAYLIGHT 19970330T020000 +0300 +0400 RRULE:FREQ=YEARLY;UNTIL=20110326T230000Z;BYMONTH=3;BYDAY=-1SU",
    ),
    "standard for good": vtimezone(  # both rules end, the standard one last
        "Standard",
        "STANDARD 19961027T030000 +0400 +0300 RRULE:FREQ=YEARLY;UNTIL=20111030T230000Z;BYMONTH=10;BYDAY=-1SU",
        "DAYLIGHT 19970330T020000 +0300 +0400 RRULE:FREQ=YEARLY;UNTIL=20110326T230000Z;BYMONTH=3;BYDAY=-1SU",
    ),
    "ties": vtimezone(  # two components start at the same local time every year: the first wins
        "Ties",
        "DAYLIGHT 16010101T020000 +0100 +0200 RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3",
        "STANDARD 16010101T030000 +0200 +0100 RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10",
        "STANDARD 16010101T030000 +0200 +0000 RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10",
        "DAYLIGHT 16010101T020000 +0100 +0300 RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3",
    ),
    "rdates only": vtimezone(
        "Rdates",
        "STANDARD 20231029T030000 +0200 +0100 RDATE:20241027T030000,20251026T030000|RDATE:20261025T030000",
        "DAYLIGHT 20240331T020000 +0100 +0200 RDATE:20250330T020000,20260329T020000",
    ),
    "single standard": vtimezone(
        "Single",
        "STANDARD 16010101T000000 +0530 +0530",
    ),
    "leap day": vtimezone(
        "Leap",
        "STANDARD 19600229T030000 +0200 +0100 RRULE:FREQ=YEARLY",
        "DAYLIGHT 19600301T020000 +0100 +0200 RRULE:FREQ=YEARLY;BYMONTH=6;BYMONTHDAY=1,15",
    ),
    "setpos and ties": vtimezone(
        "Setpos",
        "DAYLIGHT 20000101T020000 +0100 +0200 RRULE:FREQ=YEARLY;BYMONTH=3,4;BYDAY=SU;BYSETPOS=-1",
        "STANDARD 20000101T020000 +0200 +0100 RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=MO,TU;BYSETPOS=2",
        "STANDARD 20000101T020000 +0200 +0130 RDATE:20260101T020000",
    ),
    "leap years only": vtimezone(
        "Feb29",
        "DAYLIGHT 16040229T120000 +0000 +0100 RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
        "STANDARD 16040301T120000 +0100 +0000 RRULE:FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=1",
    ),
    "daylight first": vtimezone(
        "DaylightOnly",
        "DAYLIGHT 19900401T020000 +0100 +0200 RRULE:FREQ=YEARLY;BYMONTH=4;BYDAY=1SU",
        "DAYLIGHT 19901001T030000 +0200 +0130 RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=1SU",
    ),
}


def both(text: str) -> tuple[tzinfo, tzinfo]:
    """dateutil's zone and the defined zone, each from its own parse of `text`."""
    return tzical(StringIO(text)).get(), defined_zone(tzical(StringIO(text)).get())


def answer(zone: tzinfo, local: datetime, fold: int) -> tuple[Any, ...]:
    moment = local.replace(tzinfo=zone, fold=fold)
    try:
        return (moment.utcoffset(), moment.dst(), moment.tzname())
    except Exception as exc:  # dateutil's own error for a time before every onset
        return (type(exc).__name__,)


def instants(seed: int) -> Iterator[datetime]:
    """Every hour (and the minutes either side) around the DST edges of 2026 and 2027, the ends
    of years, and random instants from 1601 to 2100 (jumping between far years)."""
    for year in (2026, 2027):
        for month, first in ((3, 24), (10, 24), (2, 12), (6, 1), (9, 20), (11, 1)):
            start = datetime(year, month, first)
            for step in range(8 * 24):
                at = start + timedelta(minutes=60 * step + 30 * (step % 2))
                yield at
                yield at + timedelta(minutes=1)
                yield at - timedelta(minutes=1)
        yield datetime(year, 12, 31, 23, 59)
        yield datetime(year, 1, 1, 0, 0)
    rnd = random.Random(seed)
    for year in (
        1601,
        1602,
        1604,
        1700,
        1900,
        1970,
        1981,
        1995,
        1996,
        2000,
        2011,
        2038,
        2099,
        2100,
    ):
        yield datetime(year, 1, 1, 0, 0)
        yield datetime(year, 1, 1, rnd.randrange(24), rnd.randrange(60))
        for _ in range(10):
            yield datetime(year, 1, 1) + timedelta(minutes=rnd.randrange(366 * 1440 - 1440))
    for _ in range(400):
        yield datetime(rnd.randrange(1601, 2101), 1, 1) + timedelta(minutes=rnd.randrange(525_000))


def assert_same(old: tzinfo, new: tzinfo, points: Iterator[datetime]) -> int:
    count = 0
    for local in points:
        for fold in (0, 1):
            assert answer(new, local, fold) == answer(old, local, fold), (local, fold)
        if answer(old, local, 0)[0] == "TypeError":
            continue
        instant = local.replace(tzinfo=UTC)
        a, b = instant.astimezone(old), instant.astimezone(new)
        assert (b.replace(tzinfo=None), b.fold, b.utcoffset()) == (
            a.replace(tzinfo=None),
            a.fold,
            a.utcoffset(),
        ), local
        assert local.replace(tzinfo=new).astimezone(UTC) == local.replace(tzinfo=old).astimezone(
            UTC
        )
        count += 1
    return count


@pytest.mark.parametrize("name", sorted(ZONES))
def test_the_defined_zone_answers_as_dateutil(name: str) -> None:
    """HAL-02: offset, DST, name in both folds and fromutc, as dateutil's zone, at every point."""
    old, new = both(ZONES[name])
    assert assert_same(old, new, instants(len(name))) > 1000


def test_which_definitions_get_a_table() -> None:
    """HAL-02: a single component needs no search (dateutil's zone kept); COUNT, EXDATE and
    other frequencies keep dateutil's walk; yearly rules and RDATEs get the table."""
    tabled = {name for name, text in ZONES.items() if isinstance(both(text)[1], DefinedZone)}
    assert tabled == set(ZONES) - {"single standard"}
    for extra in (
        "RRULE:FREQ=YEARLY;COUNT=400;BYMONTH=10;BYDAY=-1SU",
        "RRULE:FREQ=MONTHLY;INTERVAL=12;BYDAY=-1SU",
        "RRULE:FREQ=YEARLY;INTERVAL=2;BYMONTH=10;BYDAY=-1SU",
        "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU|EXDATE:20261025T030000",
    ):
        text = vtimezone(
            "Other",
            f"STANDARD 16010101T030000 +0200 +0100 {extra}",
            "DAYLIGHT 16010101T020000 +0100 +0200 RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3",
        )
        old, new = both(text)
        assert type(new) is _tzicalvtz
        assert_same(old, new, iter([datetime(2026, 10, 25, 2, 30), datetime(1700, 5, 1)]))


def test_generated_definitions_answer_as_dateutil() -> None:
    """HAL-02: 24 generated two- and three-component definitions (start years, months, weekdays,
    month days, year days, week numbers, times, offsets either way, UNTIL) over DST edges and
    far years."""
    rnd = random.Random(21)
    for n in range(24):
        parts = []
        for kind in ("STANDARD", "DAYLIGHT", "STANDARD")[: rnd.choice((2, 2, 3))]:
            start = datetime(
                rnd.choice((1601, 1916, 1970, 2007, 2025)),
                rnd.randrange(1, 13),
                rnd.randrange(1, 29),
                rnd.randrange(4),
                rnd.choice((0, 30)),
            )
            day = rnd.choice(
                (
                    f"BYDAY={rnd.choice(('-1', '1', '2', '4'))}{rnd.choice(('SU', 'SA', 'FR'))}",
                    f"BYDAY={rnd.choice(('-1', '1', '2', '4'))}{rnd.choice(('SU', 'SA', 'FR'))}",
                    f"BYMONTHDAY={rnd.randrange(1, 29)}",
                    f"BYYEARDAY={rnd.choice((-100, 60, 300))}",
                    "BYWEEKNO=13;BYDAY=SU",
                    "",
                )
            )
            rule = f"RRULE:FREQ=YEARLY;BYMONTH={rnd.randrange(1, 13)}" + (f";{day}" if day else "")
            if rnd.random() < 0.25:
                rule += f";UNTIL={rnd.randrange(start.year, 2030)}0101T000000Z"
            offsets = [
                f"{sign}{h:02d}{m:02d}" for sign in "+-" for h in (0, 1, 2, 5) for m in (0, 30)
            ]
            parts.append(
                f"{kind} {start:%Y%m%dT%H%M%S} {rnd.choice(offsets)} {rnd.choice(offsets)} {rule}"
            )
        old, new = both(vtimezone(f"Generated {n}", *parts))
        assert isinstance(new, DefinedZone)
        points = list(instants(n))
        rnd.shuffle(points)  # the table grows in both directions, and jumps
        assert_same(old, new, iter(points[:600]))


def zones_of(cal: Any) -> set[Any]:
    """The zones of the calendar's events' DTSTARTs."""
    return {e["DTSTART"].dt.tzinfo for e in cal.walk("VEVENT")}


def test_the_reader_builds_each_definition_once_as_a_defined_zone() -> None:
    """HAL-02: the reader's zone for a calendar's own definition is a DefinedZone, built once per
    definition and process; the same name defined otherwise is another zone."""
    anna = (FIXTURES / "ics" / "customized_time_zone_utc_plus5_anna.ics").read_bytes()
    data = anna.replace(b"TZOFFSETTO:+0500", b"TZOFFSETTO:+0517")  # a definition of its own
    assert data != anna
    built = vtimezones.zones_built()
    cal, skipped, _ = ics.load(data, "anna")
    assert not skipped and vtimezones.zones_built() == built + 1
    zones = zones_of(cal)
    (zone,) = zones
    assert isinstance(zone, DefinedZone) and zone.utcoffset(datetime(2026, 11, 24)) == timedelta(
        hours=5, minutes=17
    )
    again, _, _ = ics.load(data, "anna again")
    assert vtimezones.zones_built() == built + 1
    assert zones_of(again) == zones
    other, _, _ = ics.load(data.replace(b"+0517", b"+0518"), "another")
    assert vtimezones.zones_built() == built + 2
    assert zones_of(other).isdisjoint(zones)


def test_blocks_with_the_defined_zone_match_dateutils() -> None:
    """HAL-02: a calendar in Outlook's custom zone reads to the same blocks as its times
    converted by dateutil's zone."""
    old = tzical(StringIO(OUTLOOK)).get()
    when = datetime(2026, 10, 25, 2, 30)
    event = (
        "BEGIN:VEVENT\r\nUID:edge\r\nDTSTART;TZID=Customized Time Zone:20261025T023000\r\n"
        "DTEND;TZID=Customized Time Zone:20261025T033000\r\nSUMMARY:Möte\r\nEND:VEVENT\r\n"
    )
    data = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + OUTLOOK + event + "END:VCALENDAR\r\n").encode()
    start = datetime(2026, 10, 20, tzinfo=UTC)
    read = ics.read_ics(data, start, start + timedelta(days=10), TZ, "edge")
    (block,) = read.blocks
    assert block.start == when.replace(tzinfo=old).astimezone(UTC)
    assert block.end == datetime(2026, 10, 25, 3, 30, tzinfo=old).astimezone(UTC)


def test_a_reader_retires_by_the_zones_it_has_built() -> None:
    """HAL-02: a reader process is retired once it has built `zones_per_worker` zones defined by
    calendars (icalendar keeps them process-wide), not after a number of reads: calendars in
    known zones keep their reader, a calendar of another definition each counts."""
    base = (FIXTURES / "ics" / "customized_time_zone_utc_plus5_anna.ics").read_bytes()
    known = (FIXTURES / "ics" / "outlook_oof_over_weekend.ics").read_bytes()
    start = datetime(2026, 11, 20, tzinfo=UTC)

    def read(data: bytes, name: str) -> ReadJob:
        return ReadJob(data, start, start + timedelta(days=10), TZ.key, name)

    with CalendarReaders(1, ReadLimits(zones_per_worker=2)) as readers:
        first = readers.read_batch([read(known, "known"), read(known, "known again")])
        assert all(isinstance(r, IcsRead) for r in first)
        (kept,) = readers._idle
        readers.read_batch([read(base, "anna"), read(base, "anna again")])  # one definition
        assert readers._idle == [kept] and kept.zones == 1
        other = base.replace(b"TZOFFSETTO:+0500", b"TZOFFSETTO:+0400", 1)
        assert isinstance(readers.read(read(other, "another")), IcsRead)
        assert readers._idle == [] and kept.zones == 2  # retired
        assert isinstance(readers.read(read(other, "next")), IcsRead)
        (fresh,) = readers._idle
        assert fresh is not kept and fresh.zones == 1


def test_a_zone_named_with_rfc6868_escapes_is_still_its_zone() -> None:
    """HAL-02: a TZID with ^' in it (a parameter escape in RFC 6868) names the file's zone: the
    event at 10:00 in UTC-3 is 13:00 UTC (the id it is renamed to is only "~" and a digest; the
    old id kept the name, icalendar unescaped it, and the times were read as local time)."""
    text = (FIXTURES / "ics" / "customized_time_zone_utc_minus3_bertil.ics").read_text("utf-8")
    data = text.replace("Customized Time Zone", "Zone^'x").encode()
    start = datetime(2026, 11, 20, tzinfo=UTC)
    read = ics.read_ics(data, start, start + timedelta(days=10), TZ, "caret")
    assert [b.start for b in read.blocks] == [datetime(2026, 11, 24, 13, 0, tzinfo=UTC)]
    assert not read.skipped


def test_a_definition_with_its_tzid_twice_still_reads() -> None:
    """HAL-02: a VTIMEZONE with its TZID line twice, its definition already built in the
    process, is read in that zone (icalendar used to get the definition in the composed calendar
    again, fail on it, and the whole calendar was unreadable)."""
    text = (FIXTURES / "ics" / "customized_time_zone_utc_minus3_bertil.ics").read_text("utf-8")
    tzid = "TZID:Customized Time Zone\n"
    assert tzid in text
    start = datetime(2026, 11, 20, tzinfo=UTC)
    ics.read_ics(text.encode(), start, start + timedelta(days=10), TZ, "once")
    data = text.replace(tzid, tzid * 2, 1).encode()
    read = ics.read_ics(data, start, start + timedelta(days=10), TZ, "twice")
    assert [b.start for b in read.blocks] == [datetime(2026, 11, 24, 13, 0, tzinfo=UTC)]
