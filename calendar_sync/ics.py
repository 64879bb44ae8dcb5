"""iCalendar (RFC 5545, with Outlook's extensions) read into calendar blocks.

Busy time depends on a VEVENT's DTSTART, DTEND, DURATION, RRULE, RDATE, EXDATE, RECURRENCE-ID and
STATUS (plus the status, privacy and subject properties that word an absence), so reading is:

1. text: UTF-8 (with or without BOM) or UTF-16, unfolded as icalendar unfolds;
2. shape: one linear pass keeps those properties of every VEVENT and the VTIMEZONEs, and drops
   the rest (VALARM, GEO, ATTACH …, which can never change busy time but can break a parser);
   several VCALENDARs in one stream are read as one; a zone a file defines applies to that file
   only (icalendar caches VTIMEZONEs process-wide by TZID, first definition wins);
3. values: an unreadable property is dropped and reported (UID, property, why); an event without
   a readable DTSTART is skipped and reported; the rest of its series stays;
4. expansion through recurring_ical_events with `skip_bad_series`, bounded to `max_occurrences`
   in the window (time and memory are bounded by the worker process, calendar_sync.workers).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import signal
import threading
import zoneinfo
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar

import icalendar
import recurring_ical_events
from icalendar.parser.content_line import NEWLINE, UFOLD
from icalendar.prop import vBroken
from icalendar.timezone import tzp

from calendar_sync import occurrences as occurrences_mod
from calendar_sync.errors import CalendarParseError, CalendarTooComplex
from calendar_sync.status import event_status
from calendar_sync.zones import calendar_zone
from routing.models import CalendarBlock

log = logging.getLogger(__name__)

MAX_OCCURRENCES = 10_000  # in one window; a real calendar has a few hundred
MAX_CUSTOM_ZONES = 20  # VTIMEZONEs of unknown zones per calendar (each costs a zone object)

# icalendar's unfolding, `(\r?\n)+[ \t]`, written so that a run of bare newlines stays linear.
_FOLD = re.compile(rb"(?:(?<!\n)\r\n|(?<![\r\n])\n)(?:\r?\n)*[ \t]")
_NAME = re.compile(r"[^;:]*")
_TZID_PARAM = re.compile(r';TZID=(?:"([^"]*)"|([^;:"]*))', re.IGNORECASE)
_PRIVATE_CLASSES = frozenset({"PRIVATE", "CONFIDENTIAL"})
# What busy time and its wording depend on; everything else in a VEVENT is dropped unread.
_KEEP = frozenset(
    {
        "UID",
        "DTSTART",
        "DTEND",
        "DURATION",
        "RRULE",
        "RDATE",
        "EXDATE",
        "RECURRENCE-ID",
        "SEQUENCE",
        "STATUS",
        "TRANSP",
        "CLASS",
        "SUMMARY",
        "X-MICROSOFT-CDO-BUSYSTATUS",
    }
)
_ZONED = frozenset({"DTSTART", "DTEND", "RDATE", "EXDATE", "RECURRENCE-ID"})
_ONCE_NAMES = _KEEP - {"RRULE", "RDATE", "EXDATE"}  # "MUST NOT occur more than once"
# Floating times and dates are local: query a day wider, then keep what overlaps the window.
_FLOATING_MARGIN = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something in a calendar that was not used: which event (UID), what, and why."""

    uid: str
    what: str
    why: str

    def __str__(self) -> str:
        return f"UID {self.uid or '(none)'}: {self.what}: {self.why}"


@dataclass(frozen=True, slots=True)
class IcsRead:
    """A calendar as read: its blocks in the window, and what was skipped."""

    blocks: tuple[CalendarBlock, ...]
    skipped: tuple[Skipped, ...] = ()


def clean(text: object, limit: int = 160) -> str:
    """Text from a calendar made safe for a message or a log line: one line, bounded length."""
    out = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in str(text)[:limit])
    return out if len(str(text)) <= limit else out + "…"


# ---------------------------------------------------------------- 1. text


def _utf8(data: bytes) -> bytes:
    """The bytes as UTF-8: UTF-16 and UTF-32 (with a BOM, or UTF-16 without) are converted."""
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return data.decode("utf-32", errors="replace").encode("utf-8")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace").encode("utf-8")
    if len(data) >= 4 and data[0] == 0 and data[2] == 0 and data[1] and data[3]:
        return data.decode("utf-16-be", errors="replace").encode("utf-8")
    if len(data) >= 4 and data[1] == 0 and data[3] == 0 and data[0] and data[2]:
        return data.decode("utf-16-le", errors="replace").encode("utf-8")
    return data


def _content_lines(data: bytes, source: str) -> list[str]:
    """Unfolded content lines, cut where icalendar cuts them: at CRLF or LF only.

    Not str.splitlines(): it also cuts at U+2028, U+0085, form feed … which Outlook leaves
    inside a SUMMARY pasted from Word or a web page.
    """
    # Unfolded as bytes: writers that fold at 75 octets at times cut a UTF-8 sequence in two.
    # A fold always ends in a newline and a space or tab: without one there is nothing to
    # unfold (the unfolding patterns test every position, about 0.4 ms per calendar).
    data = _utf8(data)
    if b"\n " in data or b"\n\t" in data:
        data = _FOLD.sub(b"", data)
    text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
    head = text.lstrip(" \r\n\t")
    if not head[:15].upper().startswith("BEGIN:VCALENDAR"):  # upper() is per character
        if not head:
            raise CalendarParseError(source, "not an iCalendar file: it is empty")
        looks = " (it looks like HTML or XML)" if head.startswith("<") else ""
        raise CalendarParseError(
            source, f"not an iCalendar file: it does not start with BEGIN:VCALENDAR{looks}"
        )
    # What icalendar's `Contentlines.from_ical` does (its unfolding again, its `\r?\n` split,
    # empty lines dropped) without making a `Contentline` object of every line.
    if "\n " in text or "\n\t" in text:
        text = UFOLD.sub("", text)
    return [line for line in NEWLINE.split(text) if line]


# ---------------------------------------------------------------- 2. shape


@dataclass(slots=True)
class _Shape:
    """What the shape pass keeps: VTIMEZONE blocks and VEVENTs (as content lines)."""

    zones: list[list[str]]
    events: list[list[str]]
    skipped: list[Skipped]


def _name(line: str) -> str:
    match = _NAME.match(line)
    return match.group().upper() if match else ""


def _value(line: str) -> str:
    return line.partition(":")[2].strip()


def _uid_of(event: list[str]) -> str:
    return clean(next((_value(x) for x in event if _name(x) == "UID"), ""), 120)


def _shape(lines: Sequence[str], source: str) -> _Shape:
    """One linear pass over the content lines (no recursion, however deep the nesting)."""
    shape = _Shape([], [], [])
    stack: list[tuple[str, int]] = []  # (component, content line number)
    event: list[str] | None = None
    zone: list[str] | None = None
    calendars = 0
    nested: set[int] = set()  # events that held a nested VEVENT (reported once each)
    for number, line in enumerate(lines, 1):
        name = _name(line)
        if name == "BEGIN":
            comp = _value(line).upper()
            stack.append((comp, number))
            depth = len(stack)
            if depth == 1 and comp == "VCALENDAR":
                calendars += 1
            elif depth == 2 and stack[0][0] == "VCALENDAR":
                if comp == "VEVENT":
                    event = [line]
                elif comp == "VTIMEZONE":
                    zone = [line]
            elif zone is not None:
                zone.append(line)  # STANDARD / DAYLIGHT
            elif event is not None and depth == 3 and comp == "VEVENT" and id(event) not in nested:
                nested.add(id(event))
                why = "a VEVENT inside it was ignored"
                shape.skipped.append(Skipped(_uid_of(event), "VEVENT", why))
        elif name == "END":
            comp = _value(line).upper()
            if not stack:
                raise CalendarParseError(
                    source, f"END:{clean(comp, 40)} without BEGIN (content line {number})"
                )
            if stack[-1][0] != comp:
                raise CalendarParseError(
                    source,
                    f"END:{clean(comp, 40)} where END:{clean(stack[-1][0], 40)} was expected"
                    f" (content line {number})",
                )
            stack.pop()
            depth = len(stack)
            if depth == 1 and comp == "VEVENT" and event is not None:
                event.append(line)
                shape.events.append(event)
                event = None
            elif depth == 1 and comp == "VTIMEZONE" and zone is not None:
                zone.append(line)
                shape.zones.append(zone)
                zone = None
            elif zone is not None:
                zone.append(line)
        elif zone is not None:
            zone.append(line)
        elif event is not None and len(stack) == 2 and name in _KEEP:
            event.append(line)
    if stack:
        comp, number = stack[-1]
        raise CalendarParseError(
            source, f"truncated: BEGIN:{clean(comp, 40)} (content line {number}) has no END"
        )
    if not calendars:
        raise CalendarParseError(source, "no VCALENDAR in the file")
    return shape


def _zone_id(block: list[str]) -> str:
    depth = 0
    for line in block:
        name = _name(line)
        if name == "BEGIN":
            depth += 1
        elif name == "END":
            depth -= 1
        elif depth == 1 and name == "TZID":
            return _value(line)
    return ""


def _isolate_zones(shape: _Shape) -> tuple[list[str], dict[str, str]]:
    """VTIMEZONE lines to keep, and TZID → the id to use.

    Known zones (IANA, Windows names) are replaced by the IANA zone: Outlook's VTIMEZONE rules
    start in 1601 and every offset lookup walks them (about 148 ms per calendar; IANA ~9 ms).
    A zone the file defines itself ("Customized Time Zone", shared by many calendars with
    different offsets) gets an id made from its definition, so the same name defined otherwise in
    another calendar is another zone, and the same definition is built once.
    """
    kept: list[str] = []
    ids: dict[str, str] = {}
    custom = 0
    for block in shape.zones:
        tzid = _zone_id(block)
        if not tzid or tzid in ids:
            continue
        iana = calendar_zone(tzid)
        if iana is not None:
            ids[tzid] = iana
            continue
        if custom >= MAX_CUSTOM_ZONES:
            why = f"more than {MAX_CUSTOM_ZONES} time zone definitions: {clean(tzid, 60)!r} ignored"
            shape.skipped.append(Skipped("", "VTIMEZONE", why))
            continue
        body = [ln for ln in block if not ln.upper().startswith("TZID")]
        digest = hashlib.blake2b("\n".join(body).encode(), digest_size=8).hexdigest()
        own = tzid.replace('"', "") + "~" + digest
        lines = [ln if not ln.upper().startswith("TZID") else f"TZID:{own}" for ln in block]
        if tzp.timezone(own) is None:  # not built yet in this process
            try:
                component = icalendar.Timezone.from_ical("\r\n".join(lines) + "\r\n")
                tzp.cache_timezone_component(component)
            except Exception as exc:  # icalendar raises ValueError, KeyError … on bad rules
                why = f"{clean(tzid, 60)!r} unreadable ({clean(exc, 80)}): its times are local time"
                shape.skipped.append(Skipped("", "VTIMEZONE", why))
                continue
        custom += 1
        ids[tzid] = own
        kept.extend(lines)
    return kept, ids


def _compose(shape: _Shape) -> str:
    """One VCALENDAR: the kept zones first (they must be known before events name them)."""
    zones, ids = _isolate_zones(shape)
    undefined: set[str] = set()
    out = ["BEGIN:VCALENDAR", "VERSION:2.0", *zones]

    def rename(m: re.Match[str]) -> str:
        tzid = m.group(1) if m.group(1) is not None else m.group(2)
        new = ids.get(tzid) or calendar_zone(tzid)
        if new is None:
            undefined.add(tzid)
            return m.group(0)
        return f';TZID="{new}"' if any(c in new for c in ":;,") else f";TZID={new}"

    for event in shape.events:
        for line in event:
            if ";" in line and _name(line) in _ZONED:
                line = _TZID_PARAM.sub(rename, line)
            out.append(line)
    for tzid in sorted(undefined):
        why = f"time zone {clean(tzid, 60)!r} is not defined in the calendar: read as local time"
        shape.skipped.append(Skipped("", "TZID", why))
    out.append("END:VCALENDAR")
    return "\r\n".join(out) + "\r\n"


# ---------------------------------------------------------------- 3. values


def _uid(component: Any) -> str:
    uid = component.get("UID", "")
    return clean(uid[0] if isinstance(uid, list) and uid else uid, 120)


def _drop_broken(component: Any, name: str) -> None:
    """Remove the values of `name` icalendar could not read (kept as vBroken), keep the rest."""
    values = component.get(name)
    items = values if isinstance(values, list) else [values]
    good = [v for v in items if v is not None and not isinstance(v, vBroken)]
    del component[name]
    for value in good:
        component.add(name, value, encode=False)


_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _rule_problem(rule: Any) -> str | None:
    """Why an RRULE cannot be expanded safely, or None (dateutil loops on INTERVAL=0, and searches
    up to year 9999 for a date that does not exist)."""
    freq = rule.get("FREQ")
    if not freq:
        return "no FREQ"
    for key in ("INTERVAL", "COUNT"):
        for value in rule.get(key) or ():
            if not isinstance(value, int) or value < 1:
                return f"{key}={clean(value, 20)} (must be 1 or more)"
    days = [d for d in rule.get("BYMONTHDAY") or () if isinstance(d, int)]
    months = [m for m in rule.get("BYMONTH") or () if isinstance(m, int) and 1 <= m <= 12]
    if days and not any(abs(d) <= _MONTH_DAYS[m - 1] for d in days for m in months or range(1, 13)):
        return "BYMONTH/BYMONTHDAY name a day that does not exist (never occurs)"
    return None


def _check_events(cal: icalendar.Calendar, skipped: list[Skipped]) -> int:
    """Drop unreadable values and unusable events (reported); how many VEVENTs there were."""
    keep: list[Any] = []
    events = 0
    for comp in cal.subcomponents:
        if comp.name != "VEVENT":
            keep.append(comp)
            continue
        events += 1
        # The UID as read names a problem; cleaning it costs more than the rest of this check,
        # so it is made when needed: before anything is dropped, or later when nothing was
        # (keeping the first of repeated values does not change what `_uid` makes of it).
        uid: str | None = _uid(comp) if comp.errors else None
        bad: set[str] = set()
        for name, message in comp.errors:
            what = clean(name or "content line", 40)
            ignored = "" if name in ("DTSTART", "RECURRENCE-ID") else ": ignored"
            why = f"unreadable ({clean(message, 100)}){ignored}"
            skipped.append(Skipped(uid or "", what, why))
            if name:
                bad.add(name)
        for name in bad:
            _drop_broken(comp, name)
        # RFC 5545: at most once; a list breaks the expansion.
        for name in sorted(n for n, v in comp.items() if n in _ONCE_NAMES and isinstance(v, list)):
            values = comp.get(name)
            uid = _uid(comp) if uid is None else uid
            del comp[name]
            if values:
                comp.add(name, values[0], encode=False)
            why = f"appears {len(values)} times: the first is used"
            skipped.append(Skipped(uid, name, why))
        if "RECURRENCE-ID" in bad:
            why = "the moved occurrence is skipped (it keeps its place in the series)"
            skipped.append(Skipped(uid or "", "VEVENT", why))
            continue
        if "DTSTART" not in comp:
            why = "no readable DTSTART" if "DTSTART" in bad else "no DTSTART"
            who = _uid(comp) if uid is None else uid
            skipped.append(Skipped(who, "VEVENT", f"{why}: the event is skipped"))
            continue
        rules = comp.get("RRULE")
        if rules is not None:
            good_rules = []
            for rule in rules if isinstance(rules, list) else [rules]:
                if rule.get("COUNT") and rule.get("UNTIL"):  # RFC 5545: one or the other
                    del rule["COUNT"]
                    uid = _uid(comp) if uid is None else uid
                    skipped.append(Skipped(uid, "RRULE", "COUNT with UNTIL: COUNT ignored"))
                problem = _rule_problem(rule)
                if problem is None:
                    good_rules.append(rule)
                else:
                    uid = _uid(comp) if uid is None else uid
                    why = f"{problem}: ignored, the event counts once"
                    skipped.append(Skipped(uid, "RRULE", why))
            if len(good_rules) != (len(rules) if isinstance(rules, list) else 1):
                del comp["RRULE"]
                for rule in good_rules:
                    comp.add("RRULE", rule, encode=False)
        keep.append(comp)
    cal.subcomponents[:] = keep
    return events


def load(data: bytes, source: str = "calendar") -> tuple[icalendar.Calendar, list[Skipped], int]:
    """Parse iCalendar bytes: the cleaned Calendar, what was skipped, how many VEVENTs it had."""
    shape = _shape(_content_lines(data, source), source)
    text = _compose(shape)
    try:
        cal = icalendar.Calendar.from_ical(text)
    except Exception as exc:  # icalendar raises ValueError, KeyError, IndexError … on bad input
        raise CalendarParseError(source, f"invalid iCalendar: {clean(exc, 200)}") from None
    if not isinstance(cal, icalendar.Calendar):  # pragma: no cover - _compose writes one
        raise CalendarParseError(source, "invalid iCalendar: not a VCALENDAR")
    skipped = shape.skipped
    events = _check_events(cal, skipped)
    return cal, skipped, events


def load_calendar(data: bytes, source: str = "calendar") -> icalendar.Calendar:
    """Parse iCalendar bytes (CRLF or LF) into a Calendar, or raise CalendarParseError."""
    cal, skipped, _ = load(data, source)
    _log_skipped(source, skipped)
    return cal


# ---------------------------------------------------------------- 4. expansion


class _Query(recurring_ical_events.CalendarQuery):  # type: ignore[misc]
    """A query that skips a bad series on any error a malformed value can cause."""

    suppressed_errors: ClassVar[list[type[Exception]]] = [
        *recurring_ical_events.CalendarQuery.suppressed_errors,
        ValueError,
        TypeError,
        ArithmeticError,
        LookupError,
        AttributeError,
    ]


def _aware(value: date | datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    """An aware UTC instant: dates are local midnight, floating times are local time."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


class _SeriesTimeout(Exception):
    """One series' expansion ran past its time budget."""


@contextlib.contextmanager
def _series_budget(seconds: float | None) -> Iterator[None]:
    """Interrupt the block after `seconds` (SIGALRM; main thread only, as in a worker process).

    dateutil walks every candidate from DTSTART: `FREQ=SECONDLY` since 2007 takes minutes, and a
    rule that never matches is searched up to year 9999. The worker stays alive and answers why.
    """
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise _SeriesTimeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _series_error(
    cal: icalendar.Calendar, uid: str, lo: datetime, hi: datetime, budget: float | None
) -> str:
    """Why recurring_ical_events skipped the series `uid` (asked again, without skipping)."""
    single = icalendar.Calendar()
    for comp in cal.subcomponents:
        if comp.name == "VEVENT" and _series_key(comp) == uid:
            single.add_component(comp)
    try:
        with _series_budget(budget):
            recurring_ical_events.of(single).between(lo, hi)
    except _SeriesTimeout:
        return f"expanding it took more than {budget:g} s"
    except Exception as exc:
        return f"{type(exc).__name__}: {clean(exc, 120)}"
    return "skipped by the recurrence expansion"


def _series_key(comp: Any) -> str:
    return str(comp.get("UID", str(id(comp))))


def _rule_text(series: Any) -> str:
    core = getattr(getattr(series, "recurrence", None), "core", None)
    rules = sorted(getattr(core, "rrules", ()) or ())
    return f": RRULE:{clean(rules[0], 80)}" if rules else ""


def _expand(
    cal: icalendar.Calendar,
    window_start: datetime,
    window_end: datetime,
    tz: zoneinfo.ZoneInfo,
    source: str,
    max_occurrences: int,
    skipped: list[Skipped],
    series_time_s: float | None = None,
) -> tuple[list[CalendarBlock], int, int]:
    """Blocks overlapping the window, how many series there were, and how many failed."""
    lo = (window_start - _FLOATING_MARGIN).astimezone(tz)
    hi = (window_end + _FLOATING_MARGIN).astimezone(tz)
    groups = occurrences_mod.group(c for c in cal.subcomponents if c.name == "VEVENT")
    # A plain event's one occurrence is read as it is, a simple series expanded by dateutil as
    # recurring_ical_events would; the rest goes through recurring_ical_events.
    plain: dict[str, tuple[Any, Any] | occurrences_mod.SimpleSeries] = {}
    rest = icalendar.Calendar()
    for key, comps in groups.items():
        direct: tuple[Any, Any] | occurrences_mod.SimpleSeries | None = None
        if len(comps) == 1:
            direct = occurrences_mod.plain_span(comps[0]) or occurrences_mod.simple_series(comps[0])
        if direct is None:
            rest.subcomponents.extend(comps)
        else:
            plain[key] = direct
    by_key: dict[str, Any] = {}
    if rest.subcomponents:
        query = recurring_ical_events.of(rest, skip_bad_series=True, calendar_query=_Query)
        by_key = {str(s.uid): s for s in query.series}
    failed = 0
    for key in sorted(groups.keys() - plain.keys() - by_key.keys()):
        failed += 1
        why = _series_error(cal, key, lo, hi, series_time_s)
        skipped.append(Skipped(clean(key, 120), "VEVENT", why))
    suppressed = tuple(_Query.suppressed_errors)
    # (start, end, component) of every occurrence, series by series in the library's order.
    occurrences: list[tuple[Any, Any, Any]] = []
    for key, comps in groups.items():
        span = plain.get(key)
        if isinstance(span, tuple):
            if occurrences_mod.in_span(lo, hi, *span):
                occurrences.append((*span, comps[0]))
                if len(occurrences) > max_occurrences:
                    raise _too_many(source, max_occurrences, lo, hi, key, "")
            continue
        if span is not None:
            found: list[tuple[Any, Any, Any]] = []
            try:
                with _series_budget(series_time_s):
                    for begin, end in span.between(lo, hi):
                        found.append((begin, end, comps[0]))
                        if len(occurrences) + len(found) > max_occurrences:
                            rule = f": RRULE:{clean(span.rule_text, 80)}"
                            raise _too_many(source, max_occurrences, lo, hi, key, rule)
            except _SeriesTimeout:
                raise CalendarTooComplex(
                    source,
                    f"expanding UID {clean(key, 80)}: RRULE:{clean(span.rule_text, 80)} took"
                    " more than"
                    f" {series_time_s:g} s (an endless, very frequent or impossible RRULE?)",
                ) from None
            except suppressed as exc:
                failed += 1
                why = f"series skipped: {type(exc).__name__}: {clean(exc, 120)}"
                skipped.append(Skipped(clean(key, 120), "VEVENT", why))
                continue
            occurrences.extend(found)
            continue
        series = by_key.get(key)
        if series is None:
            continue
        found = []
        try:
            with _series_budget(series_time_s):
                for occurrence in series.between(lo, hi):
                    # What `occurrence.as_component()` would copy: its start and end, and the
                    # component's own properties.
                    found.append((occurrence.start, occurrence.end, occurrence._adapter._component))
                    if len(occurrences) + len(found) > max_occurrences:
                        raise _too_many(
                            source, max_occurrences, lo, hi, series.uid, _rule_text(series)
                        )
        except _SeriesTimeout:
            raise CalendarTooComplex(
                source,
                f"expanding UID {clean(series.uid, 80)}{_rule_text(series)} took more than"
                f" {series_time_s:g} s (an endless, very frequent or impossible RRULE?)",
            ) from None
        except suppressed as exc:
            failed += 1
            why = f"series skipped: {type(exc).__name__}: {clean(exc, 120)}"
            skipped.append(Skipped(clean(series.uid, 120), "VEVENT", why))
            continue
        occurrences.extend(found)
    blocks: list[CalendarBlock] = []
    for start_value, end_value, ev in occurrences:
        if str(ev.get("STATUS", "")).upper() == "CANCELLED":
            continue
        all_day = not isinstance(start_value, datetime)
        start, end = _aware(start_value, tz), _aware(end_value, tz)
        if end <= start or end <= window_start or start >= window_end:
            continue
        status = event_status(_text(ev.get("X-MICROSOFT-CDO-BUSYSTATUS")), _text(ev.get("TRANSP")))
        private = _text(ev.get("CLASS")).upper() in _PRIVATE_CLASSES
        subject = None if private else (_text(ev.get("SUMMARY")) or None)
        blocks.append(CalendarBlock(start, end, status, subject, private, all_day))
    blocks.sort(key=lambda b: (b.start, b.end))
    return blocks, len(groups), failed


def _too_many(
    source: str, limit: int, lo: datetime, hi: datetime, uid: object, rule: str
) -> CalendarTooComplex:
    return CalendarTooComplex(
        source,
        f"more than {limit} occurrences between {lo:%Y-%m-%d} and"
        f" {hi:%Y-%m-%d} (reached in UID {clean(uid, 80)}{rule})",
    )


def _text(value: object) -> str:
    return "" if value is None else str(value)


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
    blocks, _, _ = _expand(cal, window_start, window_end, tz, source, max_occurrences, skipped)
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
    blocks, series, failed = _expand(
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
