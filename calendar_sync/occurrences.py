"""Occurrences of a calendar's VEVENTs in a span, without recurring_ical_events where it adds
nothing but objects:

- a plain event (one component for its UID, DTSTART and DTEND of one kind, no RRULE, RDATE,
  EXDATE, RECURRENCE-ID or DURATION) occurs once, at exactly its DTSTART and DTEND, which is
  what recurring_ical_events answers for it after building a series, a rule set and an
  occurrence object;
- a simple series (the same, with one RRULE, zoned times) is expanded by dateutil with the very
  calls and checks recurring_ical_events makes for it (`Series.RecurrenceRules` and
  `Series.between` in recurring_ical_events 3.x): DTSTART itself unless past UNTIL, then the
  rule's starts in [lo - duration, hi], each once, each ending a duration later, kept when the
  occurrence overlaps the span.

Everything else (moved occurrences, EXDATE, RDATE, DURATION, several RRULEs, floating, mixed or
reversed times, pytz zones, a rule dateutil refuses) still goes through recurring_ical_events,
series by series in the same order; so does a simple series whose expansion raises.

Blocks are made from each occurrence's start and end and its component's properties, as
recurring_ical_events' `as_component` copy would hold them (its DTSTART and DTEND are the
occurrence's, every property that words a block is the component's own), without the copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from dateutil.rrule import rrule, rrulestr  # type: ignore[import-untyped]
from icalendar.prop import vDDDTypes
from recurring_ical_events.constants import NEGATIVE_RRULE_COUNT_REGEX
from recurring_ical_events.util import compare_greater, time_span_contains_event

Time = date | datetime
# A component's properties by their upper-case name: icalendar stores every name upper-cased,
# so dict's own lookup finds what `comp.get` finds, without CaselessDict's conversion per call.
get_property = dict.get
has_property = dict.__contains__
# Properties that make an event more than one occurrence at its DTSTART..DTEND.
_NOT_PLAIN = ("RRULE", "RDATE", "EXDATE", "RECURRENCE-ID", "DURATION")


def series_key(comp: Any) -> str:
    """The UID recurring_ical_events groups a series by (the object's id when it has none)."""
    uid = get_property(comp, "UID")
    return str(id(comp)) if uid is None else str(uid)


def plain_span(comp: Any, allowed: tuple[str, ...] = ()) -> tuple[Time, Time] | None:
    """(start, end) of the one occurrence of a plain VEVENT, exactly as recurring_ical_events
    computes it, or None when the event needs recurring_ical_events."""
    for name in _NOT_PLAIN:
        if has_property(comp, name) and name not in allowed:
            return None
    dtstart, dtend = get_property(comp, "DTSTART"), get_property(comp, "DTEND")
    start, end = getattr(dtstart, "dt", None), getattr(dtend, "dt", None)
    if type(start) is date and type(end) is date:
        pass
    elif type(start) is datetime and type(end) is datetime:
        tz = start.tzinfo
        # One zone object (its arithmetic is wall-clock, as the library's), not pytz.
        if tz is None or end.tzinfo is not tz or hasattr(tz, "localize"):
            return None
    else:
        return None
    if start > end:  # the library swaps them: leave that to it
        return None
    # The library's occurrence: the start as given, the end as start + (end - start).
    return start, start + (end - start)


def group(events: Iterable[Any]) -> dict[str, list[Any]]:
    """VEVENTs by series key, in order of first appearance (the library's series order)."""
    groups: dict[str, list[Any]] = {}
    for comp in events:
        groups.setdefault(series_key(comp), []).append(comp)
    return groups


def in_span(lo: datetime, hi: datetime, start: Time, end: Time) -> bool:
    """Whether recurring_ical_events returns an occurrence from `between(lo, hi)`."""
    return bool(time_span_contains_event(lo, hi, start, end))


_NO_MOVE = timedelta(0)


@dataclass(frozen=True, slots=True)
class SimpleSeries:
    """A single-component series with one RRULE and zoned DTSTART and DTEND."""

    start: datetime
    duration: timedelta
    rule: rrule
    until: Time | None
    starts_with_dtstart: bool
    rule_text: str  # as recurring_ical_events names the rule in its errors

    def between(self, lo: datetime, hi: datetime) -> Iterator[tuple[datetime, datetime]]:
        """(start, end) of the occurrences recurring_ical_events returns for `between(lo, hi)`,
        in its order."""
        after = lo - self.duration
        seen: set[datetime] = set()
        if self.starts_with_dtstart and after <= self.start <= hi:
            first: Iterable[datetime] = (self.start,)
        else:
            first = ()
        for from_rule, starts in ((False, first), (True, self.rule.between(after, hi, inc=True))):
            for start in starts:
                if from_rule and self.until is not None and compare_greater(start, self.until):
                    continue
                if start in seen:
                    continue
                seen.add(start)
                begin = start + _NO_MOVE
                end = begin + self.duration
                if time_span_contains_event(lo, hi, begin, end):
                    yield begin, end


def simple_series(comp: Any) -> SimpleSeries | None:
    """The series of a one-component VEVENT with one RRULE and zoned times, or None when it
    needs recurring_ical_events."""
    recur = get_property(comp, "RRULE")
    if recur is None or isinstance(recur, list):
        return None
    span = plain_span(comp, allowed=("RRULE",))
    if span is None:
        return None
    start, end = span
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        return None
    try:
        text = recur.to_ical().decode()
        rule_string = NEGATIVE_RRULE_COUNT_REGEX.sub("", text)
        rule = rrulestr(rule_string, dtstart=start, cache=True)
        if not isinstance(rule, rrule):
            return None
        parts = rule_string.split(";UNTIL=")
        if len(parts) > 2:
            return None
        until: Time | None = None
        if len(parts) == 2:
            cut = parts[1].find(";")
            until = vDDDTypes.from_ical(  # type: ignore[no-untyped-call]
                parts[1][: cut if cut != -1 else len(parts[1])]
            )
        starts_with_dtstart = not until or not compare_greater(start, until)
    except Exception:  # recurring_ical_events has a way (or an error) for it: let it say
        return None
    return SimpleSeries(start, end - start, rule, until, starts_with_dtstart, text)
