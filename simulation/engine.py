"""The day simulation: a discrete-event run on a virtual clock over the real routing decision.

Arrivals are drawn per day and kind (a Poisson process per hour); each call carries all its
random draws, so variants of a configuration meet the very same callers. Events live in a heap
ordered by virtual time: an arrival is decided by `routing.decide.decide` against the presence
built from the calendars for that day, and an answered call keeps the person (or contact-centre
line) busy until its release event. Nothing sleeps and nothing reads the wall clock.

This module draws the callers, finds the coverage gaps (HAL-05) and runs the days; one day's
heap and how each call ends are `simulation.day`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from routing.absence import PresenceBook
from routing.contact_centre import is_contact_centre
from routing.decide import is_available
from routing.models import ContactCentre, Directory, Group, Organisation
from simulation.day import SimulatedDay
from simulation.models import (
    CALL_KINDS,
    SWITCHBOARD_UNIT,
    Arrival,
    CoverageWarning,
    RunResult,
    Scenario,
    SimCall,
    Target,
)
from simulation.spool import SpoolWriter

PresenceFor = Callable[[date], PresenceBook]
Progress = Callable[[int, int], None]


def call_targets(directory: Directory) -> dict[str, list[Target]]:
    """The numbers of each kind in the directory, in directory order."""
    targets: dict[str, list[Target]] = {kind: [] for kind in CALL_KINDS}
    for u in directory.users:
        if u.extension:
            targets["extension"].append(Target(u.extension, u.id, u.unit))
        if u.mobile:
            targets["mobile"].append(Target(u.mobile, u.id, u.unit))
    for g in directory.groups:
        targets["group"].append(Target(g.number, g.id, g.unit))
    for s in directory.shared_phones:
        targets["shared_phone"].append(Target(s.mobile, s.id, s.unit))
    if directory.switchboard:
        targets["switchboard"].append(Target(directory.switchboard, None, SWITCHBOARD_UNIT))
    return targets


def contact_centre_numbers(
    directory: Directory, group_ids: Iterable[str] | None, centre: ContactCentre | None = None
) -> frozenset[str]:
    """The switchboard and the contact-centre groups' numbers: never a covering point (HAL-03).
    The scenario's list wins, then organisation.yaml's `contact_centre.groups`, then the name."""
    numbers = {directory.switchboard} if directory.switchboard else set()
    for g in directory.groups:
        if group_ids is not None:
            if g.id in group_ids:
                numbers.add(g.number)
        elif is_contact_centre(g, centre):
            numbers.add(g.number)
    return frozenset(numbers)


def arrivals_for_day(scenario: Scenario, day: date, tz: ZoneInfo) -> list[Arrival]:
    """Every call of one day, sorted by time; the same seed and day give the same calls."""
    out: list[Arrival] = []
    for kind in CALL_KINDS:
        rates = scenario.arrivals.get(kind)
        if not rates:
            continue
        rng = random.Random(f"{scenario.seed}/{day.isoformat()}/{kind}")
        for hour, per_hour in rates.items():
            if per_hour <= 0:
                continue
            t = datetime(day.year, day.month, day.day, hour, tzinfo=tz).timestamp()
            end = t + 3600.0
            rate = per_hour / 3600.0
            while True:
                t += rng.expovariate(rate)
                if t >= end:
                    break
                out.append(
                    Arrival(
                        at=round(t, 3),
                        kind=kind,
                        pick=rng.random(),
                        answer=rng.random(),
                        member=rng.random(),
                        ring_s=rng.uniform(3.0, min(15.0, scenario.ring_timeout_s)),
                        talk_s=rng.expovariate(1.0 / scenario.talk_time_s),
                        leave=rng.random(),
                        message_s=max(
                            1, round(rng.expovariate(1.0 / scenario.voicemail_message_s))
                        ),
                        caller=f"07{rng.randrange(10**8):08d}",
                    )
                )
    out.sort(key=lambda a: (a.at, CALL_KINDS.index(a.kind)))
    return out


def _member_available(
    member_id: str, directory: Directory, presence: PresenceBook, t: datetime
) -> bool:
    user = directory.user(member_id)
    return user is not None and bool(user.extension) and is_available(user, presence, t)


def coverage_gaps(
    org: Organisation, presence: PresenceBook, day: date, holidays: frozenset[date] | None = None
) -> list[CoverageWarning]:
    """HAL-05: stretches of a group's hours (on-call: working hours) with nobody available.
    HAL-15: on a holiday only the groups open on holidays are checked (the others are closed)."""
    tz = org.timezone
    off = org.holidays if holidays is None else holidays
    warnings: list[CoverageWarning] = []
    for g in org.directory.groups:
        hours = g.telephone_hours
        if hours is None:
            if not g.on_call:
                continue
            hours = org.working_hours
        if day.weekday() not in hours.days or (day in off and not g.open_on_holidays):
            continue
        start = datetime.combine(day, hours.start, tzinfo=tz)
        end = datetime.combine(day, hours.end, tzinfo=tz)
        cuts = {start, end}
        for member_id in g.members:
            up = presence.users.get(member_id)
            for r in up.redirects if up else ():
                cuts.update(t for t in (r.start, r.until) if t is not None and start < t < end)
            m = presence.manual.get(member_id)
            if m is not None:
                cuts.update(t for t in (m.set_at, m.until) if t is not None and start < t < end)
        points = sorted(c.astimezone(tz) for c in cuts)
        gap_start: datetime | None = None
        for lo in points[:-1]:
            covered = any(_member_available(m, org.directory, presence, lo) for m in g.members)
            if not covered and gap_start is None:
                gap_start = lo
            elif covered and gap_start is not None:
                warnings.append(_warning(g, gap_start, lo))
                gap_start = None
        if gap_start is not None:
            warnings.append(_warning(g, gap_start, points[-1]))
    return warnings


def _warning(g: Group, start: datetime, end: datetime) -> CoverageWarning:
    return CoverageWarning(g.id, g.designation, g.on_call, start, end, g.members)


def simulate(
    scenario: Scenario,
    org: Organisation,
    presence_for: PresenceFor,
    writer: SpoolWriter | None = None,
    on_progress: Progress | None = None,
    arrivals: Callable[[date], list[Arrival]] | None = None,
) -> RunResult:
    """Run the scenario's days on one organisation, deterministic per seed; `arrivals` overrides."""
    targets = call_targets(org.directory)
    contact_centre = contact_centre_numbers(
        org.directory, scenario.contact_centre_groups, org.policy.contact_centre
    )
    draw = arrivals or (lambda day: arrivals_for_day(scenario, day, org.timezone))
    days = [(day, sorted(draw(day), key=lambda a: a.at)) for day in scenario.dates]
    total = sum(len(a) for _, a in days)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if on_progress is not None and (done % 500 == 0 or done == total):
            on_progress(done, total)

    calls: list[SimCall] = []
    coverage: list[CoverageWarning] = []
    serial = 0
    for day, day_calls in days:
        presence = presence_for(day)
        coverage.extend(coverage_gaps(org, presence, day))
        run = SimulatedDay(scenario, org, presence, targets, contact_centre, writer, serial)
        calls.extend(run.run(day_calls, len(calls) + 1, tick))
        serial = run.serial
    if on_progress is not None and total == 0:
        on_progress(0, 0)
    return RunResult(
        organisation=org.name,
        scenario=scenario.name,
        seed=scenario.seed,
        dates=scenario.dates,
        calls=tuple(calls),
        coverage=tuple(coverage),
        voicemails_written=len(writer.written) if writer else 0,
        spool=str(writer.root) if writer else None,
    )


def day_noon(day: date, tz: ZoneInfo) -> datetime:
    """Noon of a day: the `now` around which a day's presence window is built."""
    return datetime.combine(day, datetime.min.time(), tzinfo=tz) + timedelta(hours=12)
