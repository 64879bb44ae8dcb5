"""The one clock: aware UTC `now()` and a sleep until an instant, injected everywhere.

`SystemClock` is wall-clock time; `OffsetClock` runs at wall-clock speed from a chosen start
(`switchboard run --at`: a demonstration or a test of a day that is not today); `ManualClock`
moves only when told to (tests and simulations).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from abc import ABC, abstractmethod
from datetime import UTC, datetime, timedelta


class Clock(ABC):
    """The one clock of the sync loop: aware UTC `now()` and a sleep until an instant."""

    @abstractmethod
    def now(self) -> datetime:
        """The current instant, aware."""

    @abstractmethod
    async def sleep_until(self, when: datetime) -> None:
        """Return at (or soon after) `when`."""


class SystemClock(Clock):
    """Wall-clock time."""

    def now(self) -> datetime:
        """The current instant in UTC."""
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime) -> None:
        """Sleep with asyncio until `when`."""
        delay = (when - self.now()).total_seconds()
        await asyncio.sleep(max(0.0, delay))


class OffsetClock(SystemClock):
    """Wall-clock speed from `start`: now() is `start` plus the time elapsed since creation."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("OffsetClock needs an aware start instant")
        self.start = start.astimezone(UTC)
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        """`start` plus the (monotonic) time elapsed since the clock was made."""
        return self.start + timedelta(seconds=time.monotonic() - self._t0)


class ManualClock(Clock):
    """A clock that moves only when told to; sleepers wake as `advance` passes their instant.

    Shipped as a maintained test double: tests and simulations move time with it, never sleep.
    """

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        """The clock's current instant."""
        return self._now

    async def sleep_until(self, when: datetime) -> None:
        """Wait until the clock is advanced to `when` or past it."""
        if when <= self._now:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (when, next(self._seq), fut))
        await fut

    def advance(self, delta: timedelta | float) -> None:
        """Move time forward and wake every sleeper whose instant has come."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        self.set(self._now + step)

    def set(self, when: datetime) -> None:
        """Move time to `when` (never backwards) and wake due sleepers."""
        self._now = max(self._now, when)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    @property
    def next_wakeup(self) -> datetime | None:
        """The earliest pending sleeper's instant, if any."""
        live = [w for w, _, f in self._sleepers if not f.done()]
        return min(live) if live else None


async def sleep_until_or_woken(clock: Clock, when: datetime | None, wake: asyncio.Event) -> None:
    """Return at `when` by `clock` (never, if None) or as soon as `wake` is set."""
    waiter = asyncio.ensure_future(wake.wait())
    sleeper = asyncio.ensure_future(clock.sleep_until(when)) if when is not None else None
    try:
        await asyncio.wait(
            {waiter} if sleeper is None else {waiter, sleeper},
            return_when=asyncio.FIRST_COMPLETED,
        )
    finally:
        for f in (waiter, sleeper):
            if f is not None and not f.done():
                f.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await f


__all__ = ["Clock", "ManualClock", "OffsetClock", "SystemClock", "sleep_until_or_woken"]
