"""Absences as routing reads them: calendar blocks, redirects (hänvisningar) and presence.

The types the calendar side produces and the call path reads: free/busy blocks, reason codes,
calendar and manual redirects, and the presence book a decision looks a user up in (HV-01..05).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal


class BusyStatus(StrEnum):
    """Free/busy status as Outlook, EWS and Graph name it (HV-01)."""

    FREE = "free"
    TENTATIVE = "tentative"
    BUSY = "busy"
    OOF = "oof"
    WORKING_ELSEWHERE = "workingElsewhere"
    NO_DATA = "noData"


@dataclass(frozen=True, slots=True)
class CalendarBlock:
    """One expanded calendar occurrence: an interval in UTC with a free/busy status."""

    start: datetime
    end: datetime
    status: BusyStatus
    subject: str | None = None  # None for private events (HV-04)
    private: bool = False
    all_day: bool = False


class AbsenceReason(StrEnum):
    """Reason codes an absence message can name (HV-01)."""

    MEETING = "meeting"
    LUNCH = "lunch"
    VACATION = "vacation"
    TRAVEL = "travel"
    TRAINING = "training"
    SICK = "sick"  # spoken only as a neutral absence (HV-04)
    CARE_OF_CHILD = "care_of_child"  # VAB: spoken only as a neutral absence
    AWAY = "away"  # neutral: "är inte på plats"
    BUSY = "busy"  # busy with no recognised subject


@dataclass(frozen=True, slots=True)
class Redirect:
    """An active or scheduled redirection (hänvisning) of a user's extension."""

    reason: AbsenceReason
    start: datetime
    until: datetime | None  # return time (åter); None = until further notice
    source: Literal["calendar", "manual"]
    text: str | None = None  # free text (manual) – never a private subject
    forward_to: str | None = None  # E.164 from a '>NUMBER' override (HV-05)
    returns: datetime | None = None  # spoken return time: `until`, or next working day (HV-02)
    open_ended: bool = False  # manual, "tills vidare": `until` is only the organisation's maximum

    @property
    def return_time(self) -> datetime | None:
        """When the caller is told the person is back; none for "tills vidare" (ALV-02)."""
        if self.open_ended:
            return None
        return self.returns or self.until


@dataclass(frozen=True, slots=True)
class ManualRedirect:
    """A redirect set by hand (ALV-02); it expires by itself at `until` (HV-03)."""

    user_id: str
    reason: AbsenceReason
    until: datetime | None
    text: str | None = None
    set_at: datetime | None = None
    returns: datetime | None = None  # `until` moved to the next working day's start (HV-02)
    open_ended: bool = False  # "tills vidare" (ALV-02): `until` is the organisation's maximum


@dataclass(frozen=True, slots=True)
class UserPresence:
    """A user's absences over a window, merged and sorted, ready for a bisect at call time."""

    user_id: str
    redirects: tuple[Redirect, ...] = ()
    starts: tuple[datetime, ...] = ()
    calendar_error: str | None = None
    fetched_at: datetime | None = None
    stale: bool = False

    @classmethod
    def of(
        cls,
        user_id: str,
        redirects: tuple[Redirect, ...],
        calendar_error: str | None = None,
        fetched_at: datetime | None = None,
        stale: bool = False,
    ) -> UserPresence:
        """Build with the bisect index precomputed."""
        ordered = tuple(sorted(redirects, key=lambda r: r.start))
        return cls(
            user_id, ordered, tuple(r.start for r in ordered), calendar_error, fetched_at, stale
        )

    def at(self, now: datetime) -> Redirect | None:
        """The calendar redirect in force at `now`, if any."""
        i = bisect.bisect_right(self.starts, now) - 1
        if i < 0:
            return None
        r = self.redirects[i]
        if r.until is None or now < r.until:
            return r
        return None


@dataclass(frozen=True, slots=True)
class PresenceBook:
    """Every user's presence plus the manual redirects that take precedence (HV-03)."""

    users: Mapping[str, UserPresence] = field(default_factory=dict)
    manual: Mapping[str, ManualRedirect] = field(default_factory=dict)
    # Each manual redirect as a Redirect, made once (one object per redirect, so what is
    # worked out per redirect at call time is kept): user id → (the manual one, its Redirect).
    _manual_redirects: dict[str, tuple[ManualRedirect, Redirect]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def redirect_at(self, user_id: str, now: datetime) -> Redirect | None:
        """Manual redirect if one is in force, else the calendar's; expired ones are ignored."""
        m = self.manual.get(user_id)
        if m is not None and (m.until is None or now < m.until):
            if m.set_at is None:  # it starts whenever it is looked at
                return Redirect(
                    m.reason, now, m.until, "manual", m.text, None, m.returns, m.open_ended
                )
            known = self._manual_redirects.get(user_id)
            if known is None or known[0] is not m:
                made = Redirect(
                    m.reason, m.set_at, m.until, "manual", m.text, None, m.returns, m.open_ended
                )
                known = self._manual_redirects[user_id] = (m, made)
            return known[1]
        p = self.users.get(user_id)
        return p.at(now) if p is not None else None
