"""Where a call to a number ends up now: the routing decision, followed through the numbers it
passes the call on to (a covering point, a '>NUMBER' forward, Medborgarservice).

Every step is `decide` itself (through `EffectiveState.decide`): nothing here decides. When a
redirect passes Anna's call to Bertil and Bertil is away too, the next step is the decision a
call to Bertil's number gets now, so a page shows where the call really goes, not where the
first redirect points (issue 20: "Anna's calls are shown as going to Bertil while Bertil is
away").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from routing.effective import EffectiveState
from routing.models import Action, Call, RouteDecision

MAX_HOPS = 4  # a chain longer than this is cut (and a number met twice ends it: a loop)
PASSES_ON = frozenset({Action.REDIRECT, Action.TRANSFER})


@dataclass(frozen=True, slots=True)
class Hop:
    """One number the call is passed on to, and the decision a call to it gets now."""

    number: str  # E.164
    decision: RouteDecision


@dataclass(frozen=True, slots=True)
class Destination:
    """A call to one number now: its decision and each number it is passed on to, in order."""

    decision: RouteDecision
    hops: tuple[Hop, ...] = ()
    loop: bool = False  # the chain came back to a number already on it (cut there)

    @property
    def final(self) -> RouteDecision:
        """The last decision on the way: where the call ends up."""
        return self.hops[-1].decision if self.hops else self.decision

    @property
    def involves(self) -> frozenset[str]:
        """The users, groups and shared phones (ids) whose state the answer depends on."""
        out: set[str] = set()
        for d in (self.decision, *(h.decision for h in self.hops)):
            if d.user:
                out.add(d.user)
            if d.owner:
                out.add(d.owner)
        return frozenset(out)


def destination(
    state: EffectiveState, number: str, now: datetime, max_hops: int = MAX_HOPS
) -> Destination:
    """Where a call to `number` at `now` ends up, step by step as `decide` takes it."""
    first = state.decide(Call(number), now)
    seen = {first.called} if first.called else set()
    hops: list[Hop] = []
    current = first
    while current.action in PASSES_ON and current.target and len(hops) < max_hops:
        if current.target in seen:
            return Destination(first, tuple(hops), loop=True)
        target = current.target
        seen.add(target)
        current = state.decide(Call(target), now)
        hops.append(Hop(target, current))
    return Destination(first, tuple(hops))
