"""iCalendar (RFC 5545, with Outlook's extensions) read into calendar blocks.

Busy time depends on a VEVENT's DTSTART, DTEND, DURATION, RRULE, RDATE, EXDATE, RECURRENCE-ID and
STATUS (plus the status, privacy and subject properties that word an absence), so reading is:

1. text (`ics.text`): UTF-8 (with or without BOM) or UTF-16, unfolded as icalendar unfolds;
2. shape (`ics.text`, `ics.vtimezones`): one linear pass keeps those properties of every VEVENT
   and the VTIMEZONEs, and drops the rest (VALARM, GEO, ATTACH …, which can never change busy
   time but can break a parser); several VCALENDARs in one stream are read as one; a zone a file
   defines applies to that file only (icalendar caches VTIMEZONEs process-wide by TZID, first
   definition wins);
3. values (`ics.checks`): an unreadable property is dropped and reported (UID, property, why);
   an event without a readable DTSTART is skipped and reported; the rest of its series stays;
4. expansion (`ics.expansion`) through recurring_ical_events with `skip_bad_series`, bounded to
   `max_occurrences` in the window (time and memory are bounded by the worker process,
   calendar_sync.workers).

This module strings the steps together: `read_ics` (what the workers run), `parse_ics`, `load`.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import icalendar

from calendar_sync.errors import CalendarParseError
from calendar_sync.ics.checks import check_events
from calendar_sync.ics.expansion import MAX_OCCURRENCES, expand_events
from calendar_sync.ics.text import Skipped, clean, content_lines, read_shape
from calendar_sync.ics.vtimezones import compose
from routing.absence import CalendarBlock

log = logging.getLogger(__name__)

__all__ = [
    "MAX_OCCURRENCES",
    "IcsRead",
    "Skipped",
    "clean",
    "expand",
    "load",
    "load_calendar",
    "parse_ics",
    "read_ics",
]


@dataclass(frozen=True, slots=True)
class IcsRead:
    """A calendar as read: its blocks in the window, and what was skipped."""

    blocks: tuple[CalendarBlock, ...]
    skipped: tuple[Skipped, ...] = ()


def load(data: bytes, source: str = "calendar") -> tuple[icalendar.Calendar, list[Skipped], int]:
    """Parse iCalendar bytes: the cleaned Calendar, what was skipped, how many VEVENTs it had."""
    shape = read_shape(content_lines(data, source), source)
    text = compose(shape)
    try:
        cal = icalendar.Calendar.from_ical(text)
    except Exception as exc:  # icalendar raises ValueError, KeyError, IndexError … on bad input
        raise CalendarParseError(source, f"invalid iCalendar: {clean(exc, 200)}") from None
    if not isinstance(cal, icalendar.Calendar):  # pragma: no cover - compose writes one
        raise CalendarParseError(source, "invalid iCalendar: not a VCALENDAR")
    skipped = shape.skipped
    events = check_events(cal, skipped)
    return cal, skipped, events


def load_calendar(data: bytes, source: str = "calendar") -> icalendar.Calendar:
    """Parse iCalendar bytes (CRLF or LF) into a Calendar, or raise CalendarParseError."""
    cal, skipped, _ = load(data, source)
    _log_skipped(source, skipped)
    return cal


def expand(
    cal: icalendar.Calendar,
    window_start: datetime,
    window_end: datetime,
    tz: zoneinfo.ZoneInfo,
    source: str = "calendar",
    max_occurrences: int = MAX_OCCURRENCES,
) -> list[CalendarBlock]:
    """Every occurrence overlapping the window as a CalendarBlock (RRULE, EXDATE, RECURRENCE-ID)."""
    skipped: list[Skipped] = []
    blocks, _, _ = expand_events(
        cal, window_start, window_end, tz, source, max_occurrences, skipped
    )
    _log_skipped(source, skipped)
    return blocks


def read_ics(
    data: bytes,
    window_start: datetime,
    window_end: datetime,
    tz: zoneinfo.ZoneInfo,
    source: str = "calendar",
    max_occurrences: int = MAX_OCCURRENCES,
    series_time_s: float | None = None,
) -> IcsRead:
    """Read iCalendar bytes over [window_start, window_end): sorted blocks and what was skipped.

    Raises CalendarParseError when the file is not a calendar, or when it has events and none of
    them could be read (naming the first cause), and CalendarTooComplex past `max_occurrences`.
    """
    cal, skipped, events = load(data, source)
    blocks, series, failed = expand_events(
        cal, window_start, window_end, tz, source, max_occurrences, skipped, series_time_s
    )
    if events and failed == series:  # every event had a problem: say the first one
        first = next((s for s in skipped if s.what == "VEVENT"), skipped[0] if skipped else "")
        raise CalendarParseError(source, f"none of the {events} event(s) could be read: {first}")
    return IcsRead(tuple(blocks), tuple(skipped))


def _log_skipped(source: str, skipped: Iterable[Skipped]) -> None:
    for item in skipped:
        log.warning("calendar %s: %s", source, item)


def parse_ics(
    data: bytes,
    window_start: datetime,
    window_end: datetime,
    tz: zoneinfo.ZoneInfo,
    source: str = "calendar",
) -> list[CalendarBlock]:
    """Parse and expand iCalendar bytes over [window_start, window_end) into sorted blocks.

    What was skipped is logged (one line per item: UID, property, why).
    """
    read = read_ics(data, window_start, window_end, tz, source)
    _log_skipped(source, read.skipped)
    return list(read.blocks)
