"""A zone a calendar defines itself (VTIMEZONE), its onsets worked out once for the years asked.

dateutil's zone (`tzicalvtz`, what icalendar builds from a VTIMEZONE) finds the component in
force at a local time with `rrule.before` on every component: a walk of the component's rule from
its DTSTART, 1601 in Outlook's zones (about 430 entries), for every UTC offset asked.
`DefinedZone` is the same zone, with the same components and dateutil's own `utcoffset`, `dst`,
`tzname` and `fromutc` (folds included); it finds the component differently: each component's
onsets (naive local times, as dateutil compares them) are listed once for a range of years around
the first year asked, extended as later questions need, and found by bisection.

A yearly rule (INTERVAL=1, no COUNT) occurs in a year independently of the year of its DTSTART,
past that year: its occurrences in year Y are those of the same rule started in Y - 2 (same month,
day and time, so the same defaults). Anything else — another frequency, an interval, COUNT,
EXRULE, EXDATE, aware times — keeps dateutil's zone as it is (`defined_zone`). Where a component
had no onset in the year before the range, the last one before it is asked of dateutil once; years
more than `REACH` beyond the range, and years at the ends of the calendar, are answered by
dateutil's walk.
"""

from __future__ import annotations

import calendar
import threading
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from dateutil.rrule import YEARLY, rrule, rruleset  # type: ignore[import-untyped]
from dateutil.tz.tz import _tzicalvtz  # type: ignore[import-untyped]

REACH = 200  # years one extension may add; further away, dateutil's walk answers
_ZERO = timedelta(0)


def _fast_rule(rule: Any) -> bool:
    return (
        type(rule) is rrule
        and rule._freq == YEARLY
        and rule._interval == 1
        and rule._count is None
        and rule._dtstart.tzinfo is None
        and (rule._until is None or rule._until.tzinfo is None)
    )


def _fast_component(comp: Any) -> bool:
    rules = comp.rrule
    return (
        type(rules) is rruleset
        and not rules._exrule
        and not rules._exdate
        and all(_fast_rule(r) for r in rules._rrule)
        and all(type(d) is datetime and d.tzinfo is None for d in rules._rdate)
    )


def defined_zone(zone: tzinfo) -> tzinfo:
    """`zone` as a DefinedZone when it is a dateutil zone of several components whose rules
    allow it; otherwise `zone` itself (one component needs no search)."""
    if type(zone) is not _tzicalvtz:
        return zone
    vtz: Any = zone
    comps = vtz._comps
    if len(comps) < 2 or not all(_fast_component(c) for c in comps):
        return zone
    return DefinedZone(vtz._tzid, comps)


def _year_start(rule: Any, year: int) -> datetime | None:
    """The rule's DTSTART moved to `year` (a leap year at or before it for 29 February), or
    None when that is not after the real DTSTART's year."""
    start: datetime = rule._dtstart
    if start.month == 2 and start.day == 29:
        while not calendar.isleap(year):
            year -= 1
    if year <= start.year:
        return None
    return start.replace(year=year)


def _rule_years(rule: Any, first: int, last: int) -> list[datetime]:
    """The rule's occurrences in the years first..last."""
    lo, hi = datetime(first, 1, 1), datetime(last + 1, 1, 1)
    moved = _year_start(rule, first - 2)
    source = rule if moved is None else rule.replace(dtstart=moved, cache=False)
    return [t for t in source.between(lo, hi, inc=True) if t < hi]


def _rule_span(rule: Any, first: int, last: int, before: bool) -> tuple[list[datetime], Any]:
    """The rule's occurrences in the years first..last and (if `before`) its last occurrence
    before them (None when it has none)."""
    lo = datetime(first, 1, 1)
    if not before:
        return _rule_years(rule, first, last), None
    found = _rule_years(rule, first - 1, last)
    i = bisect_left(found, lo)
    if i:
        return found[i:], found[i - 1]
    if lo <= rule._dtstart:
        return found, None
    return found, rule.before(lo)  # the rule ended, or skips years: dateutil walks


@dataclass(frozen=True, slots=True)
class _Onsets:
    """One component's onsets in the years first..last, and its last onset before them."""

    comp: Any
    shift: timedelta  # added to a local time in the fold (dateutil's `_find_compdt`)
    times: list[datetime]
    before: datetime | None


def _span(comp: Any, first: int, last: int, before: bool) -> tuple[list[datetime], Any]:
    """The component's onsets in the years first..last, and (if `before`) its last before."""
    rules = comp.rrule
    lo, hi = datetime(first, 1, 1), datetime(last + 1, 1, 1)
    found = {d for d in rules._rdate if lo <= d < hi}
    earlier = [d for d in rules._rdate if d < lo] if before else []
    for rule in rules._rrule:
        times, last_one = _rule_span(rule, first, last, before)
        found.update(times)
        if last_one is not None:
            earlier.append(last_one)
    return sorted(found), max(earlier) if earlier else None


def _in_force(onsets: tuple[_Onsets, ...], at: datetime | None) -> Any:
    """The component in force at `at` (None: before the first onset of the table) outside the
    fold: the one whose last onset is latest, the first of equals (dateutil's `_find_comp`)."""
    best = None
    best_dt: datetime | None = None
    for o in onsets:
        i = 0 if at is None else bisect_right(o.times, at)
        found = o.times[i - 1] if i else o.before
        if found is not None and (best_dt is None or best_dt < found):
            best, best_dt = o.comp, found
    return best


@dataclass(frozen=True, slots=True)
class _Table:
    """Onsets over the years first..last; outside the fold, the component in force from each
    onset of any component (`winners[0]`: before the first; None when there is none)."""

    first: int
    last: int
    onsets: tuple[_Onsets, ...]
    starts: list[datetime]
    winners: list[Any]


def _table(first: int, last: int, onsets: tuple[_Onsets, ...]) -> _Table:
    starts = sorted({t for o in onsets for t in o.times})
    winners = [_in_force(onsets, None), *(_in_force(onsets, t) for t in starts)]
    return _Table(first, last, onsets, starts, winners)


class DefinedZone(_tzicalvtz):  # type: ignore[misc]
    """dateutil's zone of a VTIMEZONE with its onsets tabled (see the module)."""

    def __init__(self, tzid: str, comps: list[Any]) -> None:
        super().__init__(tzid, comps)
        self._table: _Table | None = None
        self._grow = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        return (DefinedZone, (self._tzid, self._comps))

    def __copy__(self) -> DefinedZone:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> DefinedZone:
        return self

    def _cover(self, year: int) -> _Table | None:
        """The table extended to the years year - 1 .. year + 1, or None when too far."""
        with self._grow:
            table = self._table
            first, last = year - 1, year + 1
            if table is None:
                onsets = tuple(
                    _Onsets(c, self._shift(c), *_span(c, first, last, True)) for c in self._comps
                )
            else:
                if table.first <= first and last <= table.last:
                    return table
                first, last = min(first, table.first), max(last, table.last)
                if table.first - first + last - table.last > REACH:
                    return None
                onsets = tuple(self._extend(o, table, first, last) for o in table.onsets)
            self._table = _table(first, last, onsets)
            return self._table

    @staticmethod
    def _shift(comp: Any) -> timedelta:
        diff: timedelta = comp.tzoffsetdiff
        return -diff if diff < _ZERO else _ZERO

    @staticmethod
    def _extend(old: _Onsets, table: _Table, first: int, last: int) -> _Onsets:
        times = list(old.times)
        before = old.before
        if first < table.first:
            earlier, before = _span(old.comp, first, table.first - 1, True)
            times[:0] = earlier
        if last > table.last:
            times.extend(_span(old.comp, table.last + 1, last, False)[0])
        return _Onsets(old.comp, old.shift, times, before)

    def _find_comp(self, dt: datetime) -> Any:
        dt = dt.replace(tzinfo=None)
        year = dt.year
        table = self._table
        if table is None or not table.first < year < table.last:
            if not 1 < year < 9999:
                return super()._find_comp(dt)
            table = self._cover(year)
            if table is None:
                return super()._find_comp(dt)
        if not getattr(dt, "fold", 0):
            best = table.winners[bisect_right(table.starts, dt)]
        else:  # fold=1: dateutil looks a backward change later for the components that make one
            best = None
            best_dt: datetime | None = None
            for onsets in table.onsets:
                probe = dt + onsets.shift
                i = bisect_right(onsets.times, probe)
                found = onsets.times[i - 1] if i else onsets.before
                if found is not None and (best_dt is None or best_dt < found):
                    best, best_dt = onsets.comp, found
        if best is not None:
            return best
        for comp in self._comps:  # before the first onset: dateutil's choice (or its error)
            if not comp.isdst:
                return comp
        return super()._find_comp(dt)
