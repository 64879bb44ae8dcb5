"""Outlook automatic replies (out of office) as absences: EWS GetUserOofSettings and Graph
mailboxSettings/automaticRepliesSetting, read on their own slower interval beside free/busy.

A scheduled automatic reply is an absence with its end time; one switched on without a schedule
("Enabled" / "alwaysEnabled") is an absence over the whole sync window (the end is not known, so
the spoken return time is the window's end until the user schedules it). The reply texts are
never read into the service: they are the user's private words.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from routing.absence import BusyStatus, CalendarBlock

log = logging.getLogger(__name__)

DISABLED, ALWAYS, SCHEDULED = "disabled", "always", "scheduled"
_STATES = {
    "disabled": DISABLED,
    "enabled": ALWAYS,  # EWS OofState
    "alwaysenabled": ALWAYS,  # Graph automaticRepliesStatus
    "scheduled": SCHEDULED,
}


@dataclass(frozen=True, slots=True)
class AutomaticReplies:
    """One mailbox's automatic-reply setting: state, and the schedule when there is one."""

    state: str  # DISABLED | ALWAYS | SCHEDULED
    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def of(cls, state: str, start: datetime | None, end: datetime | None) -> AutomaticReplies:
        """From a server's state name ('Scheduled', 'alwaysEnabled' …); unknown → disabled."""
        return cls(_STATES.get(state.strip().lower(), DISABLED), start, end)

    def blocks(self, window_start: datetime, window_end: datetime) -> list[CalendarBlock]:
        """The absence inside the window, as an OOF block without a subject (→ "away")."""
        if self.state == ALWAYS:
            return [CalendarBlock(window_start, window_end, BusyStatus.OOF)]
        if self.state != SCHEDULED or self.start is None or self.end is None:
            return []
        start, end = max(self.start, window_start), min(self.end, window_end)
        return [CalendarBlock(start, end, BusyStatus.OOF)] if start < end else []


Reading = AutomaticReplies | None  # None: not readable (no permission, unknown mailbox …)


class AutoReplyCache:
    """Each mailbox's last reading and when it is due again; failures logged once per reason."""

    def __init__(self, interval_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._monotonic = monotonic
        self._readings: dict[str, tuple[float, Reading]] = {}
        self._logged: set[str] = set()

    def due(self, mailboxes: Iterable[str]) -> list[str]:
        """The mailboxes whose setting is older than the interval (or never read)."""
        now = self._monotonic()
        return [
            m
            for m in mailboxes
            if (seen := self._readings.get(m)) is None or now - seen[0] >= self.interval_s
        ]

    def put(self, mailbox: str, reading: Reading) -> None:
        """Remember one mailbox's reading."""
        self._readings[mailbox] = (self._monotonic(), reading)

    def failed(self, source: str, mailbox: str, reason: str) -> None:
        """Remember that the setting could not be read; the calendar itself stands."""
        self.put(mailbox, None)
        if reason not in self._logged:
            self._logged.add(reason)
            log.warning(
                "%s: automatic replies not readable (%s), e.g. for %s; free/busy is used alone",
                source,
                reason,
                mailbox,
            )

    def merge(
        self,
        mailbox: str,
        blocks: list[CalendarBlock],
        window_start: datetime,
        window_end: datetime,
    ) -> list[CalendarBlock]:
        """The calendar's blocks plus the automatic-reply absence, sorted."""
        seen = self._readings.get(mailbox)
        if seen is None or seen[1] is None:
            return blocks
        extra = seen[1].blocks(window_start, window_end)
        if not extra:
            return blocks
        return sorted([*blocks, *extra], key=lambda b: (b.start, b.end))
