"""Coordinators: one per calendar source (or share of one), polling it on its own schedule.

A `SourceCoordinator` polls every location of its source at an interval with jitter, backs off
exponentially while the source fails (honouring the server's retry-after), and logs failure and
recovery once. A `StaggeredCoordinator` polls a per-location source (ICS feeds) in slots spread
over the interval. Results go to the sync that owns the coordinator (`SyncHost`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from calendar_sync.clock import Clock
from calendar_sync.errors import CalendarError
from calendar_sync.expander import PENDING, FeedResult
from calendar_sync.sources import PollSettings
from calendar_sync.state import Exporter

log = logging.getLogger(__name__)

FetchResult = FeedResult  # blocks, an error, UNCHANGED, or PENDING (delivered later)


class PollGate(Protocol):
    """Which partitions this node polls (a lease per partition when several nodes share work)."""

    def held(self, partition: str) -> bool:
        """Whether this node may poll `partition` now."""
        ...

    async def wait_held(self, partition: str) -> None:
        """Return once this node may poll `partition`."""
        ...


class Fetcher(Protocol):
    """What a coordinator polls: EwsClient, GraphClient, IcsFeedClient, IcsFileWatcher."""

    async def fetch(
        self, locations: Sequence[str], window_start: datetime, window_end: datetime
    ) -> Mapping[str, FetchResult]:
        """Blocks, UNCHANGED or an error per location; raises CalendarError if all failed."""
        ...


class SyncHost(Protocol):
    """What a coordinator needs of the sync it serves (calendar_sync.service.CalendarSync)."""

    @property
    def clock(self) -> Clock:
        """The one clock."""
        ...

    @property
    def gate(self) -> PollGate | None:
        """Which partitions this node polls (None: every one)."""
        ...

    @property
    def exporter(self) -> Exporter | None:
        """Who receives snapshots after each poll (None: nobody)."""
        ...

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """The fetch window around `now`."""
        ...

    def apply(self, uid: str, result: FetchResult, now: datetime) -> None:
        """A fetch result for one user."""
        ...

    def mark_failed(self, uid: str, reason: str, now: datetime) -> None:
        """One user's calendar could not be read."""
        ...

    def export(self, partition: str, uids: Iterable[str]) -> None:
        """Hand these users' snapshots to the exporter."""
        ...


class SourceCoordinator:
    """Polls one source: interval with jitter, per-source backoff, logs failure/recovery once."""

    def __init__(
        self,
        sync: SyncHost,
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

    def export(self, locations: Iterable[str]) -> None:
        """Hand the polled users' snapshots to the exporter (when nodes share the work)."""
        if self.sync.exporter is not None:
            uids = [uid for loc in locations for uid in self.locations.get(loc, ())]
            self.sync.export(self.partition, uids)

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
                self.sync.apply(uid, result, now)
        self.log_user_errors(results)
        self.export(self.locations)
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
                self.sync.mark_failed(uid, reason, now)
        self.export(self.locations)

    def log_user_errors(self, results: Mapping[str, FetchResult]) -> None:
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
        sync: SyncHost,
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
        apply = self.sync.apply
        for location, result in results.items():
            for uid in self.locations.get(location, ()):
                apply(uid, result, now)
        self.log_user_errors(results)
        self.export(locations)
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
                self.sync.mark_failed(uid, reason, now)
        self.export(self.slots[k])

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
