"""The sample organisations stay alive at any date: their Outlook calendars recur without end, so a
newcomer running `switchboard presence` years from now still sees redirected colleagues, a private
meeting, a sick day and a group outside its hours. Every moment is an explicit --at, never today."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import icalendar
import pytest

from switchboard.cli import main
from switchboard.config import load_config
from tests.conftest import ROOT


@dataclass(frozen=True)
class Sample:
    """What a newcomer should find in one sample organisation, and who carries it."""

    folder: Path
    sick: str  # a weekly all-day "Sjuk" series
    private: str  # a weekly CLASS:PRIVATE "Tandläkare" and the yearly "Semester"
    group_number: str  # a group with telephone hours in directory.yaml


SAMPLES = {
    "alvkarleby": Sample(
        ROOT / "config" / "alvkarleby", "david.dahl", "anna.andersson", "026-830 50"
    ),
    "hallsberg": Sample(
        ROOT / "config" / "hallsberg", "per.persson", "maria.magnusson", "0582-686 50"
    ),
}
# Tuesdays of ordinary weeks long after the samples' November 2026 (no holidays, no Semester week)
TUESDAYS = (date(2027, 2, 9), date(2029, 9, 18), date(2031, 3, 11))
CASES = [(org, day) for org in SAMPLES for day in TUESDAYS]
IDS = [f"{org}-{day.year}" for org, day in CASES]


@functools.cache
def presence(org: str, at: str) -> tuple[dict[str, Any], ...]:
    """`switchboard presence DIR --at AT`, in-process (cached: the same moment is asked twice)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["presence", str(SAMPLES[org].folder), "--at", at]) == 0
    return tuple(json.loads(line) for line in out.getvalue().splitlines())


def week(tuesday: date) -> list[str]:
    """The moments looked at in one week: Tuesday to Thursday at 09:30, 10:00 and 14:00."""
    days = [tuesday + timedelta(days=n) for n in range(3)]
    return [f"{day.isoformat()}T{clock}" for day in days for clock in ("09:30", "10:00", "14:00")]


@pytest.mark.parametrize(("org", "tuesday"), CASES, ids=IDS)
@pytest.mark.parametrize("offset", [0, 2], ids=["tuesday", "thursday"])
def test_colleagues_redirected_at_pinned_moments_years_ahead(
    org: str, tuesday: date, offset: int
) -> None:
    """At 10:00 and 14:00 on a Tuesday and a Thursday in 2027, 2029 and 2031 someone's
    calendar redirects their extension."""
    day = (tuesday + timedelta(days=offset)).isoformat()
    for clock in ("10:00", "14:00"):
        lines = presence(org, f"{day}T{clock}")
        assert len(lines) == len(load_config(SAMPLES[org].folder).directory.users)
        redirected = [s for s in lines if s["state"] == "redirected" and s["calendar"] == "ok"]
        assert redirected, f"{org}: nobody redirected at {day}T{clock}"
        assert all(s["message"] for s in redirected)


@pytest.mark.parametrize(("org", "tuesday"), CASES, ids=IDS)
def test_private_meeting_and_sick_day_in_every_week_years_ahead(org: str, tuesday: date) -> None:
    """HV-04 in a far week: a private meeting is only 'busy' (its subject never shown) and the
    sick day is told neutrally as 'away', never as sickness."""
    sample = SAMPLES[org]
    seen = [s for at in week(tuesday) for s in presence(org, at)]
    private = [s for s in seen if s["user"] == sample.private and s["reason"] == "busy"]
    assert private, f"{org}: no private meeting in the week of {tuesday}"
    assert all("upptagen" in s["message"] for s in private)
    sick = [s for s in seen if s["user"] == sample.sick and s["state"] == "redirected"]
    assert sick, f"{org}: no sick day in the week of {tuesday}"
    assert {s["reason"] for s in sick} == {"away"}
    for s in seen:
        text = json.dumps(s, ensure_ascii=False).casefold()
        assert "tandläkare" not in text and "sjuk" not in text


@pytest.mark.parametrize(("org", "tuesday"), CASES, ids=IDS)
def test_group_outside_its_telephone_hours_in_the_evening(
    org: str, tuesday: date, capsys: pytest.CaptureFixture[str]
) -> None:
    """`switchboard route` to a group number on a Tuesday evening years ahead: outside hours."""
    sample = SAMPLES[org]
    evening = f"{tuesday.isoformat()}T19:00"
    assert main(["route", str(sample.folder), "--to", sample.group_number, "--at", evening]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["number_kind"] == "group" and out["reason"] == "outside_telephone_hours"
    assert out["at"].startswith(evening) and "telefontid" in out["message"]


@pytest.mark.parametrize("org", SAMPLES)
@pytest.mark.parametrize("year", [2027, 2029, 2031])
def test_semester_week_comes_back_every_year(org: str, year: int) -> None:
    """The yearly Semester (from the last Monday of November) is there again, returning the
    Monday after."""
    sample = SAMPLES[org]
    monday = date(year, 11, 30)
    while monday.weekday() != 0:
        monday -= timedelta(days=1)
    tuesday = (monday + timedelta(days=1)).isoformat()
    state = next(s for s in presence(org, f"{tuesday}T10:00") if s["user"] == sample.private)
    assert state["reason"] == "vacation" and "semester" in state["message"]
    returns = datetime.fromisoformat(state["returns"])
    assert returns.date() == monday + timedelta(days=7) and returns.weekday() == 0


def test_presence_command_in_2031_as_a_newcomer_runs_it() -> None:
    """`python3 -m switchboard presence config/alvkarleby --at 2031-03-11T10:00` shows
    redirected colleagues, every calendar readable."""
    args = ["presence", "config/alvkarleby", "--at", "2031-03-11T10:00"]
    r = subprocess.run(
        [sys.executable, "-m", "switchboard", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
        },
    )
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(lines) == 12
    assert sum(x["state"] == "redirected" for x in lines) >= 3
    assert {x["calendar"] for x in lines} == {"ok", "none"}


@pytest.mark.parametrize("org", SAMPLES)
def test_every_sample_event_recurs_without_end(org: str) -> None:
    """No sample VEVENT is a one-off or a series with UNTIL/COUNT (it would die out); the only
    exceptions are Outlook's moved occurrences, which carry RECURRENCE-ID."""
    for path in sorted((SAMPLES[org].folder / "calendars").glob("*.ics")):
        calendar = icalendar.Calendar.from_ical(path.read_bytes())
        for event in calendar.walk("VEVENT"):
            where = f"{path.name}: {event.get('SUMMARY')}"
            if "RECURRENCE-ID" in event:
                continue
            assert "RRULE" in event, f"{where} does not recur"
            rule = cast("dict[str, object]", event["RRULE"])  # icalendar's vRecur is a dict
            assert not {"UNTIL", "COUNT"} & rule.keys(), f"{where} ends: {rule}"
