"""`routing.destination`: where a call ends up now, each step the routing decision itself
(issue 20: Anna's calls shown as going to Bertil while Bertil is away)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from routing.absence import AbsenceReason, ManualRedirect, Redirect, UserPresence
from routing.destination import destination
from routing.effective import EffectiveState, effective_state
from routing.models import Action, Call
from switchboard.config import load_config

ROOT = Path(__file__).resolve().parents[2]
CFG = load_config(ROOT / "config" / "alvkarleby")
TZ = CFG.org.timezone
NOW = datetime(2026, 11, 24, 10, 15, tzinfo=TZ)  # a Tuesday
ANNA, BERTIL, CECILIA = "anna.andersson", "bertil.berg", "cecilia.carlsson"


def ext(uid: str) -> str:
    user = CFG.directory.user(uid)
    assert user is not None and user.extension
    return user.extension


def away(uid: str) -> ManualRedirect:
    return ManualRedirect(uid, AbsenceReason.MEETING, NOW + timedelta(hours=2), set_at=NOW)


def forward(uid: str, to: str) -> UserPresence:
    """A calendar block with a '>NUMBER' forward (HV-05)."""
    r = Redirect(
        AbsenceReason.MEETING,
        NOW - timedelta(hours=1),
        NOW + timedelta(hours=1),
        "calendar",
        forward_to=to,
    )
    return UserPresence.of(uid, (r,))


def state(manual: list[str], calendar: dict[str, UserPresence] | None = None) -> EffectiveState:
    return effective_state(CFG.org, calendar or {}, {u: away(u) for u in manual})


def test_an_available_person_rings_with_no_hops() -> None:
    st = state([])
    found = destination(st, ext(BERTIL), NOW)
    assert found.decision.action is Action.RING and found.hops == ()
    assert found.final is found.decision and found.involves == {BERTIL}


def test_covering_point_available_the_call_ends_at_the_colleague() -> None:
    """Anna away, Bertil (her covering point) in: the call is passed on and rings Bertil."""
    st = state([ANNA])
    found = destination(st, ext(ANNA), NOW)
    assert found.decision == st.decide(Call(ext(ANNA)), NOW)
    assert [h.number for h in found.hops] == [ext(BERTIL)]
    assert found.final.action is Action.RING and found.final.user == BERTIL
    assert found.involves == {ANNA, BERTIL}


def test_covering_point_away_the_call_never_ends_at_him() -> None:
    """The issue's bug: Bertil away too; routing's own decision sends the call elsewhere."""
    st = state([ANNA, BERTIL])
    found = destination(st, ext(ANNA), NOW)
    assert found.decision == st.decide(Call(ext(ANNA)), NOW)
    assert found.decision.target != ext(BERTIL)
    assert all(h.decision.user != BERTIL for h in found.hops)
    assert not (found.final.action is Action.RING and ext(BERTIL) in found.final.ring)


def test_a_forward_to_someone_away_follows_his_own_decision() -> None:
    """Cecilia's calendar forwards to Bertil (HV-05), who is away: the next step is what a call
    to Bertil's number gets now."""
    st = state([BERTIL], {CECILIA: forward(CECILIA, ext(BERTIL))})
    found = destination(st, ext(CECILIA), NOW)
    assert found.decision.target == ext(BERTIL)
    assert found.hops[0].number == ext(BERTIL)
    assert found.hops[0].decision == st.decide(Call(ext(BERTIL)), NOW)
    assert found.hops[0].decision.action is not Action.RING
    assert BERTIL in found.involves and CECILIA in found.involves


def test_a_loop_is_cut() -> None:
    """Two forwards to each other end after one round, marked as a loop."""
    cal = {ANNA: forward(ANNA, ext(BERTIL)), BERTIL: forward(BERTIL, ext(ANNA))}
    found = destination(state([], cal), ext(ANNA), NOW)
    assert found.loop and len(found.hops) == 1
