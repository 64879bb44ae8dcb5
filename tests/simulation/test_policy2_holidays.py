"""Issue 19, the simulation on a holiday (HAL-15, HAL-05, ALV-27): the sample Älvkarleby on
Christmas Eve, 24 December 2026 (a Thursday and a configured holiday)."""

from __future__ import annotations

from datetime import date, datetime

from routing.absence import BusyStatus, CalendarBlock, PresenceBook
from routing.presence import build_user_presence
from simulation.engine import coverage_gaps, simulate
from simulation.models import Outcome
from simulation.report import build_report
from switchboard.config import Config, load_config
from tests.conftest import ROOT
from tests.simulation.helpers import arrival, pick, scenario

EVE = date(2026, 12, 24)


def sample() -> Config:
    """The Älvkarleby sample."""
    return load_config(ROOT / "config" / "alvkarleby")


def at(cfg: Config, hour: int, minute: int = 0) -> datetime:
    """A local time on Christmas Eve."""
    return datetime(EVE.year, EVE.month, EVE.day, hour, minute, tzinfo=cfg.org.timezone)


def away(cfg: Config, *user_ids: str) -> PresenceBook:
    """These users on leave the whole of Christmas Eve."""
    start, end = at(cfg, 0), at(cfg, 23, 59)
    return PresenceBook(
        {
            uid: build_user_presence(
                uid, [CalendarBlock(start, end, BusyStatus.OOF, "Ledig")], cfg.rules
            )
            for uid in user_ids
        }
    )


def test_hal15_hal05_holiday_checks_open_groups_and_spares_closed_ones() -> None:
    """HAL-05 / HAL-15: on a holiday Socialjouren (on call, open on holidays) is warned when
    both members are away; Bygglov (closed on holidays) is not, though nobody covers it."""
    cfg = sample()
    presence = away(cfg, "david.dahl", "eva.ek", "anna.andersson", "bertil.berg")
    warnings = coverage_gaps(cfg.org, presence, EVE)
    assert [(w.group, w.on_call, w.start, w.end) for w in warnings] == [
        ("socialjour", True, at(cfg, 8), at(cfg, 16, 30))
    ]
    s = scenario(dates=(EVE,), arrivals={})
    report = build_report(simulate(s, cfg.org, lambda _d: presence), s)
    assert [w["group"] for w in report["coverage_warnings"]] == ["socialjour"]


def test_hal15_alv27_calls_on_a_holiday_meet_closed_numbers() -> None:
    """HAL-15 / ALV-27: on Christmas Eve a call to Bygglov hears the holiday message and one to
    Medborgarservice hears when it opens: neither rings; Socialjouren is answered."""
    cfg = sample()
    groups = len(cfg.directory.groups)
    calls = [
        arrival(at(cfg, 10), "group", pick(0, groups)),  # Bygglov
        arrival(at(cfg, 10, 5), "group", pick(1, groups)),  # Socialjouren
        arrival(at(cfg, 10, 10), "switchboard"),
    ]
    s = scenario(dates=(EVE,))
    result = simulate(s, cfg.org, lambda _d: PresenceBook(), arrivals=lambda _d: calls)
    outcomes = [(c.target_id, c.outcome) for c in result.calls]
    assert outcomes == [
        ("bygglov", Outcome.OUTSIDE_TELEPHONE_HOURS),
        ("socialjour", Outcome.PERSONAL_ANSWER),
        (None, Outcome.OUTSIDE_TELEPHONE_HOURS),
    ]
    assert "helgdag" in result.calls[0].why
    assert "öppnar igen måndag klockan 8.00" in result.calls[2].why
