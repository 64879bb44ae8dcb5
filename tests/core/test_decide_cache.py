"""What `decide` keeps between calls (per directory, policy, number and redirect) never changes
an answer: each call is worded for its own `now` (HV-02), follows the policy and presence it is
given (ALV-02, ALV-12, HV-03) and checks the covering point at the time of the call (HAL-03)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from routing import spoken, wording
from routing.absence import AbsenceReason, BusyStatus, ManualRedirect, PresenceBook
from routing.decide import decide
from routing.models import Action, Call
from tests.core.helpers import (
    ANNA,
    DAVID,
    POLICY,
    TZ,
    block,
    book,
    directory,
    local,
)


def said(
    d_message: str | None, d_prompts: tuple[str, ...], presence: PresenceBook, now: datetime
) -> None:
    """The decision's texts are what the wording functions give for this very `now`."""
    redirect = presence.redirect_at(DAVID.id, now)
    assert redirect is not None
    assert d_message == wording.absence_message(DAVID.name, redirect, now, TZ)
    assert d_prompts == spoken.absence_segments(DAVID.name, redirect, now, TZ)


def test_hv02_one_redirect_is_worded_for_the_day_of_each_call() -> None:
    """HV-02: the same redirect, met again on its return day, says the clock, not the date."""
    d, policy = directory(), POLICY
    presence = book({DAVID.id: [block(local(2026, 11, 23, 15), local(2026, 11, 24, 10))]})
    expected = {
        local(2026, 11, 23, 15, 30): "David Dahl är på möte, åter tisdag den 24 november.",
        local(2026, 11, 24, 9): "David Dahl är på möte, åter klockan 10.00.",
        local(2026, 11, 23, 16): "David Dahl är på möte, åter tisdag den 24 november.",
        local(2026, 11, 24, 9, 30): "David Dahl är på möte, åter klockan 10.00.",
    }
    for now, message in expected.items():
        decision = decide(Call("83015"), d, presence, policy, now)
        assert decision.message == message
        said(decision.message, decision.prompts, presence, now)
    assert decide(Call("83015"), d, presence, policy, local(2026, 11, 24, 9)).prompts == (
        "David Dahl",
        "är på möte,",
        "åter klockan",
        "tio.",
    )


def test_hv02_year_is_said_only_while_the_return_is_in_another_year() -> None:
    """HV-02: a vacation over New Year names the year in December, not in January."""
    d = directory()
    vacation = block(local(2026, 12, 28, 8), local(2027, 1, 5, 10), BusyStatus.OOF, "Semester")
    presence = book({DAVID.id: [vacation]})
    for now, message in [
        (local(2026, 12, 30, 9), "David Dahl är på semester, åter tisdag den 5 januari 2027."),
        (local(2027, 1, 4, 9), "David Dahl är på semester, åter tisdag den 5 januari."),
        (local(2026, 12, 31, 9), "David Dahl är på semester, åter tisdag den 5 januari 2027."),
    ]:
        decision = decide(Call("83015"), d, presence, POLICY, now)
        assert decision.message == message
        said(decision.message, decision.prompts, presence, now)


def test_alv02_hv03_each_manual_redirect_is_said_as_set() -> None:
    """ALV-02 / HV-03: a manual redirect replaced by another is said anew, with its own text."""
    d = directory()
    now = local(2026, 11, 24, 10)
    first = ManualRedirect(
        DAVID.id, AbsenceReason.TRAVEL, local(2026, 11, 24, 15), "Ring växeln.", set_at=now
    )
    second = replace(first, reason=AbsenceReason.TRAINING, text="Åter efter kursen.")
    books = [PresenceBook({}, {DAVID.id: first}), PresenceBook({}, {DAVID.id: second})]
    for presence in [*books, *books]:
        decision = decide(Call("83015"), d, presence, POLICY, now)
        said(decision.message, decision.prompts, presence, now)
    assert decide(Call("83015"), d, books[1], POLICY, now).message == (
        "David Dahl är på utbildning, åter klockan 15.00. Åter efter kursen."
    )


def test_alv12_each_call_follows_the_policy_it_is_given() -> None:
    """ALV-12: the same directory under two policies: voicemail for extension users on, off."""
    d = directory()
    off = replace(POLICY, voicemail_extension_users=False)
    now = local(2026, 11, 24, 10)
    for policy, hop in [(POLICY, "voicemail"), (off, "transfer"), (POLICY, "voicemail")]:
        assert decide(Call("83012"), d, PresenceBook(), policy, now).next == hop


def test_hal03_covering_point_is_checked_at_the_time_of_each_call() -> None:
    """HAL-03: while Anna's one redirect lasts, her covering point takes the call only while
    available; the redirect's decision is not kept when its target depends on the time."""
    d = directory()
    presence = book(
        {
            ANNA.id: [block(local(2026, 11, 24, 10), local(2026, 11, 24, 14, 30))],
            "bertil.berg": [block(local(2026, 11, 24, 10), local(2026, 11, 24, 11))],
        }
    )
    for now, target, hop in [
        (local(2026, 11, 24, 10, 15), None, "voicemail"),
        (local(2026, 11, 24, 11, 15), "+462683013", None),
        (local(2026, 11, 24, 10, 30), None, "voicemail"),
    ]:
        decision = decide(Call("83012"), d, presence, POLICY, now)
        assert decision.action is Action.REDIRECT
        assert (decision.target, decision.next) == (target, hop)


_START = local(2026, 12, 20)
_minutes = st.integers(min_value=0, max_value=20 * 24 * 60)


@st.composite
def _absences(draw: st.DrawFn) -> list:  # type: ignore[type-arg]
    blocks = []
    for _ in range(draw(st.integers(1, 8))):
        start = _START + timedelta(minutes=draw(_minutes))
        length = timedelta(minutes=draw(st.integers(15, 6 * 24 * 60)))
        status = draw(st.sampled_from([BusyStatus.BUSY, BusyStatus.OOF]))
        subject = draw(st.sampled_from(["Möte", "Semester", "Lunch", None]))
        blocks.append(block(start, start + length, status, subject))
    return blocks


@settings(max_examples=200, deadline=None)
@given(
    _absences(), st.lists(_minutes, min_size=4, max_size=12), st.sampled_from(["83015", "83012"])
)
def test_hv02_kept_answers_equal_fresh_ones(blocks: list, minutes: list[int], number: str) -> None:  # type: ignore[type-arg]
    """HV-02 / HAL-03: calls over three weeks around New Year against one directory (what is
    kept is reused) decide exactly as against a fresh directory each time (nothing kept)."""
    shared = directory()
    presence = book({DAVID.id: blocks, ANNA.id: blocks[::2], "bertil.berg": blocks[1::2]})
    for k, m in enumerate([*minutes, *minutes]):
        now = (_START + timedelta(minutes=m)).astimezone(UTC if k % 2 else TZ)
        kept = decide(Call(number), shared, presence, POLICY, now)
        assert kept == decide(Call(number), directory(), presence, POLICY, now)
