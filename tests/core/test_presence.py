"""Presence: merging, return times, precedence, overrides (HV-01..HV-05, ALV-02, ALV-07, HAL-02)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from routing.absence import AbsenceReason, BusyStatus, PresenceBook
from routing.numbers import normalise
from routing.presence import build_user_presence, calendar_redirects, manual_redirect
from routing.wording import absence_message
from tests.core.helpers import PLAN, RULES, TZ, block, local


def test_hal02_booked_meeting_redirects_automatically() -> None:
    """HAL-02 / ALV-01: a booked (busy) meeting redirects while it lasts, not after."""
    p = build_user_presence("a", [block(local(2026, 11, 24, 10), local(2026, 11, 24, 11))], RULES)
    assert p.at(local(2026, 11, 24, 10, 15)) is not None
    assert p.at(local(2026, 11, 24, 11, 0)) is None
    assert p.at(local(2026, 11, 24, 9, 59)) is None


def test_alv07_free_reminder_does_not_redirect() -> None:
    """ALV-07: an entry shown as free never redirects; nor do tentative and working elsewhere (HV-01)."""
    for status in (BusyStatus.FREE, BusyStatus.TENTATIVE, BusyStatus.WORKING_ELSEWHERE):
        p = build_user_presence(
            "a", [block(local(2026, 11, 24, 10), local(2026, 11, 24, 11), status)], RULES
        )
        assert p.at(local(2026, 11, 24, 10, 30)) is None


def test_hv01_mapping_is_configurable() -> None:
    """HV-01: an organisation may also redirect on tentative."""
    from dataclasses import replace

    rules = replace(
        RULES, redirect_on=frozenset({BusyStatus.BUSY, BusyStatus.OOF, BusyStatus.TENTATIVE})
    )
    p = build_user_presence(
        "a", [block(local(2026, 11, 24, 10), local(2026, 11, 24, 11), BusyStatus.TENTATIVE)], rules
    )
    assert p.at(local(2026, 11, 24, 10, 30)) is not None


def test_hv02_back_to_back_blocks_merge_and_return_at_the_end() -> None:
    """HV-02: back-to-back and overlapping busy blocks merge; return = end of the merged block."""
    blocks = [
        block(local(2026, 11, 24, 10), local(2026, 11, 24, 11)),
        block(local(2026, 11, 24, 11), local(2026, 11, 24, 11, 30), subject="Lunch"),
        block(local(2026, 11, 24, 11, 15), local(2026, 11, 24, 14, 30)),
    ]
    p = build_user_presence("a", blocks, RULES)
    r = p.at(local(2026, 11, 24, 10, 5))
    assert r is not None and r.return_time == local(2026, 11, 24, 14, 30)
    assert absence_message("Anna Andersson", r, local(2026, 11, 24, 10, 5), TZ) == (
        "Anna Andersson är på möte, åter klockan 14.30."
    )


def test_hv02_absence_to_end_of_day_returns_next_working_day() -> None:
    """HV-02: ending at close (or later) returns at the next working day's start, skipping the weekend."""
    friday = [block(local(2026, 11, 27, 13), local(2026, 11, 27, 17))]
    r = build_user_presence("a", friday, RULES).at(local(2026, 11, 27, 14))
    assert r is not None and r.return_time == local(2026, 11, 30, 8, 0)
    assert absence_message("Bertil Berg", r, local(2026, 11, 27, 14), TZ) == (
        "Bertil Berg är på möte, åter måndag den 30 november."
    )


def test_hv02_return_skips_holidays() -> None:
    """HV-02: Christmas Eve and Day are holidays; a 23 December absence returns on 28 December."""
    r = build_user_presence(
        "a",
        [block(local(2026, 12, 23, 8), local(2026, 12, 23, 16, 30), BusyStatus.OOF, "Semester")],
        RULES,
    ).at(local(2026, 12, 23, 9))
    assert r is not None and r.return_time == local(2026, 12, 28, 8, 0)


def test_hv02_semester_week_all_day() -> None:
    """HV-02: an all-day week ending Saturday 00:00 returns Monday 08:00 ('åter måndag den 7 december')."""
    b = block(local(2026, 11, 30), local(2026, 12, 5), BusyStatus.OOF, "Semester")
    r = build_user_presence("a", [b], RULES).at(local(2026, 12, 1, 10))
    assert r is not None and r.reason is AbsenceReason.VACATION
    assert absence_message("Anna Andersson", r, local(2026, 12, 1, 10), TZ) == (
        "Anna Andersson är på semester, åter måndag den 7 december."
    )


def test_hv03_manual_redirect_takes_precedence_and_expires() -> None:
    """HV-03 / ALV-02: a manual redirect wins over the calendar and ends by itself."""
    cal = build_user_presence("a", [block(local(2026, 11, 24, 9), local(2026, 11, 24, 12))], RULES)
    now = local(2026, 11, 24, 9, 30)
    manual = manual_redirect(
        "a", AbsenceReason.TRAINING, local(2026, 11, 24, 10), RULES, now, "Ring Bertil."
    )
    book = PresenceBook({"a": cal}, {"a": manual})
    r = book.redirect_at("a", now)
    assert r is not None and r.source == "manual" and r.reason is AbsenceReason.TRAINING
    assert (
        absence_message("Anna", r, now, TZ)
        == "Anna är på utbildning, åter klockan 10.00. Ring Bertil."
    )
    after = book.redirect_at("a", local(2026, 11, 24, 10, 0))
    assert after is not None and after.source == "calendar"  # manual expired, calendar again
    assert book.redirect_at("a", local(2026, 11, 24, 12, 0)) is None


def test_hv04_private_and_sick_are_spoken_neutrally() -> None:
    """HV-04: a private event never reveals its subject; Sjuk and VAB are 'inte på plats'."""
    now = local(2026, 11, 24, 10)
    for b in (
        block(local(2026, 11, 24, 9), local(2026, 11, 24, 11), BusyStatus.OOF, "Sjuk"),
        block(local(2026, 11, 24, 9), local(2026, 11, 24, 11), BusyStatus.OOF, "VAB"),
        block(local(2026, 11, 24, 9), local(2026, 11, 24, 11), BusyStatus.OOF, private=True),
    ):
        r = build_user_presence("a", [b], RULES).at(now)
        assert r is not None
        assert (
            absence_message("Eva Ek", r, now, TZ) == "Eva Ek är inte på plats, åter klockan 11.00."
        )
    private_busy = block(local(2026, 11, 24, 9), local(2026, 11, 24, 11), private=True)
    r = build_user_presence("a", [private_busy], RULES).at(now)
    assert r is not None and "möte" not in absence_message("Eva Ek", r, now, TZ)


def test_hv05_subject_overrides_keep_open_and_forward() -> None:
    """HV-05: '-' keeps the phone open; '>NUMBER' forwards there."""
    keep = block(local(2026, 11, 24, 9), local(2026, 11, 24, 12), subject="-Fokustid")
    assert build_user_presence("a", [keep], RULES).at(local(2026, 11, 24, 10)) is None
    fwd = block(local(2026, 11, 24, 9), local(2026, 11, 24, 12), subject=">070-111 22 33 Kundbesök")
    r = build_user_presence("a", [fwd], RULES, lambda n: normalise(n, PLAN)).at(
        local(2026, 11, 24, 10)
    )
    assert r is not None and r.forward_to == "+46701112233"


def test_overlap_says_the_stronger_reason() -> None:
    """A meeting inside a vacation block is spoken as vacation."""
    blocks = [
        block(local(2026, 11, 24, 8), local(2026, 11, 24, 16, 30), BusyStatus.OOF, "Semester"),
        block(local(2026, 11, 24, 10), local(2026, 11, 24, 11)),
    ]
    redirects = calendar_redirects(blocks, RULES)
    assert {r.reason for r in redirects} == {AbsenceReason.VACATION}


_minutes = st.integers(min_value=0, max_value=14 * 24 * 60)


@st.composite
def _blocks(draw: st.DrawFn, statuses: list[BusyStatus]) -> list:  # type: ignore[type-arg]
    base = local(2026, 11, 23, 0)
    out = []
    for _ in range(draw(st.integers(0, 12))):
        start = base + timedelta(minutes=draw(_minutes))
        length = timedelta(minutes=draw(st.integers(1, 3 * 24 * 60)))
        out.append(
            block(
                start,
                start + length,
                draw(st.sampled_from(statuses)),
                draw(st.sampled_from(["Möte", "Semester", "Lunch", None])),
            )
        )
    return out


@given(_blocks([BusyStatus.FREE]), _minutes)
def test_alv07_property_no_redirect_when_every_block_is_free(blocks: list, offset: int) -> None:  # type: ignore[type-arg]
    """ALV-07 (property): when every block is free, nobody is ever redirected."""
    now = local(2026, 11, 23, 0) + timedelta(minutes=offset)
    assert build_user_presence("a", blocks, RULES).at(now) is None


@given(_blocks([BusyStatus.BUSY, BusyStatus.OOF, BusyStatus.FREE]), _minutes)
def test_hv02_property_return_time_never_before_now(blocks: list, offset: int) -> None:  # type: ignore[type-arg]
    """HV-02 (property): an active redirect's return time is never before `now`."""
    now = local(2026, 11, 23, 0) + timedelta(minutes=offset)
    r = build_user_presence("a", blocks, RULES).at(now)
    if r is not None:
        assert r.return_time is not None and r.return_time >= now
        assert r.until is not None and r.until > now


def test_hv01_scheduled_automatic_reply_is_an_absence_until_its_end() -> None:
    """HV-01: an Outlook automatic reply scheduled Tuesday 13:00 to Thursday 15:00 redirects as
    "away" (the reply text is never read) and returns at its end; outside it, nothing."""
    from calendar_sync.autoreply import AutomaticReplies

    start, end = local(2026, 11, 24, 13), local(2026, 11, 26, 15)
    window = (local(2026, 11, 23), local(2026, 12, 1))
    oof = AutomaticReplies.of("Scheduled", start, end).blocks(*window)
    p = build_user_presence("a", oof, RULES)
    now = p.at(local(2026, 11, 25, 10))
    assert now is not None and now.reason is AbsenceReason.AWAY and now.until == end
    assert p.at(local(2026, 11, 24, 12, 59)) is None and p.at(end) is None
    assert AutomaticReplies.of("Disabled", start, end).blocks(*window) == []
