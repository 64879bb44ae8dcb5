"""The decision table: what deciding calls against one directory and policy needs, made once.

`routing.decide` is the hot path of every call, so what does not change from call to call is
worked out once per directory and policy (`DecisionTable`, filled lazily number by number): how a
written number classifies, a user number's decision while the user is available (one shared,
frozen `RouteDecision`), and, per redirect (`Said`), the written message and spoken segments for
each way its return can be worded (today, another day this year, another year).
Memoisation only: every answer is the one the wording functions give for that `now`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from routing import wording
from routing.absence import Redirect
from routing.models import Action, Directory, NumberKind, Policy, RouteDecision, User
from routing.numbers import classify

NextHop = Literal["voicemail", "transfer"]

NUMBERS_BOUND = 100_000  # written forms remembered per table (then forgotten all at once)
REDIRECTS_BOUND = 8  # redirects remembered per user number (presence refreshes make new ones)
TABLES_BOUND = 4  # policies remembered per directory

# How a redirect's return is worded at `now` (HV-02): which cached message applies.
SAME_DAY, THIS_YEAR, OTHER_YEAR, NO_RETURN = range(4)
Texts = tuple[str, tuple[str, ...]]  # the written message and its spoken segments


@dataclass(eq=False, slots=True)
class Said:
    """One redirect as callers are told it: per wording variant (how its return is worded at
    `now`, HV-02), the texts and, when the target cannot change with time, the decision."""

    redirect: Redirect
    returns: datetime | None  # redirect.return_time
    until: datetime | None  # the return in the policy's zone
    day: date | None  # the return's local date
    reason: str
    texts: list[Texts | None] = field(default_factory=lambda: [None] * 4)
    # by variant, as fields rather than a list: one object less to reach on every call
    same_day: RouteDecision | None = None
    this_year: RouteDecision | None = None
    other_year: RouteDecision | None = None
    no_return: RouteDecision | None = None


DECISION_FIELDS = ("same_day", "this_year", "other_year", "no_return")  # by variant


@dataclass(eq=False, slots=True)
class UserNumber:
    """A user's extension or mobile with what deciding a call to it needs, worked out once."""

    e164: str
    kind: NumberKind
    user: User
    user_id: str
    follows: bool  # ALV-04/05 follows the calendar, HAL-01 redirects on, ALV-21 not blocked
    next_hop: NextHop
    fallback: str | None
    fixed: RouteDecision  # ALV-21 blocked: always; else the decision while available
    static_target: bool  # no covering point: a redirect's target does not depend on `now`
    said: dict[int, Said] = field(default_factory=dict)  # by id of the redirect (kept alive)

    def remember(self, redirect: Redirect, policy: Policy) -> Said:
        """The redirect's cache entry, new."""
        returns = redirect.return_time
        local = returns.astimezone(policy.timezone) if returns is not None else None
        said = Said(
            redirect,
            returns,
            local,
            local.date() if local is not None else None,
            wording.public_reason(redirect.reason),
        )
        if len(self.said) >= REDIRECTS_BOUND:
            self.said.clear()
        self.said[id(redirect)] = said
        return said


Classified = UserNumber | tuple[str | None, NumberKind]


class DecisionTable:
    """What deciding calls against one directory and policy needs, precomputed lazily."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.numbers: dict[str, Classified] = {}  # as written → classified
        self._users: dict[str, UserNumber] = {}  # by E.164
        self.fixed: dict[tuple[str, str], Texts] = {}  # fixed messages (group hours, blocked)

    def classify(self, written: str, directory: Directory) -> Classified:
        """Classify a written number (NUM-01) and remember it; a user's number comes with its
        precomputed decision inputs."""
        e164, kind = classify(written, directory, directory.plan)
        found: Classified = (e164, kind)
        if e164 is not None and kind is not NumberKind.INVALID:
            entry = directory.by_number.get(e164)
            if entry is not None and entry.owner_id is not None:
                owner = directory.by_id[entry.owner_id]
                if isinstance(owner, User):
                    found = self._users.get(e164) or self._user_number(e164, kind, owner, directory)
        if len(self.numbers) >= NUMBERS_BOUND:
            self.numbers.clear()
        self.numbers[written] = found
        return found

    def _user_number(
        self, e164: str, kind: NumberKind, user: User, directory: Directory
    ) -> UserNumber:
        next_hop, fallback = _next_hop(user, directory, self.policy)
        fixed = (
            _blocked_user(e164, kind, user, next_hop, fallback)
            if user.blocked
            else RouteDecision(
                e164, kind, Action.RING, user=user.id, next=next_hop, target=e164, ring=(e164,)
            )
        )
        follows = (
            not user.blocked
            and user.redirect_enabled
            and (
                kind is NumberKind.USER_EXTENSION
                or user.mobile_follows_calendar  # ALV-05
                or self.policy.personal_subscription == "mobile"  # HAL-16: mobile-based
            )
        )
        number = UserNumber(
            e164,
            kind,
            user,
            user.id,
            follows,
            next_hop,
            fallback,
            fixed,
            static_target=not user.covering,
        )
        self._users[e164] = number
        return number


def decision_table(directory: Directory, policy: Policy) -> DecisionTable:
    """The directory's table for this policy (made on first use, kept with the directory)."""
    tables = directory.decision_tables
    table = tables.get(id(policy))
    if not isinstance(table, DecisionTable) or table.policy is not policy:
        table = DecisionTable(policy)
        if len(tables) >= TABLES_BOUND:
            tables.clear()
        tables[id(policy)] = table
    return table


def mailbox_enabled(user: User, policy: Policy) -> bool:
    """ALV-10: off unless enabled per user; ALV-12: the global switch for extension users."""
    if not user.voicemail:
        return False
    return user.extension is None or policy.voicemail_extension_users


def _next_hop(user: User, directory: Directory, policy: Policy) -> tuple[NextHop, str | None]:
    """Where an unanswered or redirected call goes next: voicemail, else Medborgarservice."""
    if mailbox_enabled(user, policy):
        return "voicemail", None
    return "transfer", directory.switchboard


def _blocked_user(
    e164: str, kind: NumberKind, user: User, next_hop: NextHop, fallback: str | None
) -> RouteDecision:
    """ALV-21: a blocked subscription is never rung; the caller meets an unreachable person."""
    return RouteDecision(
        e164,
        kind,
        Action.VOICEMAIL if next_hop == "voicemail" else Action.TRANSFER,
        user=user.id,
        message=wording.UNREACHABLE_MESSAGE,
        prompts=(wording.UNREACHABLE_MESSAGE,),
        reason="blocked",
        next=next_hop,
        target=fallback,
    )
