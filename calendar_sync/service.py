"""The sync loop: one coordinator per calendar source, last good snapshots, presence changes.

Each source (EWS, Graph, ICS feeds, ICS files) is polled by its own coordinator with interval,
jitter and backoff. Fetched blocks become `UserPresence` (routing.presence); whenever a user's
*current* state changes (redirect in force, stale flag, error) a `PresenceChange` is published on
an in-process channel. Transitions driven by time (a meeting starting at 10:00) are published at
10:00 by one timer, without waiting for a poll. The clock is injected.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import functools
import heapq
import itertools
import logging
import math
import random
import zlib
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import aiohttp

from calendar_sync.clock import Clock, SystemClock, sleep_until_or_woken
from calendar_sync.errors import CalendarError
from calendar_sync.feed import (
    PENDING,
    UNCHANGED,
    FeedResult,
    IcsFeedClient,
    IcsFileWatcher,
    Parser,
    feed_client_session,
)
from calendar_sync.sources import CalendarSourcesSettings, PollSettings
from calendar_sync.workers import CalendarReaders
from routing.models import (
    CalendarBlock,
    ManualRedirect,
    Organisation,
    PresenceBook,
    Redirect,
    UserPresence,
)
from routing.presence import PresenceRules, build_user_presence

log = logging.getLogger(__name__)

Normalise = Callable[[str], str | None]


# ---------------------------------------------------------------- changes and the channel


@dataclass(frozen=True, slots=True)
class PresenceState:
    """What the telephone sees for a user now: the redirect in force, staleness, error."""

    redirect: Redirect | None = None
    stale: bool = False
    error: str | None = None

    def as_json(self) -> dict[str, object]:
        """JSON-ready form (no private subjects: redirects never carry one)."""
        r = self.redirect
        return {
            "redirected": r is not None,
            "reason": r.reason.value if r else None,
            "start": r.start.isoformat() if r else None,
            "until": r.until.isoformat() if r and r.until else None,
            "returns": r.returns.isoformat() if r and r.returns else None,
            "forward_to": r.forward_to if r else None,
            "stale": self.stale,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class PresenceChange:
    """One user's state changed: before, after, why (cause), from which source, and when."""

    user_id: str
    before: PresenceState
    after: PresenceState
    cause: str  # "calendar" | "time" | "error" | "recovered" | "max-age"
    source: str
    at: datetime

    def as_json(self) -> dict[str, object]:
        """The JSON line printed by `switchboard sync`."""
        return {
            "user": self.user_id,
            "at": self.at.isoformat(),
            "cause": self.cause,
            "source": self.source,
            "before": self.before.as_json(),
            "after": self.after.as_json(),
        }


class Subscription:
    """One subscriber's pending changes, coalesced per user: however long a subscriber stalls,
    it holds at most one change per user (the first `before`, the latest `after`), so a slow
    consumer never grows without bound. Iterate it, and close it (or use `async with`)."""

    def __init__(self, channel: ChangeChannel) -> None:
        self._channel = channel
        self._pending: dict[str, PresenceChange] = {}
        self._ready = asyncio.Event()

    def _put(self, change: PresenceChange) -> None:
        earlier = self._pending.pop(change.user_id, None)
        if earlier is not None:
            change = dataclasses.replace(change, before=earlier.before)
        self._pending[change.user_id] = change  # re-inserted: delivered in order of last change
        self._ready.set()

    async def get(self) -> PresenceChange:
        """The next change, waiting for one."""
        while not self._pending:
            self._ready.clear()
            await self._ready.wait()
        uid = next(iter(self._pending))
        return self._pending.pop(uid)

    def pending(self) -> list[PresenceChange]:
        """Every change already queued, without waiting."""
        out = list(self._pending.values())
        self._pending.clear()
        return out

    def close(self) -> None:
        """Stop receiving changes."""
        self._channel._subscribers.discard(self)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> PresenceChange:
        return await self.get()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class ChangeChannel:
    """In-process publish/subscribe of presence changes (telephone adapter, web pages, CLI)."""

    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()

    def subscribe(self) -> Subscription:
        """A new subscription receiving every change published from now on."""
        sub = Subscription(self)
        self._subscribers.add(sub)
        return sub

    def publish(self, change: PresenceChange) -> None:
        """Deliver a change to every subscriber (never blocks)."""
        for sub in self._subscribers:
            sub._put(change)


# ---------------------------------------------------------------- sources


FetchResult = FeedResult  # blocks, an error, UNCHANGED, or PENDING (delivered later)


class PollGate(Protocol):
    """Which partitions this node polls (a lease per partition when several nodes share work)."""

    def held(self, partition: str) -> bool:
        """Whether this node may poll `partition` now."""
        ...

    async def wait_held(self, partition: str) -> None:
        """Return once this node may poll `partition`."""
        ...


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


def bucket_of(location: str, buckets: int) -> int:
    """A stable bucket (0..buckets-1) for a calendar location, the same on every node."""
    return zlib.crc32(location.encode("utf-8")) % buckets if buckets > 1 else 0


class Fetcher(Protocol):
    """What a coordinator polls: EwsClient, GraphClient, IcsFeedClient, IcsFileWatcher."""

    async def fetch(
        self, locations: Sequence[str], window_start: datetime, window_end: datetime
    ) -> Mapping[str, FetchResult]:
        """Blocks, UNCHANGED or an error per location; raises CalendarError if all failed."""
        ...


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


class SourceCoordinator:
    """Polls one source: interval with jitter, per-source backoff, logs failure/recovery once."""

    def __init__(
        self,
        sync: CalendarSync,
        name: str,
        fetcher: Fetcher,
        poll: PollSettings,
        locations: Mapping[str, list[str]],
        rng: random.Random,
    ) -> None:
        self.sync = sync
        self.name = name
        self.fetcher = fetcher
        self.poll = poll
        self.locations = locations  # location -> user ids
        self.rng = rng
        self.failures = 0
        self.failing_since: datetime | None = None
        self.last_error: str | None = None
        self.next_poll: datetime | None = None
        self.polls = 0
        self.partition = name  # the lease key when nodes share the work (`add_source` sets it)
        self._user_errors: dict[str, str] = {}

    def _export(self, locations: Iterable[str]) -> None:
        """Hand the polled users' snapshots to the exporter (when nodes share the work)."""
        if self.sync.exporter is not None:
            uids = [uid for loc in locations for uid in self.locations.get(loc, ())]
            self.sync._export(self.partition, uids)

    async def _until_held(self) -> None:
        """Wait until this node may poll the partition (at once without a gate)."""
        gate = self.sync.gate
        if gate is not None and not gate.held(self.partition):
            await gate.wait_held(self.partition)

    async def poll_once(self) -> float | None:
        """Fetch every location and apply the results; the server's retry-after on failure."""
        clock = self.sync.clock
        now = clock.now()
        start, end = self.sync.window(now)
        self.polls += 1
        try:
            results = await self.fetcher.fetch(list(self.locations), start, end)
        except CalendarError as exc:
            self._source_failed(exc)
            return float(getattr(exc, "retry_after", None) or 0.0) or None
        except Exception as exc:  # a bug or an unexpected library error: contain it, log once
            if self.failing_since is None:
                log.exception("calendar source %s: unexpected error", self.name)
            self._source_failed(exc)
            return None
        if self.failing_since is not None:
            log.info(
                "calendar source %s recovered (failing since %s)",
                self.name,
                self.failing_since.isoformat(timespec="seconds"),
            )
        self.failing_since = None
        self.last_error = None
        self.failures = 0
        now = clock.now()
        for location, result in results.items():
            for uid in self.locations.get(location, ()):
                self.sync._apply(uid, result, now)
        self._log_user_errors(results)
        self._export(self.locations)
        return None

    def _source_failed(self, exc: BaseException) -> None:
        now = self.sync.clock.now()
        reason = str(exc) or type(exc).__name__
        self.failures += 1
        if self.failing_since is None:
            self.failing_since = now
            log.warning("calendar source %s failing: %s", self.name, reason)
        else:
            log.debug("calendar source %s still failing: %s", self.name, reason)
        self.last_error = reason
        for uids in self.locations.values():
            for uid in uids:
                self.sync._mark_failed(uid, reason, now)
        self._export(self.locations)

    def _log_user_errors(self, results: Mapping[str, FetchResult]) -> None:
        """One line per new error message (with how many calendars), one per recovery batch."""
        new: dict[str, list[str]] = {}
        recovered = 0
        for location, result in results.items():
            if result is PENDING:
                continue
            if isinstance(result, CalendarError):
                message = str(result)
                if self._user_errors.get(location) != message:
                    self._user_errors[location] = message
                    new.setdefault(message, []).append(location)
            elif self._user_errors.pop(location, None) is not None:
                recovered += 1
        for message, where in new.items():
            log.warning(
                "calendar source %s: %d calendar(s) failing: %s", self.name, len(where), message
            )
        if recovered:
            log.info("calendar source %s: %d calendar(s) recovered", self.name, recovered)

    def delay_after(self, retry_after: float | None, ok: bool) -> float:
        """Seconds to the next poll: interval ± jitter, or exponential backoff after failures."""
        if ok:
            jitter = self.poll.jitter
            return float(self.poll.interval_s * (1.0 + self.rng.uniform(-jitter, jitter)))
        return self.backoff(self.failures, retry_after)

    def backoff(self, failures: int, retry_after: float | None) -> float:
        """Exponential backoff after `failures` failed polls, at least the server's retry-after."""
        base = min(self.poll.interval_s, 10.0)
        delay: float = min(self.poll.max_backoff_s, base * 2.0 ** max(0, failures - 1))
        return max(delay, retry_after or 0.0)

    async def run(self) -> None:
        """Poll forever (until cancelled)."""
        clock = self.sync.clock
        while True:
            await self._until_held()
            retry_after = await self.poll_once()
            ok = self.failing_since is None
            self.next_poll = clock.now() + timedelta(seconds=self.delay_after(retry_after, ok))
            await clock.sleep_until(self.next_poll)


class StaggeredCoordinator(SourceCoordinator):
    """Polls a per-location source (ICS feeds) in slots spread evenly over the interval.

    The locations are dealt round-robin into slots; every slot has its own task and schedule,
    first all at once (the cold sync), then each at its own phase of the interval (the configured
    jitter shifts phases earlier), then exactly every interval. A slow slot never delays another,
    and a slot whose poll overran its next due time polls again at once, so a change at the source
    is seen within one interval plus one fetch. The source is failing while any slot's whole
    batch failed (logged once), and recovers when every slot has succeeded again (logged once).
    """

    SLOT_S = 0.25  # shortest spacing of slots: at most interval / SLOT_S slots
    MIN_BATCH = 4  # fewest locations per slot when there are enough of them

    def __init__(
        self,
        sync: CalendarSync,
        name: str,
        fetcher: Fetcher,
        poll: PollSettings,
        locations: Mapping[str, list[str]],
        rng: random.Random,
    ) -> None:
        super().__init__(sync, name, fetcher, poll, locations, rng)
        locs = list(locations)
        most = max(1, math.ceil(poll.interval_s / self.SLOT_S))
        count = max(1, min(most, len(locs) // self.MIN_BATCH)) if locs else 0
        self.slots: list[list[str]] = [locs[k::count] for k in range(count)]
        self.slot_failures: list[int] = [0] * count
        self.slot_due: list[datetime | None] = [None] * count  # each slot's next poll
        self.late_polls = 0  # slot polls after the cold round started late (a slot overran)
        self._failing_slots: set[int] = set()

    def phases(self) -> list[float]:
        """Each slot's offset in seconds, in (0, interval], from the cold poll to its second."""
        n = len(self.slots)
        out: list[float] = []
        for k in range(n):
            share = (k + 1) / n - self.rng.uniform(0.0, self.poll.jitter)
            out.append(self.poll.interval_s * (share if share > 0.0 else share + 1.0))
        return out

    async def poll_once(self) -> float | None:
        """Poll every slot once, concurrently; the longest server retry-after of a failed slot."""
        waits = await asyncio.gather(*(self.poll_slot(k) for k in range(len(self.slots))))
        return max((w for w in waits if w), default=None)

    async def poll_slot(self, k: int) -> float | None:
        """Fetch slot `k` and apply the results; the server's retry-after if the batch failed."""
        clock = self.sync.clock
        locations = self.slots[k]
        start, end = self.sync.window(clock.now())
        self.polls += 1
        try:
            results = await self.fetcher.fetch(locations, start, end)
        except CalendarError as exc:
            self._slot_failed(k, exc)
            return float(getattr(exc, "retry_after", None) or 0.0) or None
        except Exception as exc:  # a bug or an unexpected library error: contain it, log once
            if self.failing_since is None:
                log.exception("calendar source %s: unexpected error", self.name)
            self._slot_failed(k, exc)
            return None
        self.slot_failures[k] = 0
        self._failing_slots.discard(k)
        if self.failing_since is not None and not self._failing_slots:
            log.info(
                "calendar source %s recovered (failing since %s)",
                self.name,
                self.failing_since.isoformat(timespec="seconds"),
            )
            self.failing_since, self.last_error, self.failures = None, None, 0
        now = clock.now()
        apply = self.sync._apply
        for location, result in results.items():
            for uid in self.locations.get(location, ()):
                apply(uid, result, now)
        self._log_user_errors(results)
        self._export(locations)
        return None

    def _slot_failed(self, k: int, exc: BaseException) -> None:
        now = self.sync.clock.now()
        reason = str(exc) or type(exc).__name__
        self.failures += 1
        self.slot_failures[k] += 1
        self._failing_slots.add(k)
        if self.failing_since is None:
            self.failing_since = now
            log.warning("calendar source %s failing: %s", self.name, reason)
        else:
            log.debug("calendar source %s still failing: %s", self.name, reason)
        self.last_error = reason
        for location in self.slots[k]:
            for uid in self.locations.get(location, ()):
                self.sync._mark_failed(uid, reason, now)
        self._export(self.slots[k])

    async def _run_slot(self, k: int, phase: float) -> None:
        clock = self.sync.clock
        interval = timedelta(seconds=self.poll.interval_s)
        due = clock.now()
        following = due + timedelta(seconds=phase)
        cold = True
        while True:
            if self.sync.gate is not None and not self.sync.gate.held(self.partition):
                await self._until_held()
                due, following, cold = clock.now(), clock.now() + timedelta(seconds=phase), True
            retry_after = await self.poll_slot(k)
            now = clock.now()
            if self.slot_failures[k]:
                due = now + timedelta(seconds=self.backoff(self.slot_failures[k], retry_after))
                following = due + interval
            else:
                due, following = following, following + interval
                if due < now:
                    self.late_polls += not cold  # the cold round may overrun the first phases
                    due, following = now, now + interval
            cold = False
            self.slot_due[k] = due
            self.next_poll = min(d for d in self.slot_due if d is not None)
            await clock.sleep_until(due)

    async def run(self) -> None:
        """Run every slot's schedule (until cancelled); the tasks are awaited when cancelled."""
        tasks = [
            asyncio.create_task(self._run_slot(k, phase), name=f"calendar-sync-{self.name}-{k}")
            for k, phase in enumerate(self.phases())
        ]
        try:
            if tasks:
                await asyncio.gather(*tasks)
            else:
                await asyncio.Event().wait()
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t


# ---------------------------------------------------------------- the service


class CalendarSync:
    """Keeps every user's presence from their calendar source and publishes the changes."""

    def __init__(
        self,
        rules: PresenceRules,
        clock: Clock,
        *,
        window_before: timedelta = timedelta(hours=1),
        window_after: timedelta = timedelta(days=8),
        normalise: Normalise | None = None,
        channel: ChangeChannel | None = None,
        seed: int | None = None,
    ) -> None:
        self.rules = rules
        self.clock = clock
        self.window_before = window_before
        self.window_after = window_after
        self.normalise = normalise
        self.channel = channel or ChangeChannel()
        self.coordinators: list[SourceCoordinator] = []
        self._slots: dict[str, _Slot] = {}
        self._presence: dict[str, UserPresence] = {}
        self._rng = random.Random(seed)
        self._heap: list[tuple[datetime, int, str]] = []
        self._scheduled: dict[str, datetime] = {}
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._collect: list[PresenceChange] | None = None
        self._unloaded: set[str] = set()  # users whose calendar has not been read yet
        self.loaded = asyncio.Event()  # set once every user's calendar was read (or failed)
        self.gate: PollGate | None = None  # None: poll every source (one node)
        # How long a poll waits for one calendar's read before the others go ahead without it.
        self.read_grace_s = 0.25
        # Long-running helpers started and stopped with the sync (push receivers).
        self.companions: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self.exporter: Exporter | None = None  # receives snapshots after each poll

    # -- set-up

    def add_source(
        self,
        name: str,
        fetcher: Fetcher,
        poll: PollSettings,
        assignments: Mapping[str, str],
        *,
        staggered: bool = False,
        partition: str | None = None,
    ) -> SourceCoordinator:
        """Add a source polling `assignments` (user id -> location); `staggered` spreads it.

        `partition` names the share of the source this coordinator polls (default: `name`).
        """
        locations: dict[str, list[str]] = {}
        max_age = timedelta(seconds=poll.max_age_s)
        for uid, location in assignments.items():
            locations.setdefault(location, []).append(uid)
            presence = UserPresence.of(uid, ())
            self._slots[uid] = _Slot(uid, name, location, max_age, presence)
            self._presence[uid] = presence
            self._unloaded.add(uid)
        if self._unloaded:
            self.loaded.clear()
        kind = StaggeredCoordinator if staggered else SourceCoordinator
        coordinator = kind(self, name, fetcher, poll, locations, self._rng)
        coordinator.partition = partition or name
        late = getattr(fetcher, "deliver_late", None)
        if late is not None and all(c.fetcher is not fetcher for c in self.coordinators):
            late(functools.partial(self._deliver, fetcher), self.read_grace_s)
        self.coordinators.append(coordinator)
        return coordinator

    async def refresh(self, fetcher: Fetcher, locations: Sequence[str]) -> None:
        """Fetch these locations now (a push notification said they changed) and apply them;
        a failure is left to the polling safety net."""
        start, end = self.window(self.clock.now())
        try:
            results = await fetcher.fetch(list(locations), start, end)
        except CalendarError as exc:
            log.info(
                "calendar refresh of %d location(s) failed, polling covers it: %s",
                len(locations),
                exc,
            )
            return
        collected: list[PresenceChange] = []
        outer, self._collect = self._collect, collected
        try:
            for location, result in results.items():
                self._deliver(fetcher, location, result)
        finally:
            self._collect = outer
        if outer is not None:
            outer.extend(collected)

    def _deliver(self, fetcher: Fetcher, location: str, result: FetchResult) -> None:
        """A read that outlasted its poll has ended: apply it like a poll's result."""
        now = self.clock.now()
        for c in self.coordinators:
            if c.fetcher is fetcher and location in c.locations:
                for uid in c.locations[location]:
                    self._apply(uid, result, now)
                c._log_user_errors({location: result})
                c._export([location])

    @property
    def partitions(self) -> list[str]:
        """Every coordinator's partition, in order."""
        return [c.partition for c in self.coordinators]

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """The fetch window around `now` (default now - 1 h .. now + 8 days)."""
        return now - self.window_before, now + self.window_after

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

    # -- running

    async def sync_once(self) -> list[PresenceChange]:
        """One poll of every source, concurrently; returns the changes it published."""
        collected: list[PresenceChange] = []
        self._collect = collected
        try:
            await asyncio.gather(*(c.poll_once() for c in self.coordinators))
            fetchers = {id(c.fetcher): c.fetcher for c in self.coordinators}
            for fetcher in fetchers.values():
                settle = getattr(fetcher, "settle", None)
                if settle is not None:
                    await settle()  # reads past the grace time are delivered here
        finally:
            self._collect = None
        return collected

    async def start(self) -> None:
        """Start every coordinator and the transition timer as tasks."""
        if self._tasks:
            return
        if not self._unloaded:
            self.loaded.set()
        for c in self.coordinators:
            self._tasks.append(asyncio.create_task(c.run(), name=f"calendar-sync-{c.name}"))
        self._tasks.append(asyncio.create_task(self._timer(), name="calendar-sync-timer"))
        for i, companion in enumerate(self.companions):
            self._tasks.append(asyncio.create_task(companion(), name=f"calendar-sync-push-{i}"))

    async def stop(self) -> None:
        """Cancel and await every task started by `start`."""
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def __aenter__(self) -> CalendarSync:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

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

    def _export(self, partition: str, uids: Iterable[str]) -> None:
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

    # -- state machine (all synchronous: no await between reading and writing a slot)

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

    def _apply(self, uid: str, result: FetchResult, now: datetime) -> None:
        if result is PENDING:
            return  # still being read: the result comes through `_deliver`
        slot = self._slots[uid]
        if isinstance(result, CalendarError):
            self._mark_failed(uid, str(result), now)
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

    def _mark_failed(self, uid: str, reason: str, now: datetime) -> None:
        slot = self._slots[uid]
        if slot.failing and slot.error == reason and not self._due_to_expire(slot, now):
            return
        slot.failing, slot.error = True, reason
        cause = "error"
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

    def _publish(self, slot: _Slot, now: datetime, cause: str) -> None:
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


# ---------------------------------------------------------------- wiring from configuration


def presence_rules(org: Organisation) -> PresenceRules:
    """PresenceRules from an organisation's time zone, hours, holidays and policy."""
    return PresenceRules(
        timezone=org.timezone,
        working_hours=org.working_hours,
        holidays=org.holidays,
        redirect_on=org.policy.redirect_on,
    )


@contextlib.asynccontextmanager
async def open_calendar_sync(
    org: Organisation,
    settings: CalendarSourcesSettings,
    *,
    clock: Clock | None = None,
    environ: Mapping[str, str] | None = None,
    parser: Parser | None = None,
    rules: PresenceRules | None = None,
    normalise: Normalise | None = None,
    buckets: int = 1,
) -> AsyncIterator[CalendarSync]:
    """A CalendarSync for every user's `calendar:`, with its clients; closes them on exit.

    Use as an aiohttp `cleanup_ctx` body: `async with open_calendar_sync(org, s) as sync:
    await sync.start(); sub = sync.subscribe(); ...`. Raises CalendarCredentialsMissing.
    With `buckets` > 1 each source is split by calendar location into that many partitions
    (`<kind>/<bucket>`, one coordinator each) that several nodes can share out.
    """
    from calendar_sync.ews import EwsClient
    from calendar_sync.graph import GraphClient

    tz: ZoneInfo = org.timezone
    sync = CalendarSync(
        rules or presence_rules(org),
        clock or SystemClock(),
        window_before=timedelta(seconds=settings.window_before_s),
        window_after=timedelta(seconds=settings.window_after_s),
        normalise=normalise,
    )

    def add(
        kind: str,
        fetcher: Fetcher,
        poll: PollSettings,
        users: Mapping[str, str],
        staggered: bool = False,
    ) -> None:
        if buckets <= 1:
            sync.add_source(kind, fetcher, poll, users, staggered=staggered)
            return
        parts: dict[int, dict[str, str]] = {}
        for uid, location in users.items():
            parts.setdefault(bucket_of(location, buckets), {})[uid] = location
        for b in sorted(parts):
            sync.add_source(
                kind, fetcher, poll, parts[b], partition=f"{kind}/{b}", staggered=staggered
            )

    by_kind: dict[str, dict[str, str]] = {"ics": {}, "ics_url": {}, "exchange": {}, "graph": {}}
    for user in org.directory.users:
        if user.calendar is not None:
            by_kind.setdefault(user.calendar.kind, {})[user.id] = user.calendar.location
    ews: EwsClient | None = None
    session: aiohttp.ClientSession | None = None
    feed_session: aiohttp.ClientSession | None = None
    readers = CalendarReaders()  # worker processes start on the first read
    closers: list[Callable[[], Awaitable[None]]] = []
    try:
        if by_kind["exchange"]:
            ex = settings.exchange
            if ex is None:
                raise CalendarError("exchange: users have exchange calendars, no endpoint is set")
            user_name = ex.username.resolve("exchange", environ)
            ews = EwsClient(ex, user_name, ex.password.resolve("exchange", environ))
            add("exchange", ews, ex.poll, by_kind["exchange"])
            if ex.streaming:
                from calendar_sync.ews_stream import EwsStreaming, StreamSettings

                streaming = EwsStreaming(
                    ex,
                    user_name,
                    ex.password.resolve("exchange", environ),
                    functools.partial(sync.refresh, ews),
                    StreamSettings(connection_timeout_min=ex.streaming_connection_timeout_min),
                )
                mailboxes = sorted(set(by_kind["exchange"].values()))
                sync.companions.append(functools.partial(streaming.run, mailboxes))
        if by_kind["graph"]:
            session = aiohttp.ClientSession()
        if by_kind["graph"]:
            gr = settings.graph
            if gr is None:
                raise CalendarError("graph: users have graph calendars, graph is not configured")
            assert session is not None
            client = GraphClient(
                gr,
                gr.tenant.resolve("graph", environ),
                gr.client_id.resolve("graph", environ),
                gr.client_secret.resolve("graph", environ),
                session,
            )
            add("graph", client, gr.poll, by_kind["graph"])
            if gr.notifications is not None:
                from calendar_sync.graph_notify import GraphNotifications, NotifySettings

                n = gr.notifications
                notifier = GraphNotifications(
                    client,
                    NotifySettings(
                        n.public_url,
                        n.client_state.resolve("graph", environ),
                        n.listen_host,
                        n.listen_port,
                        n.expiration_s,
                        n.renew_before_s,
                        n.recheck_s,
                    ),
                    functools.partial(sync.refresh, client),
                    sync.clock,
                )
                users = sorted(set(by_kind["graph"].values()))
                sync.companions.append(functools.partial(notifier.run, users))
        if by_kind["ics_url"]:
            feeds = settings.ics_url
            feed_session = feed_client_session(feeds.poll.concurrency)
            feed_client = IcsFeedClient(
                feed_session,
                tz,
                max_bytes=feeds.max_bytes,
                timeout_s=feeds.poll.timeout_s,
                concurrency=feeds.poll.concurrency,
                parser=parser,
                readers=readers,
            )
            closers.append(feed_client.aclose)
            add("ics_url", feed_client, feeds.poll, by_kind["ics_url"], staggered=True)
        if by_kind.get("caldav"):
            from calendar_sync.dav import CalDavClient

            dav = settings.caldav
            if dav is None:
                raise CalendarError("caldav: users have CalDAV calendars, caldav is not configured")
            dav_client = CalDavClient(
                dav,
                dav.username.resolve("caldav", environ),
                dav.password.resolve("caldav", environ),
                tz,
                readers=readers,
                parser=parser,
            )
            closers.append(dav_client.aclose)
            add("caldav", dav_client, dav.poll, by_kind["caldav"])
        if by_kind["ics"]:
            watcher = IcsFileWatcher(tz, parser=parser, readers=readers)
            closers.append(watcher.aclose)
            add("ics", watcher, settings.ics.poll, by_kind["ics"])
        yield sync
    finally:
        await sync.stop()
        for close in closers:
            await close()
        await asyncio.to_thread(readers.close)
        for open_session in (session, feed_session):
            if open_session is not None:
                await open_session.close()
        if ews is not None:
            await asyncio.to_thread(ews.close)
