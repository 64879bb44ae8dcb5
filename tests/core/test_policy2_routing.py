"""Issue 19, routing: holidays (HAL-15, ALV-08), Medborgarservice's own hours (ALV-27) and
Hallsberg's mobile-based switchboard (HAL-16, HAL-01), decided on the sample folders the way
`switchboard route` decides them (calendar presence from the ICS files)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time
from pathlib import Path

import pytest

from routing import spoken
from routing.absence import BusyStatus, CalendarBlock, PresenceBook
from routing.decide import decide
from routing.effective import effective_state
from routing.models import Action, Call, ContactCentre, Directory, Hours, NumberKind, RouteDecision
from routing.presence import build_user_presence
from switchboard.cli.presence import user_state
from switchboard.config import Config, load_config
from switchboard.state import presence_at
from tests.conftest import ROOT

ALV = ROOT / "config" / "alvkarleby"
HAL = ROOT / "config" / "hallsberg"


def config(folder: Path) -> Config:
    """A sample organisation, loaded."""
    return load_config(folder)


def route(folder: Path | Config, to: str, at: str) -> RouteDecision:
    """What `switchboard route DIR --to TO --at AT` decides (local time, no manual redirects)."""
    cfg = folder if isinstance(folder, Config) else config(folder)
    now = datetime.fromisoformat(at).replace(tzinfo=cfg.org.timezone)
    state = effective_state(cfg.org, presence_at(cfg, now).users, {})
    return state.decide(Call(to), now)


def test_hal15_holiday_closes_bygglov_telephone_hours() -> None:
    """HAL-15 / ALV-08: Thursday 24 December 10.00 is inside Bygglov's weekday hours but a
    configured holiday: the group is closed and the caller hears why, in Swedish."""
    d = route(ALV, "026-830 50", "2026-12-24T10:00")
    assert (d.action, d.reason, d.owner, d.ring) == (
        Action.REDIRECT,
        "outside_telephone_hours",
        "bygglov",
        (),
    )
    assert d.message is not None
    assert d.message.startswith(
        "Bygglov har stängt i dag, eftersom det är helgdag. "
        "Bygglov har telefontid tisdag och torsdag klockan 9.00–11.00. Välkommen att ringa då."
    )
    assert d.prompts[:2] == ("Bygglov har stängt i dag,", "eftersom det är helgdag.")
    # the same Thursday a week before is an ordinary day: the group rings
    assert route(ALV, "026-830 50", "2026-12-17T10:00").action is Action.RING


def test_hal15_on_call_group_open_on_holidays_rings_on_christmas_day() -> None:
    """HAL-15 / HAL-05: Socialjouren (on call, `open_on_holidays: true`) rings on 25 December;
    without the key the holiday closes it like any group."""
    cfg = config(ALV)
    d = route(cfg, "026-830 60", "2026-12-25T10:00")
    assert (d.action, d.owner) == (Action.RING, "socialjour")
    assert d.ring == ("+462683015", "+462683016")
    closed_jour = tuple(
        replace(g, open_on_holidays=False) if g.id == "socialjour" else g
        for g in cfg.directory.groups
    )
    assert cfg.directory.group("socialjour").open_on_holidays  # type: ignore[union-attr]
    d0 = cfg.directory
    directory = Directory.build(d0.users, closed_jour, d0.shared_phones, d0.switchboard, d0.plan)
    now = datetime(2026, 12, 25, 10, tzinfo=cfg.org.timezone)
    d = decide(Call("026-830 60"), directory, PresenceBook(), cfg.policy, now)
    assert d.action is Action.REDIRECT and d.message is not None
    assert d.message.startswith("Socialjouren har stängt i dag, eftersom det är helgdag.")


def test_alv27_medborgarservice_closed_says_when_it_opens() -> None:
    """ALV-27: a call to Medborgarservice on Christmas Eve (a holiday) hears that it is closed
    and opens again on Monday at eight; the sample's out-of-hours message follows."""
    d = route(ALV, "026-830 00", "2026-12-24T10:00")
    assert (d.number_kind, d.action, d.reason) == (
        NumberKind.SWITCHBOARD,
        Action.REDIRECT,
        "contact_centre_closed",
    )
    assert d.message == (
        "Medborgarservice har stängt just nu och öppnar igen måndag klockan 8.00. "
        "Du kan också lämna ditt ärende på kommunens webbplats."
    )
    assert d.prompts[:2] == (
        "Medborgarservice har stängt just nu",
        "och öppnar igen måndag klockan åtta.",
    )
    assert d.target is None and d.ring == ()


@pytest.mark.parametrize(
    ("at", "when"),
    [
        ("2026-11-24T07:00", "i dag klockan 8.00"),  # before opening
        ("2026-11-24T17:30", "i morgon klockan 8.00"),  # after closing
        ("2026-11-28T10:00", "måndag klockan 8.00"),  # a Saturday
        ("2026-12-31T12:00", "måndag klockan 8.00"),  # holidays 31/12 and 1/1, then a weekend
    ],
)
def test_alv27_opening_hours_and_the_next_opening(at: str, when: str) -> None:
    """ALV-27: outside its hours Medborgarservice names its next opening; inside it rings."""
    d = route(ALV, "026-830 00", at)
    assert d.action is Action.REDIRECT and d.message is not None
    assert d.message.startswith(f"Medborgarservice har stängt just nu och öppnar igen {when}.")
    assert route(ALV, "026-830 00", "2026-11-24T10:00").action is Action.RING


def test_alv27_own_closed_days_and_dates_further_ahead() -> None:
    """ALV-27: the contact centre's own closed days count; an opening more than a week away
    is named with its date (and spoken as Swedish words)."""
    cfg = config(ALV)
    centre = ContactCentre(
        name="Kontaktcenter",
        opening_hours=Hours(frozenset(range(5)), time(7, 30), time(16)),
        closed_days=frozenset(date(2026, 11, d) for d in range(25, 31)) | {date(2026, 12, 1)},
    )
    policy = replace(cfg.policy, contact_centre=centre)
    now = datetime(2026, 11, 24, 18, tzinfo=cfg.org.timezone)
    d = decide(Call("026-830 00"), cfg.directory, PresenceBook(), policy, now)
    assert (
        d.message
        == "Kontaktcenter har stängt just nu och öppnar igen onsdag den 2 december klockan 7.30."
    )
    assert d.prompts == (
        "Kontaktcenter har stängt just nu",
        f"och öppnar igen {spoken.date_words(date(2026, 12, 2))} klockan sju och trettio.",
    )


def test_alv27_closed_group_is_not_passed_to_a_closed_medborgarservice() -> None:
    """ALV-27 / ALV-08: outside Bygglov's hours on a Saturday the caller is not told "Du
    kopplas nu till Medborgarservice" (it is closed too) but when it opens."""
    d = route(ALV, "026-830 50", "2026-11-28T10:00")
    assert d.message is not None and "Du kopplas" not in d.message
    assert "Medborgarservice har stängt just nu och öppnar igen måndag klockan 8.00." in d.message
    assert (d.next, d.target) == (None, None)
    weekday = route(ALV, "026-830 50", "2026-11-24T13:00")  # Tuesday: Medborgarservice open
    assert weekday.message is not None and weekday.message.endswith(
        "Du kopplas nu till Medborgarservice."
    )
    assert (weekday.next, weekday.target) == ("transfer", "+462683000")


def test_hal16_hallsberg_mobile_follows_the_calendar_alv_mobile_rings() -> None:
    """HAL-16 / HAL-01: in Hallsberg's profile (`policy.personal_subscription: mobile`) Maria's
    mobile is redirected through her booked meeting; in Älvkarleby's profile Anna's mobile rings
    straight through her meeting (ALV-04). The difference is the profile, not the code."""
    hal = config(HAL)
    assert hal.policy.personal_subscription == "mobile"
    d = route(hal, "073-123 45 67", "2026-11-24T10:15")
    assert (d.action, d.user, d.reason) == (Action.REDIRECT, "maria.magnusson", "meeting")
    assert d.message == "Maria Magnusson är på möte, åter klockan 11.30."
    alv = config(ALV)
    assert alv.policy.personal_subscription == "extension"
    d = route(alv, "070-123 45 67", "2026-11-24T10:15")
    assert (d.action, d.user) == (Action.RING, "anna.andersson")
    # the same Hallsberg directory under the extension profile: Maria's mobile rings
    ext_policy = replace(hal.policy, personal_subscription="extension")
    now = datetime(2026, 11, 24, 10, 15, tzinfo=hal.org.timezone)
    book = presence_at(hal, now)
    assert decide(Call("073-123 45 67"), hal.directory, book, ext_policy, now).action is Action.RING


def test_alv09_colleague_state_is_exact_in_and_out_of_a_meeting() -> None:
    """ALV-09: at 10.15 on Tuesday 24 November Anna is in a meeting: her state is exactly
    "redirected" (reason meeting, back 11.30); at 12.00 exactly "available"."""
    cfg = config(ALV)
    anna = cfg.directory.user("anna.andersson")
    assert anna is not None
    for at, expected in (
        ("2026-11-24T10:15", ("redirected", "meeting", "2026-11-24T11:30:00+01:00")),
        ("2026-11-24T12:00", ("available", None, None)),
    ):
        now = datetime.fromisoformat(at).replace(tzinfo=cfg.org.timezone)
        state = effective_state(cfg.org, presence_at(cfg, now).users, {})
        row = user_state(anna, state, now, cfg.org.timezone)
        assert (row["state"], row["reason"], row["returns"]) == expected


def test_alv27_on_call_group_with_nobody_while_medborgarservice_is_closed() -> None:
    """ALV-27 / HAL-05: on Christmas Day Socialjouren is open but both members are away; the
    call cannot be passed to a closed Medborgarservice, so the caller hears when it opens."""
    cfg = config(ALV)
    start = datetime(2026, 12, 25, tzinfo=cfg.org.timezone)
    end = datetime(2026, 12, 25, 23, 59, tzinfo=cfg.org.timezone)
    away = [CalendarBlock(start, end, BusyStatus.OOF, "Ledig")]
    book = PresenceBook(
        {u: build_user_presence(u, away, cfg.rules) for u in ("david.dahl", "eva.ek")}
    )
    now = datetime(2026, 12, 25, 10, tzinfo=cfg.org.timezone)
    d = decide(Call("026-830 60"), cfg.directory, book, cfg.policy, now)
    assert (d.action, d.reason, d.next, d.target) == (
        Action.REDIRECT,
        "no_member_available",
        None,
        None,
    )
    assert d.message is not None and d.message.startswith(
        "Ingen kan ta ditt samtal just nu. "
        "Medborgarservice har stängt just nu och öppnar igen måndag klockan 8.00."
    )
