"""What the web store tells the rest of the process: `ManualChange`, `SwitchChange` and the
`ChangeHub`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from routing.absence import ManualRedirect
from switchboard.effective import Coalescing


@dataclass(frozen=True, slots=True)
class ManualChange:
    """A manual redirect set or cleared: published to subscribers (board, telephone mirror)."""

    user_id: str
    before: ManualRedirect | None
    after: ManualRedirect | None
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class SwitchChange:
    """One switch changed, as the audit keeps it (issue 20): `target` is a user or shared
    phone id, "" for the organisation; `before` is None when it was not known; `scope` is
    "org", "user" or "bulk"."""

    at: datetime
    by: str
    scope: str
    target: str
    name: str
    before: bool | None
    after: bool

    def as_json(self) -> dict[str, object]:
        """GET /api/admin/switch-changes."""
        return {
            "at": self.at.isoformat(),
            "by": self.by,
            "scope": self.scope,
            "target": self.target,
            "switch": self.name,
            "before": self.before,
            "after": self.after,
        }


class ChangeHub:
    """In-process fan-out of 'user X may have changed' notices (server-sent events).

    Each subscriber holds a set of pending user ids (coalesced), never a growing queue: a
    stalled page costs at most one entry per user.
    """

    def __init__(self) -> None:
        self._subs: set[Coalescing[str]] = set()

    def publish(self, user_id: str) -> None:
        """Tell every subscriber that this user's state may have changed."""
        for sub in list(self._subs):
            sub.put(user_id)

    def subscribe(self) -> Coalescing[str]:
        """A subscription receiving user ids; it ends (StopAsyncIteration) at shutdown."""
        sub: Coalescing[str] = Coalescing(str, None, self._subs.discard)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Coalescing[str]) -> None:
        """Stop delivering to this subscription."""
        self._subs.discard(sub)

    def close_all(self) -> None:
        """End every subscription (shutdown)."""
        for sub in list(self._subs):
            sub.close()

    @property
    def subscribers(self) -> int:
        """How many subscribers are listening."""
        return len(self._subs)
