"""The effective state: who can be reached, computed in exactly one place.

Three inputs make it: calendar presence (per user, from calendar sync or the ICS files), manual
redirects (HV-03: they win while in force) and the administrators' switches (ALV-05 mobile
follows calendar, ALV-10/12 voicemail, ALV-19 international, ALV-21 blocked). `effective_state`
combines them into one `EffectiveState`; the call path, the PBX mirror, the board, the CLI, the
simulation and the metrics read it and never combine the inputs themselves.

`ChangeTracker` turns successive states into a typed stream of per-user changes (before →
after), including the changes that only time brings (a meeting starts, a manual redirect
expires): it knows, for each user, the next instant their view can change.
"""

from __future__ import annotations

import bisect
import dataclasses
import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from routing.absence import ManualRedirect, PresenceBook, Redirect, UserPresence
from routing.decide import decide
from routing.decision_table import mailbox_enabled
from routing.models import Call, Directory, Organisation, Policy, RouteDecision, User

# Per-user switches an administrator may set, and the organisation-wide voicemail switch
# (ALV-12) stored under the user id "".
USER_SWITCHES: tuple[str, ...] = (
    "voicemail",
    "mobile_follows_calendar",
    "international_unlocked",
    "blocked",
)
GLOBAL_VOICEMAIL = "voicemail_extension_users"

State = Literal["available", "redirected", "blocked"]


@dataclass(frozen=True)
class Switches:
    """The administrators' switches: (user id, switch name) → value; user id "" = everyone."""

    values: Mapping[tuple[str, str], bool] = field(default_factory=dict)
    _applied: dict[int, tuple[Organisation, Organisation]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def apply(self, org: Organisation) -> Organisation:
        """The organisation with the switches applied to its users and policy (remembered for
        the last organisation, so a Switches kept while nothing changes costs nothing)."""
        if not self.values:
            return org
        memo = self._applied.get(id(org))
        if memo is not None and memo[0] is org:
            return memo[1]
        applied = self._apply(org)
        self._applied.clear()
        self._applied[id(org)] = (org, applied)
        return applied

    def _apply(self, org: Organisation) -> Organisation:
        users: list[User] = []
        for u in org.directory.users:
            changes = {
                name: self.values[(u.id, name)]
                for name in USER_SWITCHES
                if (u.id, name) in self.values
            }
            users.append(dataclasses.replace(u, **changes) if changes else u)  # type: ignore[arg-type]
        d = org.directory
        shared = tuple(  # HAL-12: a unit's administrator blocks its shared phones (ALV-21)
            dataclasses.replace(p, blocked=self.values[(p.id, "blocked")])
            if (p.id, "blocked") in self.values
            else p
            for p in d.shared_phones
        )
        directory = Directory.build(tuple(users), d.groups, shared, d.switchboard, d.plan)
        policy = org.policy
        if ("", GLOBAL_VOICEMAIL) in self.values:
            policy = dataclasses.replace(
                policy, voicemail_extension_users=self.values[("", GLOBAL_VOICEMAIL)]
            )
        return dataclasses.replace(org, directory=directory, policy=policy)


@dataclass(frozen=True, slots=True)
class UserView:
    """One user as every consumer sees them at an instant: the user with the switches applied,
    the redirect in force (manual first), and whether a mailbox takes the call."""

    user: User
    redirect: Redirect | None
    voicemail: bool
    calendar_error: str | None = None
    stale: bool = False

    @property
    def user_id(self) -> str:
        """The user's id."""
        return self.user.id

    @property
    def state(self) -> State:
        """available, redirected (hänvisad) or blocked (spärrad, ALV-21)."""
        if self.user.blocked:
            return "blocked"
        return "redirected" if self.redirect is not None else "available"


@dataclass(frozen=True)
class EffectiveState:
    """The organisation with switches applied and the presence book (calendar + manual)."""

    org: Organisation
    book: PresenceBook
    switches: Switches = field(default_factory=Switches)

    @property
    def directory(self) -> Directory:
        """The directory with the administrators' switches applied."""
        return self.org.directory

    @property
    def policy(self) -> Policy:
        """The policy with the organisation-wide switches applied."""
        return self.org.policy

    def redirect_at(self, user: User, now: datetime) -> Redirect | None:
        """The redirect in force for `user` at `now` (manual first, HV-03)."""
        if not user.redirect_enabled:
            return None
        return self.book.redirect_at(user.id, now)

    def view(self, user_id: str, now: datetime) -> UserView | None:
        """One user's view at `now`, or None for an unknown id."""
        user = self.directory.user(user_id)
        if user is None:
            return None
        p = self.book.users.get(user_id)
        return UserView(
            user,
            self.redirect_at(user, now),
            mailbox_enabled(user, self.policy),
            p.calendar_error if p is not None else None,
            p.stale if p is not None else False,
        )

    def views(self, now: datetime) -> dict[str, UserView]:
        """Every user's view at `now`, by id."""
        out: dict[str, UserView] = {}
        for u in self.directory.users:
            view = self.view(u.id, now)
            if view is not None:
                out[u.id] = view
        return out

    def decide(self, call: Call, now: datetime) -> RouteDecision:
        """The routing decision for one call against this state (the pure `decide`)."""
        return decide(call, self.directory, self.book, self.policy, now)

    def next_change(self, user_id: str, now: datetime) -> datetime | None:
        """The next instant after `now` at which this user's view may change by time alone."""
        candidates: list[datetime] = []
        m = self.book.manual.get(user_id)
        if m is not None and m.until is not None and m.until > now:
            candidates.append(m.until)
        p = self.book.users.get(user_id)
        if p is not None:
            current = p.at(now)
            if current is not None and current.until is not None and current.until > now:
                candidates.append(current.until)
            i = bisect.bisect_right(p.starts, now)
            if i < len(p.starts):
                candidates.append(p.starts[i])
        return min(candidates) if candidates else None


def effective_state(
    org: Organisation,
    calendar: Mapping[str, UserPresence],
    manual: Mapping[str, ManualRedirect],
    switches: Switches | None = None,
) -> EffectiveState:
    """The one combination of calendar presence, manual redirects and switches."""
    switches = switches or Switches()
    return EffectiveState(switches.apply(org), PresenceBook(calendar, manual), switches)


@dataclass(frozen=True, slots=True)
class EffectiveChange:
    """One user's view changed: before → after (None: the user was added or removed)."""

    user_id: str
    before: UserView | None
    after: UserView | None
    at: datetime


class ChangeTracker:
    """Remembers each user's last view; says what changed, and when to look again."""

    def __init__(self) -> None:
        self._views: dict[str, UserView] = {}
        self._due: list[tuple[datetime, str]] = []
        self._wake: dict[str, datetime] = {}

    def view(self, user_id: str) -> UserView | None:
        """The view last seen for a user."""
        return self._views.get(user_id)

    def update(
        self, state: EffectiveState, now: datetime, users: Iterable[str] | None = None
    ) -> list[EffectiveChange]:
        """Look at `users` (default: everyone) in `state` at `now`; return what changed."""
        ids = (
            [u.id for u in state.directory.users] + [i for i in self._views]
            if users is None
            else list(users)
        )
        changes: list[EffectiveChange] = []
        seen: set[str] = set()
        for uid in ids:
            if uid in seen:
                continue
            seen.add(uid)
            before = self._views.get(uid)
            after = state.view(uid, now)
            if after is None:
                self._views.pop(uid, None)
                self._wake.pop(uid, None)
            else:
                self._views[uid] = after
                wake = state.next_change(uid, now)
                if wake is None:
                    self._wake.pop(uid, None)
                elif self._wake.get(uid) != wake:
                    self._wake[uid] = wake
                    heapq.heappush(self._due, (wake, uid))
            if before != after:
                changes.append(EffectiveChange(uid, before, after, now))
        return changes

    def next_due(self) -> datetime | None:
        """The earliest instant at which some user's view may change by time alone."""
        while self._due and self._wake.get(self._due[0][1]) != self._due[0][0]:
            heapq.heappop(self._due)  # superseded entries
        return self._due[0][0] if self._due else None

    def due(self, now: datetime) -> list[str]:
        """Users whose view may have changed by `now` (taken off the schedule)."""
        out: list[str] = []
        while self._due and self._due[0][0] <= now:
            when, uid = heapq.heappop(self._due)
            if self._wake.get(uid) == when:
                del self._wake[uid]
                out.append(uid)
        return out
