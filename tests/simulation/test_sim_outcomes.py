"""HAL-03 outcomes of single calls placed by hand, and small runs whose figures are computed by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from routing.absence import PresenceBook
from simulation.engine import simulate
from simulation.models import Arrival, Outcome, RunResult, Scenario, SwitchboardModel
from simulation.report import build_report
from tests.simulation.helpers import (
    arrival,
    busy,
    local,
    org,
    pick,
    scenario,
)

EMPTY = PresenceBook()


def run(
    calls: list[Arrival],
    presence: PresenceBook = EMPTY,
    s: Scenario | None = None,
    **org_kw: object,
) -> RunResult:
    """Simulate hand-placed calls on DAY."""
    s = s or scenario()
    return simulate(s, org(**org_kw), lambda _d: presence, arrivals=lambda _d: list(calls))  # type: ignore[arg-type]


def only(result: RunResult) -> Outcome:
    """The outcome of the single call in a run."""
    assert len(result.calls) == 1
    return result.calls[0].outcome


# Directory order: extensions anna, bertil, david, eva, karl; mobiles anna, bertil, david.
ANNA_EXT, BERTIL_EXT, DAVID_EXT, EVA_EXT, KARL_EXT = (pick(i, 5) for i in range(5))
ANNA_MOB, DAVID_MOB = pick(0, 3), pick(2, 3)
BYGGLOV, SOCIALJOUR, KONTAKTCENTER = (pick(i, 3) for i in range(3))


def test_hal03_personal_answer_counts_as_answered() -> None:
    """An available person who picks up: personal answer, answered."""
    result = run([arrival(local(10), "extension", DAVID_EXT)])
    assert only(result) is Outcome.PERSONAL_ANSWER
    assert result.calls[0].answered and result.calls[0].answered_by == "david"


def test_hal03_forward_to_covering_point_counts_as_answered() -> None:
    """Anna in a meeting, her covering point Bertil available: forwarded, answered."""
    presence = busy(("anna", local(9), local(11)))
    result = run([arrival(local(10), "extension", ANNA_EXT)], presence)
    assert only(result) is Outcome.COVERING_POINT
    assert result.calls[0].answered


def test_hal03_contact_centre_is_not_a_covering_point() -> None:
    """Eva's covering point is the contact centre: she still gave a redirection message, never a covering-point forward."""
    presence = busy(("eva", local(9), local(11)))
    result = run([arrival(local(10), "extension", EVA_EXT)], presence)
    assert only(result) is Outcome.REDIRECT_MESSAGE


def test_hal03_redirection_message_counts_as_answered() -> None:
    """David in a meeting, no voicemail, no covering point: the redirection message is an answer."""
    presence = busy(("david", local(9), local(11)))
    result = run([arrival(local(10), "extension", DAVID_EXT)], presence)
    assert only(result) is Outcome.REDIRECT_MESSAGE
    assert result.calls[0].answered


def test_hal03_voicemail_counts_as_answered_and_creates_a_message() -> None:
    """Anna does not pick up and has voicemail: answered, one voicemail created."""
    s = scenario(answer_probability=0.0)
    result = run([arrival(local(10), "extension", ANNA_EXT)], s=s)
    assert only(result) is Outcome.VOICEMAIL
    assert build_report(result, s)["voicemails_created"] == 1


def test_hal03_redirect_then_voicemail_counts_once_as_voicemail() -> None:
    """Anna in a meeting and Bertil too: redirection message, then voicemail."""
    presence = busy(("anna", local(9), local(11)), ("bertil", local(9), local(11)))
    result = run([arrival(local(10), "extension", ANNA_EXT)], presence)
    assert only(result) is Outcome.VOICEMAIL


def test_hal03_ring_out_without_voicemail_must_call_again() -> None:
    """David does not pick up and has no voicemail: passed to the contact centre, not answered."""
    result = run([arrival(local(10), "extension", DAVID_EXT)], s=scenario(answer_probability=0.0))
    assert only(result) is Outcome.CONTACT_CENTRE
    assert not result.calls[0].answered
    assert "no voicemail" in result.calls[0].why


def test_hal03_ring_out_with_nowhere_to_go_must_call_again() -> None:
    """Without a switchboard a call that rings out has nowhere to go."""
    s = scenario(answer_probability=0.0)
    result = run([arrival(local(10), "extension", DAVID_EXT)], s=s, switchboard=None)
    assert only(result) is Outcome.NO_ANSWER


def test_hal03_group_outside_telephone_hours_must_call_again() -> None:
    """Bygglov answers Tuesday 9–11 only: a call at 13:00 has to call again (ALV-08 message)."""
    result = run([arrival(local(13), "group", BYGGLOV)])
    assert only(result) is Outcome.OUTSIDE_TELEPHONE_HOURS
    assert "tisdag" in result.calls[0].why


def test_hal03_group_with_nobody_available_must_call_again() -> None:
    """Both members of Socialjouren in a meeting: passed on to the contact centre."""
    presence = busy(("david", local(9), local(11)), ("eva", local(9), local(11)))
    result = run([arrival(local(10), "group", SOCIALJOUR)], presence)
    assert only(result) is Outcome.CONTACT_CENTRE


def test_hal03_group_member_answers() -> None:
    """An available member of an open group picks up: personal answer."""
    result = run([arrival(local(10), "group", SOCIALJOUR)])
    assert only(result) is Outcome.PERSONAL_ANSWER
    assert result.calls[0].answered_by in {"david", "eva"}


def test_hal03_blocked_subscription_without_voicemail_must_call_again() -> None:
    """ALV-21: Karl's subscription is blocked and he has no voicemail."""
    result = run([arrival(local(10), "extension", KARL_EXT)])
    assert only(result) is Outcome.CONTACT_CENTRE


def test_hal03_mobile_rings_through_during_a_meeting() -> None:
    """ALV-04: David's mobile rings through his meeting; he picks up less often there."""
    presence = busy(("david", local(9), local(11)))
    s = scenario(answer_probability_in_meeting=0.2)
    picked = run([arrival(local(10), "mobile", DAVID_MOB, answer=0.1)], presence, s)
    missed = run([arrival(local(10), "mobile", DAVID_MOB, answer=0.5)], presence, s)
    assert only(picked) is Outcome.PERSONAL_ANSWER
    assert only(missed) is Outcome.CONTACT_CENTRE


def test_hal03_switchboard_with_every_line_busy_must_call_again() -> None:
    """One contact-centre line: a second caller during the first call gets no answer."""
    s = scenario(switchboard=SwitchboardModel(agents=1, answer_probability=1.0))
    calls = [arrival(local(10), "switchboard"), arrival(local(10, 0, 30), "switchboard")]
    result = run(calls, s=s)
    assert [c.outcome for c in result.calls] == [Outcome.PERSONAL_ANSWER, Outcome.NO_ANSWER]


def test_hal03_person_busy_on_a_call_does_not_answer_a_second() -> None:
    """The virtual clock keeps Anna on her first call; the second goes to voicemail, the third (after release) is answered."""
    calls = [
        arrival(local(10), "extension", ANNA_EXT, talk_s=300.0),
        arrival(local(10, 1), "extension", ANNA_EXT),
        arrival(local(10, 10), "extension", ANNA_EXT),
    ]
    result = run(calls)
    assert [c.outcome for c in result.calls] == [
        Outcome.PERSONAL_ANSWER,
        Outcome.VOICEMAIL,
        Outcome.PERSONAL_ANSWER,
    ]


def test_hal03_presence_changes_during_the_day() -> None:
    """David's meeting 9–10 redirects the 9:30 call; the 10:30 call rings him."""
    presence = busy(("david", local(9), local(10)))
    calls = [
        arrival(local(9, 30), "extension", DAVID_EXT),
        arrival(local(10, 30), "extension", DAVID_EXT),
    ]
    result = run(calls, presence)
    assert [c.outcome for c in result.calls] == [Outcome.REDIRECT_MESSAGE, Outcome.PERSONAL_ANSWER]


def test_hal03_report_counts_a_hand_computed_day() -> None:
    """Six calls computed by hand: 4 answered (share 0.6667), outcomes, hours, units and kinds."""
    presence = busy(("david", local(9), local(10)))
    calls = [
        arrival(local(8, 15), "extension", DAVID_EXT),  # personal answer (Social)
        arrival(local(9, 15), "extension", DAVID_EXT),  # redirection message (Social)
        arrival(local(9, 20), "extension", KARL_EXT),  # blocked → contact centre (Fastighet)
        arrival(local(9, 40), "group", BYGGLOV),  # open Tue 9–11, anna answers (Bygg)
        arrival(local(13), "group", BYGGLOV),  # outside telephone hours (Bygg)
        arrival(local(13, 5), "extension", ANNA_EXT, answer=0.99),  # voicemail (Bygg)
    ]
    s = scenario(answer_probability=0.9)
    r = build_report(run(calls, presence, s), s)
    assert (r["calls"], r["answered"], r["answered_share"]) == (6, 4, 0.6667)
    assert r["outcomes"] == {
        "personal_answer": 2,
        "covering_point": 0,
        "redirect_message": 1,
        "voicemail": 1,
        "contact_centre": 1,
        "no_answer": 0,
        "outside_telephone_hours": 1,
        "rejected": 0,
    }
    assert r["by_hour"] == {
        "08": {"calls": 1, "answered": 1, "answered_share": 1.0},
        "09": {"calls": 3, "answered": 2, "answered_share": 0.6667},
        "13": {"calls": 2, "answered": 1, "answered_share": 0.5},
    }
    assert r["by_unit"]["Bygg"] == {"calls": 3, "answered": 2, "answered_share": 0.6667}
    assert r["by_unit"]["Fastighet"] == {"calls": 1, "answered": 0, "answered_share": 0.0}
    assert r["by_kind"] == {
        "extension": {"calls": 4, "answered": 3, "answered_share": 0.75},
        "group": {"calls": 2, "answered": 1, "answered_share": 0.5},
    }
    assert [c["outcome"] for c in r["must_call_again"]] == [
        "contact_centre",
        "outside_telephone_hours",
    ]
    assert r["must_call_again"][0]["to"] == "karl" and "blocked" in r["must_call_again"][0]["why"]
    assert r["voicemails_created"] == 1


def test_hal03_caller_who_hangs_up_at_the_beep_still_reached_voicemail() -> None:
    """A caller who leaves no message still ended in voicemail, but no message is created."""
    s = scenario(answer_probability=0.0, voicemail_leave_probability=0.5)
    result = run([arrival(local(10), "extension", ANNA_EXT, leave=0.9)], s=s)
    assert only(result) is Outcome.VOICEMAIL
    assert build_report(result, s)["voicemails_created"] == 0


def test_drawn_arrivals_follow_the_hourly_rates() -> None:
    """Calls are drawn only in the hours given, about as many as asked for, over every number of the kind."""
    s = scenario(arrivals={"extension": {9: 400.0}}, answer_probability=0.8)
    result = simulate(s, org(), lambda _d: EMPTY)
    assert 330 < len(result.calls) < 470
    assert {c.at.hour for c in result.calls} == {9}
    assert {c.target_id for c in result.calls} == {"anna", "bertil", "david", "eva", "karl"}
    assert replace(s, dates=(date(2026, 11, 25),)).dates != s.dates
