"""The state machine of the sync loop: every user's last good snapshot and published state.

Fetch results (blocks, UNCHANGED, an error) and snapshots adopted from another node update one
user's slot; the presence built from it is evaluated at `now`, and a `PresenceChange` is published
only when the user's current state (redirect in force, stale flag, error) changes. Transitions
driven by time (a meeting starting at 10:00) are published at 10:00 by one timer, without waiting
for a poll. Everything here is synchronous: no await between reading and writing a slot.
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import heapq
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from calendar_sync.changes import Cause, ChangeChannel, PresenceChange, PresenceState, Subscription
from calendar_sync.clock import Clock, sleep_until_or_woken
from calendar_sync.errors import CalendarError
from calendar_sync.expander import PENDING, UNCHANGED, FeedResult
from routing.absence import CalendarBlock, ManualRedirect, PresenceBook, UserPresence
from routing.presence import PresenceRules, build_user_presence

Normalise = Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class CalendarSnapshot:
    """One user's last good calendar data and state, as shared between nodes."""

    user_id: str
    partition: str
    blocks: tuple[CalendarBlock, ...] | None
    fetched_at: datetime | None
    failing: bool = False
    error: str | None = None
    expired: bool = False


Exporter = Callable[[str, list[CalendarSnapshot]], None]


@dataclass(slots=True)
class _Slot:
    """One user's last good snapshot and current state."""

    user_id: str
    source: str
    location: str
    max_age: timedelta
    presence: UserPresence
    blocks: tuple[CalendarBlock, ...] | None = None
    fetched_at: datetime | None = None
    failing: bool = False
    error: str | None = None
    expired: bool = False
    state: PresenceState = field(default_factory=PresenceState)


class PresenceStates:
    """Every synced user's presence and published state, and the timer of time-driven changes."""

    def __init__(
        self,
        rules: PresenceRules,
        clock: Clock,
        *,
        normalise: Normalise | None = None,
        channel: ChangeChannel | None = None,
    ) -> None:
        self.rules = rules
        self.clock = clock
        self.normalise = normalise
        self.channel = channel or ChangeChannel()
        self._slots: dict[str, _Slot] = {}
        self._presence: dict[str, UserPresence] = {}
        self._heap: list[tuple[datetime, int, str]] = []
        self._scheduled: dict[str, datetime] = {}
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._collect: list[PresenceChange] | None = None
        self._unloaded: set[str] = set()  # users whose calendar has not been read yet
        self.loaded = asyncio.Event()  # set once every user's calendar was read (or failed)
        self.exporter: Exporter | None = None  # receives snapshots after each poll

    def add_user(self, uid: str, source: str, location: str, max_age: timedelta) -> None:
        """Start keeping `uid`'s state (from `source`, at `location`): unread until a result."""
        presence = UserPresence.of(uid, ())
        self._slots[uid] = _Slot(uid, source, location, max_age, presence)
        self._presence[uid] = presence
        self._unloaded.add(uid)
        self.loaded.clear()

    # -- reading

    @property
    def presence(self) -> Mapping[str, UserPresence]:
        """Every synced user's presence (read-only live view) — what routing reads."""
        return MappingProxyType(self._presence)

    def book(self, manual: Mapping[str, ManualRedirect] | None = None) -> PresenceBook:
        """A PresenceBook over the live presence, with the given manual redirects."""
        return PresenceBook(users=self.presence, manual=manual or {})

    def state(self, user_id: str) -> PresenceState | None:
        """The user's current published state."""
        slot = self._slots.get(user_id)
        return slot.state if slot else None

    def subscribe(self) -> Subscription:
        """Subscribe to presence changes."""
        return self.channel.subscribe()

    # -- snapshots shared between nodes

    def snapshot(self, user_id: str) -> CalendarSnapshot | None:
        """The user's last good data and state, as another node would adopt it."""
        slot = self._slots.get(user_id)
        if slot is None:
            return None
        return CalendarSnapshot(
            slot.user_id,
            slot.source,
            slot.blocks,
            slot.fetched_at,
            slot.failing,
            slot.error,
            slot.expired,
        )

    def export(self, partition: str, uids: Iterable[str]) -> None:
        """Hand these users' snapshots to the exporter, if there is one."""
        if self.exporter is None:
            return
        snaps = [s for uid in uids if (s := self.snapshot(uid)) is not None]
        self.exporter(partition, [dataclasses.replace(s, partition=partition) for s in snaps])

    def adopt(
        self, snapshots: Iterable[CalendarSnapshot], now: datetime | None = None
    ) -> list[PresenceChange]:
        """Take snapshots another node polled; publish what changes (unknown users skipped).

        Time-driven transitions of adopted data are then emitted by this node's own timer.
        """
        now = now or self.clock.now()
        collected: list[PresenceChange] = []
        outer, self._collect = self._collect, collected
        try:
            for snap in snapshots:
                slot = self._slots.get(snap.user_id)
                if slot is None:
                    continue
                changed = snap.blocks != slot.blocks
                was_bad = slot.failing or slot.expired
                flags = (snap.failing, snap.error, snap.expired)
                bad_changed = flags != (slot.failing, slot.error, slot.expired)
                slot.blocks, slot.fetched_at = snap.blocks, snap.fetched_at
                slot.failing, slot.error, slot.expired = flags
                if changed or bad_changed:
                    self._build(slot, now)
                else:
                    slot.presence = dataclasses.replace(slot.presence, fetched_at=snap.fetched_at)
                    self._presence[slot.user_id] = slot.presence
                cause: Cause
                if snap.expired:
                    cause = "max-age"
                elif snap.failing:
                    cause = "error"
                else:
                    cause = "recovered" if was_bad and not changed else "calendar"
                self._publish(slot, now, cause)
        finally:
            self._collect = outer
        if outer is not None:
            outer.extend(collected)
        return collected

    # -- the state machine

    def _build(self, slot: _Slot, now: datetime) -> None:
        if slot.expired or slot.blocks is None:
            presence = UserPresence.of(slot.user_id, (), slot.error, slot.fetched_at, slot.failing)
        else:
            presence = build_user_presence(
                slot.user_id,
                slot.blocks,
                self.rules,
                self.normalise,
                slot.error,
                slot.fetched_at,
                slot.failing,
            )
        slot.presence = presence
        self._presence[slot.user_id] = presence

    def apply(self, uid: str, result: FeedResult, now: datetime) -> None:
        """A fetch result for `uid` (PENDING ones come later, through the same call)."""
        if result is PENDING:
            return  # still being read: the result comes when the read ends
        slot = self._slots[uid]
        if isinstance(result, CalendarError):
            self.mark_failed(uid, str(result), now)
            return
        was_bad = slot.failing or slot.expired
        slot.failing, slot.error, slot.expired = False, None, False
        slot.fetched_at = now
        if result is UNCHANGED and slot.blocks is not None:
            changed = False
        else:
            blocks = tuple(result) if isinstance(result, list) else ()
            changed = blocks != slot.blocks
            slot.blocks = blocks
        if changed or was_bad:
            self._build(slot, now)
        else:
            slot.presence = dataclasses.replace(slot.presence, fetched_at=now)
            self._presence[uid] = slot.presence
        self._publish(slot, now, "recovered" if was_bad and not changed else "calendar")

    def mark_failed(self, uid: str, reason: str, now: datetime) -> None:
        """`uid`'s calendar could not be read: stale from now, expired past its max age."""
        slot = self._slots[uid]
        if slot.failing and slot.error == reason and not self._due_to_expire(slot, now):
            return
        slot.failing, slot.error = True, reason
        cause: Cause = "error"
        if self._due_to_expire(slot, now):
            slot.expired, cause = True, "max-age"
        self._build(slot, now)
        self._publish(slot, now, cause)

    def _due_to_expire(self, slot: _Slot, now: datetime) -> bool:
        if slot.expired or not slot.failing:
            return False
        return slot.fetched_at is None or now - slot.fetched_at >= slot.max_age

    def _evaluate(self, slot: _Slot, now: datetime) -> PresenceState:
        if slot.expired:
            return PresenceState(None, True, slot.error or "calendar data older than max age")
        return PresenceState(slot.presence.at(now), slot.failing, slot.error)

    def _publish(self, slot: _Slot, now: datetime, cause: Cause) -> None:
        if self._unloaded:
            self._unloaded.discard(slot.user_id)
            if not self._unloaded:
                self.loaded.set()
        new = self._evaluate(slot, now)
        if new != slot.state:
            change = PresenceChange(slot.user_id, slot.state, new, cause, slot.source, now)
            slot.state = new
            self.channel.publish(change)
            if self._collect is not None:
                self._collect.append(change)
        self._schedule(slot, now)

    def _next_transition(self, slot: _Slot, now: datetime) -> datetime | None:
        candidates: list[datetime] = []
        if not slot.expired:
            p = slot.presence
            i = bisect.bisect_right(p.starts, now)
            if i < len(p.starts):
                candidates.append(p.starts[i])
            current = p.at(now)
            if current is not None and current.until is not None:
                candidates.append(current.until)
            if slot.failing and slot.fetched_at is not None:
                candidates.append(slot.fetched_at + slot.max_age)
        return min(candidates) if candidates else None

    def _schedule(self, slot: _Slot, now: datetime) -> None:
        when = self._next_transition(slot, now)
        uid = slot.user_id
        if when is None:
            self._scheduled.pop(uid, None)
            return
        if self._scheduled.get(uid) == when:
            return
        self._scheduled[uid] = when
        if not self._heap or when < self._heap[0][0]:
            self._wake.set()
        heapq.heappush(self._heap, (when, next(self._seq), uid))

    def run_due(self, now: datetime | None = None) -> list[PresenceChange]:
        """Publish every time-driven transition due at `now` (the timer calls this)."""
        now = now or self.clock.now()
        collected: list[PresenceChange] = []
        self._collect = collected
        try:
            while self._heap and self._heap[0][0] <= now:
                when, _, uid = heapq.heappop(self._heap)
                if self._scheduled.get(uid) != when:
                    continue  # superseded by a newer schedule
                del self._scheduled[uid]
                slot = self._slots[uid]
                if self._due_to_expire(slot, now):
                    slot.expired = True
                    self._build(slot, now)
                    self._publish(slot, now, "max-age")
                else:
                    self._publish(slot, now, "time")
        finally:
            self._collect = None
        return collected

    async def _timer(self) -> None:
        """Sleep until the earliest scheduled transition (or a new earlier one), then run it."""
        while True:
            self._wake.clear()
            self.run_due()
            due = self._heap[0][0] if self._heap else None
            await sleep_until_or_woken(self.clock, due, self._wake)
