"""The running service's effective state: the inputs wired to `routing.effective`, one change
stream for every consumer (call path, PBX mirror, board, metrics).

`EffectiveHub` reads the calendar presence, the manual redirects and the administrators'
switches through callables, keeps the current `EffectiveState`, and publishes per-user
`EffectiveChange`s when an input changes or when time alone changes a user's view (a meeting
starts, a manual redirect expires). Subscriptions coalesce per user, so a stalled subscriber
holds at most one pending change per user.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Generic, TypeVar

from calendar_sync.clock import Clock, sleep_until_or_woken
from routing.absence import ManualRedirect, UserPresence
from routing.effective import (
    ChangeTracker,
    EffectiveChange,
    EffectiveState,
    Switches,
    effective_state,
)
from routing.models import Organisation

log = logging.getLogger(__name__)

T = TypeVar("T")


class Coalescing(Generic[T]):
    """One subscriber's pending items, at most one per key (the latest wins, `merge` may keep
    parts of the earlier one); `get` waits for the next. Bounded by the number of keys."""

    def __init__(
        self,
        key: Callable[[T], str],
        merge: Callable[[T, T], T] | None = None,
        on_close: Callable[[Coalescing[T]], None] | None = None,
    ) -> None:
        self._key = key
        self._merge = merge
        self._on_close = on_close
        self._pending: dict[str, T] = {}
        self._ready = asyncio.Event()
        self.closed = False

    def put(self, item: T) -> None:
        """Add an item, replacing (merging with) a pending one for the same key."""
        k = self._key(item)
        earlier = self._pending.pop(k, None)
        if earlier is not None and self._merge is not None:
            item = self._merge(earlier, item)
        self._pending[k] = item
        self._ready.set()

    def close(self) -> None:
        """Stop: a waiting `get` raises StopAsyncIteration, new items are dropped."""
        self.closed = True
        self._ready.set()
        if self._on_close is not None:
            self._on_close(self)

    def pending(self) -> list[T]:
        """Every pending item, without waiting."""
        out = list(self._pending.values())
        self._pending.clear()
        return out

    async def get(self) -> T:
        """The next item (oldest key first); StopAsyncIteration once closed."""
        while not self._pending:
            if self.closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        k = next(iter(self._pending))
        return self._pending.pop(k)

    def __aiter__(self) -> Coalescing[T]:
        return self

    async def __anext__(self) -> T:
        return await self.get()


def _merge(earlier: EffectiveChange, later: EffectiveChange) -> EffectiveChange:
    return EffectiveChange(later.user_id, earlier.before, later.after, later.at)


class EffectiveHub:
    """Keeps the effective state and publishes its changes; `run` drives the time-driven ones."""

    def __init__(
        self,
        org: Organisation,
        clock: Clock,
        *,
        calendar: Callable[[], Mapping[str, UserPresence]] = lambda: {},
        manual: Callable[[], Mapping[str, ManualRedirect]] = lambda: {},
        switches: Callable[[], Mapping[tuple[str, str], bool]] = lambda: {},
    ) -> None:
        self.org = org
        self.clock = clock
        self._calendar = calendar
        self._manual = manual
        self._switches = switches
        self._state: EffectiveState | None = None
        self._switch_set = Switches()
        self._tracker = ChangeTracker()
        self._dirty: set[str] | None = None  # None: look at everyone
        self._wake = asyncio.Event()
        self._subscribers: set[Coalescing[EffectiveChange]] = set()
        self.ready = asyncio.Event()  # set once the first complete state is known
        self.published = 0

    # -- reading

    def state(self) -> EffectiveState:
        """The current effective state (rebuilt after an input changed)."""
        if self._state is None:
            values = dict(self._switches())
            if values != self._switch_set.values:
                self._switch_set = Switches(values)  # keeps its applied organisation
            self._state = effective_state(
                self.org, self._calendar(), self._manual(), self._switch_set
            )
        return self._state

    def subscribe(self) -> Coalescing[EffectiveChange]:
        """A coalescing subscription to every change from now on."""
        sub: Coalescing[EffectiveChange] = Coalescing(
            lambda c: c.user_id, _merge, self._subscribers.discard
        )
        self._subscribers.add(sub)
        return sub

    @property
    def subscribers(self) -> int:
        """How many subscriptions are open."""
        return len(self._subscribers)

    # -- inputs

    def notify(self, user_id: str | None = None) -> None:
        """An input changed for `user_id` (None or "": possibly everyone)."""
        self._state = None
        if not user_id:
            self._dirty = None
        elif self._dirty is not None:
            self._dirty.add(user_id)
        self._wake.set()

    # -- driving

    def refresh(self, now: datetime | None = None) -> list[EffectiveChange]:
        """Look at the users whose inputs changed or whose time came; publish what changed."""
        now = now or self.clock.now()
        dirty, self._dirty = self._dirty, set()
        due = self._tracker.due(now)
        users = None if dirty is None else dirty.union(due)
        changes = self._tracker.update(self.state(), now, users)
        for change in changes:
            for sub in list(self._subscribers):
                sub.put(change)
        self.published += len(changes)
        return changes

    def start(self, now: datetime | None = None) -> None:
        """Take the first complete state as the baseline (nothing published) and be ready."""
        self._state = None
        self._dirty = set()
        self._tracker.update(self.state(), now or self.clock.now())
        self.ready.set()

    async def run(self) -> None:
        """Publish changes as inputs change and as time passes (until cancelled)."""
        if not self.ready.is_set():
            self.start()
        while True:
            self._wake.clear()
            try:
                self.refresh()
            except Exception:  # a bug must not stop the stream: log it, keep going
                log.exception("effective state: refresh failed")
            await sleep_until_or_woken(self.clock, self._tracker.next_due(), self._wake)

    def close(self) -> None:
        """End every subscription."""
        for sub in list(self._subscribers):
            sub.close()
