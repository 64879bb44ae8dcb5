"""The typed change stream of the sync loop: what a user's state is, how it changed, who hears it.

`PresenceState` is what the telephone sees for a user now; a `PresenceChange` (before, after,
cause, source, instant) is published on a `ChangeChannel` whenever it changes, and every
subscriber reads its own `Subscription`, an `AsyncIterator[PresenceChange]` coalesced per user.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from routing.absence import Redirect

# Why a user's state changed: new calendar data, the clock (a meeting starting or ending), the
# source failing or recovering, or the last good data growing older than the source's max age.
Cause = Literal["calendar", "time", "error", "recovered", "max-age"]


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
    cause: Cause
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
