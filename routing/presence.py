"""Presence: calendar blocks and manual redirects turned into redirect state (HV-01..HV-05)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from routing.absence import (
    AbsenceReason,
    BusyStatus,
    CalendarBlock,
    ManualRedirect,
    Redirect,
    UserPresence,
)
from routing.models import Hours

_LEADING_NUMBER = re.compile(r"\s*\+?[\d][\d \-()]*\d")

# Subject words → reason codes; first match wins. Configurable per organisation.
DEFAULT_REASON_CODES: tuple[tuple[str, AbsenceReason], ...] = (
    ("lunch", AbsenceReason.LUNCH),
    ("möte", AbsenceReason.MEETING),
    ("semester", AbsenceReason.VACATION),
    ("ledig", AbsenceReason.VACATION),
    ("tjänsteresa", AbsenceReason.TRAVEL),
    ("resa", AbsenceReason.TRAVEL),
    ("utbildning", AbsenceReason.TRAINING),
    ("kurs", AbsenceReason.TRAINING),
    ("sjuk", AbsenceReason.SICK),
    ("vab", AbsenceReason.CARE_OF_CHILD),
)

# When two blocks overlap, the one with the higher rank is what the caller hears.
_RANK = {
    AbsenceReason.SICK: 9,
    AbsenceReason.CARE_OF_CHILD: 9,
    AbsenceReason.VACATION: 8,
    AbsenceReason.AWAY: 7,
    AbsenceReason.TRAVEL: 6,
    AbsenceReason.TRAINING: 5,
    AbsenceReason.MEETING: 4,
    AbsenceReason.LUNCH: 3,
    AbsenceReason.BUSY: 2,
}


@dataclass(frozen=True, slots=True)
class PresenceRules:
    """Everything presence needs from the organisation: hours, holidays, mapping, markers."""

    timezone: ZoneInfo
    working_hours: Hours
    holidays: frozenset[date] = frozenset()
    redirect_on: frozenset[BusyStatus] = frozenset({BusyStatus.BUSY, BusyStatus.OOF})
    reason_codes: tuple[tuple[str, AbsenceReason], ...] = DEFAULT_REASON_CODES
    keep_open_marker: str = "-"  # HV-05: "-Planering" keeps the phone open
    forward_marker: str = ">"  # HV-05: ">0701234567 Kundbesök" forwards there
    _words: tuple[tuple[re.Pattern[str], AbsenceReason], ...] = field(
        default=(), init=False, repr=False, compare=False
    )
    _reasons: dict[tuple[str, bool], AbsenceReason] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        words = tuple(
            (re.compile(r"(?<!\w)" + re.escape(word.casefold()), re.UNICODE), reason)
            for word, reason in self.reason_codes
        )
        object.__setattr__(self, "_words", words)

    def reason_for(self, block: CalendarBlock) -> AbsenceReason:
        """Reason code from the subject; private events reveal nothing (HV-04)."""
        if block.status is BusyStatus.OOF and (block.private or not block.subject):
            return AbsenceReason.AWAY
        if block.private or not block.subject:
            return AbsenceReason.BUSY
        key = (block.subject, block.status is BusyStatus.OOF)
        cached = self._reasons.get(key)
        if cached is None:
            cached = self._reason_from_subject(block.subject, block.status)
            if len(self._reasons) < 4096:  # subjects repeat: Lunch, Möte …; bounded anyway
                self._reasons[key] = cached
        return cached

    def _reason_from_subject(self, subject: str, status: BusyStatus) -> AbsenceReason:
        folded = subject.casefold()
        for pattern, reason in self._words:
            if pattern.search(folded):
                return reason
        return AbsenceReason.AWAY if status is BusyStatus.OOF else AbsenceReason.MEETING

    def is_working_day(self, day: date) -> bool:
        """A weekday of the working hours that is not a holiday."""
        return day.weekday() in self.working_hours.days and day not in self.holidays

    def return_time(self, end: datetime) -> datetime:
        """When someone absent until `end` is back: `end` itself inside working hours, else the
        next working day's start (HV-02: an absence ending at or after close returns next day)."""
        local = end.astimezone(self.timezone)
        wh = self.working_hours
        if self.is_working_day(local.date()):
            if wh.start <= local.time() < wh.end:
                return end
            if local.time() < wh.start:
                return _at(local.date(), wh.start, self.timezone)
        day = local.date() + timedelta(days=1)
        for _ in range(366):
            if self.is_working_day(day):
                return _at(day, wh.start, self.timezone)
            day += timedelta(days=1)
        return end  # no working day within a year: say the literal end


def _at(day: date, t: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, t, tzinfo=tz)


@dataclass(frozen=True, slots=True)
class _Absence:
    start: datetime
    end: datetime
    reason: AbsenceReason
    forward_to: str | None


def _absences(
    blocks: Iterable[CalendarBlock],
    rules: PresenceRules,
    normalise: Callable[[str], str | None] | None,
) -> list[_Absence]:
    out: list[_Absence] = []
    for b in blocks:
        if b.status not in rules.redirect_on:
            continue  # ALV-07: free (and by default tentative, working elsewhere) never redirect
        forward_to = None
        subject = (b.subject or "").lstrip()
        if not b.private and subject:
            if rules.keep_open_marker and subject.startswith(rules.keep_open_marker):
                continue
            if rules.forward_marker and subject.startswith(rules.forward_marker):
                number = _LEADING_NUMBER.match(subject[len(rules.forward_marker) :])
                if number and normalise is not None:
                    forward_to = normalise(number.group(0))
        out.append(_Absence(b.start, b.end, rules.reason_for(b), forward_to))
    out.sort(key=lambda a: a.start)
    return out


def _segments(group: list[_Absence]) -> list[tuple[datetime, _Absence]]:
    """Split a merged group at every boundary; each piece says the highest-ranked reason."""
    if len(group) == 1:
        return [(group[0].start, group[0])]
    cuts = sorted({a.start for a in group} | {a.end for a in group})
    pieces: list[tuple[datetime, _Absence]] = []
    for lo, hi in itertools.pairwise(cuts):
        active = [a for a in group if a.start <= lo and a.end >= hi]
        if not active:
            continue
        top = max(active, key=lambda a: (_RANK[a.reason], a.start))
        if pieces and pieces[-1][1] is top:
            continue
        pieces.append((lo, top))
    return pieces


def calendar_redirects(
    blocks: Iterable[CalendarBlock],
    rules: PresenceRules,
    normalise: Callable[[str], str | None] | None = None,
) -> tuple[Redirect, ...]:
    """Redirects from calendar blocks: busy blocks merged when back-to-back or overlapping, every
    piece returning at the end of its merged block (moved to the next working day, HV-02)."""
    absences = _absences(blocks, rules, normalise)
    redirects: list[Redirect] = []
    i = 0
    while i < len(absences):
        group = [absences[i]]
        end = absences[i].end
        i += 1
        while i < len(absences) and absences[i].start <= end:
            group.append(absences[i])
            end = max(end, absences[i].end)
            i += 1
        returns = rules.return_time(end)
        for start, a in _segments(group):
            redirects.append(
                Redirect(a.reason, start, end, "calendar", None, a.forward_to, returns=returns)
            )
    return tuple(redirects)


def build_user_presence(
    user_id: str,
    blocks: Iterable[CalendarBlock],
    rules: PresenceRules,
    normalise: Callable[[str], str | None] | None = None,
    calendar_error: str | None = None,
    fetched_at: datetime | None = None,
    stale: bool = False,
) -> UserPresence:
    """A user's presence over the blocks' window, ready for a bisect at call time."""
    return UserPresence.of(
        user_id, calendar_redirects(blocks, rules, normalise), calendar_error, fetched_at, stale
    )


def manual_redirect(
    user_id: str,
    reason: AbsenceReason,
    until: datetime | None,
    rules: PresenceRules,
    now: datetime,
    text: str | None = None,
) -> ManualRedirect:
    """A manual redirect (ALV-02) with its spoken return time; it expires at `until` (HV-03)."""
    returns = rules.return_time(until) if until is not None else None
    return ManualRedirect(user_id, reason, until, text, now, returns)
