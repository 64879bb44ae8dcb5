"""Expansion (step 4 of calendar_sync.ics): every occurrence in the window as a CalendarBlock.

Plain events and simple series are expanded directly (calendar_sync.occurrences); the rest goes
through recurring_ical_events with `skip_bad_series` (a series it cannot build is dropped; its
reason is asked again, to report it). Each series' expansion is bounded in time (SIGALRM in a
worker process) and all of them together to `max_occurrences`; a series whose occurrences raise
one of the errors `skip_bad_series` suppresses is skipped here too, but named in the report.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar

import icalendar
import recurring_ical_events

from calendar_sync import occurrences as occurrences_mod
from calendar_sync.errors import CalendarTooComplex
from calendar_sync.ics.text import Skipped, clean
from calendar_sync.status import event_status
from routing.absence import CalendarBlock

MAX_OCCURRENCES = 10_000  # in one window; a real calendar has a few hundred
_PRIVATE_CLASSES = frozenset({"PRIVATE", "CONFIDENTIAL"})
# Floating times and dates are local: query a day wider, then keep what overlaps the window.
_FLOATING_MARGIN = timedelta(days=1)


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
        if comp.name == "VEVENT" and occurrences_mod.series_key(comp) == uid:
            single.add_component(comp)
    try:
        with _series_budget(budget):
            recurring_ical_events.of(single).between(lo, hi)
    except _SeriesTimeout:
        return f"expanding it took more than {budget:g} s"
    except Exception as exc:
        return f"{type(exc).__name__}: {clean(exc, 120)}"
    return "skipped by the recurrence expansion"


def _rule_text(series: Any) -> str:
    core = getattr(getattr(series, "recurrence", None), "core", None)
    rules = sorted(getattr(core, "rrules", ()) or ())
    return f": RRULE:{clean(rules[0], 80)}" if rules else ""


def expand_events(
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
                rule = f": RRULE:{clean(span.rule_text, 80)}"
                raise _too_slow(source, key, rule, series_time_s) from None
            except suppressed as exc:
                failed += 1
                skipped.append(_series_skipped(key, exc))
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
            raise _too_slow(source, series.uid, _rule_text(series), series_time_s) from None
        except suppressed as exc:
            failed += 1
            skipped.append(_series_skipped(series.uid, exc))
            continue
        occurrences.extend(found)
    blocks: list[CalendarBlock] = []
    get = occurrences_mod.get_property  # the property by its upper-case name (see there)
    for start_value, end_value, ev in occurrences:
        if str(get(ev, "STATUS", "")).upper() == "CANCELLED":
            continue
        all_day = not isinstance(start_value, datetime)
        start, end = _aware(start_value, tz), _aware(end_value, tz)
        if end <= start or end <= window_start or start >= window_end:
            continue
        status = event_status(
            _text(get(ev, "X-MICROSOFT-CDO-BUSYSTATUS")), _text(get(ev, "TRANSP"))
        )
        private = _text(get(ev, "CLASS")).upper() in _PRIVATE_CLASSES
        subject = None if private else (_text(get(ev, "SUMMARY")) or None)
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


def _too_slow(source: str, uid: object, rule: str, seconds: float | None) -> CalendarTooComplex:
    return CalendarTooComplex(
        source,
        f"expanding UID {clean(uid, 80)}{rule} took more than"
        f" {seconds:g} s (an endless, very frequent or impossible RRULE?)",
    )


def _series_skipped(uid: object, exc: Exception) -> Skipped:
    """A series whose occurrences raised an error `skip_bad_series` suppresses: reported."""
    return Skipped(
        clean(uid, 120), "VEVENT", f"series skipped: {type(exc).__name__}: {clean(exc, 120)}"
    )


def _text(value: object) -> str:
    return "" if value is None else str(value)
