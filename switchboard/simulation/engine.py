"""The day simulation: a discrete-event run on a virtual clock over the real routing decision.

Arrivals are drawn per day and kind (a Poisson process per hour); each call carries all its
random draws, so variants of a configuration meet the very same callers. Events live in a heap
ordered by virtual time: an arrival is decided by `routing.decide.decide` against the presence
built from the calendars for that day, and an answered call keeps the person (or contact-centre
line) busy until its release event. Nothing sleeps and nothing reads the wall clock.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from routing.decide import is_available
from routing.effective import effective_state
from routing.models import (
    Action,
    Call,
    ContactCentre,
    Directory,
    Group,
    Organisation,
    PresenceBook,
    RouteDecision,
    SharedPhone,
    User,
)
from switchboard.config_policy import is_contact_centre
from switchboard.simulation.models import (
    CALL_KINDS,
    Arrival,
    CoverageWarning,
    Outcome,
    RunResult,
    Scenario,
    SimCall,
)
from switchboard.simulation.spool import SpoolWriter, VoicemailMessage

PresenceFor = Callable[[date], PresenceBook]
Progress = Callable[[int, int], None]

GREETING_S = 10  # greeting and absence message before the beep
_RELEASE, _ARRIVAL = 0, 1  # at equal instants a line is freed before the next call arrives


@dataclass(frozen=True, slots=True)
class Target:
    """A number calls of one kind can be sent to."""

    number: str
    owner: str | None
    unit: str


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


SWITCHBOARD_UNIT = "Switchboard"


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


def _national(e164: str | None) -> str:
    if not e164:
        return ""
    return "0" + e164[3:] if e164.startswith("+46") else e164.lstrip("+")


class _Day:
    """One simulated day: the heap, who is busy, and the decisions."""

    def __init__(
        self,
        scenario: Scenario,
        org: Organisation,
        presence: PresenceBook,
        targets: Mapping[str, list[Target]],
        contact_centre: frozenset[str],
        writer: SpoolWriter | None,
        serial: int,
    ) -> None:
        self.s = scenario
        # The day's effective state, combined where every consumer combines it (no manual
        # redirects or switches in a simulated day: the variant's configuration is the input).
        self.state = effective_state(org, presence.users, presence.manual)
        self.org = org
        self.directory = org.directory
        self.tz = org.timezone
        self.targets = targets
        self.contact_centre = contact_centre
        self.writer = writer
        self.serial = serial
        self.busy: set[str] = set()
        self.heap: list[tuple[float, int, int, str]] = []
        self.seq = 0
        self.voicemails = 0

    def _occupy(self, key: str, a: Arrival) -> None:
        self.busy.add(key)
        self.seq += 1
        heapq.heappush(self.heap, (a.at + a.ring_s + a.talk_s, _RELEASE, self.seq, key))

    def run(
        self, arrivals: list[Arrival], first_id: int, progress: Callable[[], None]
    ) -> list[SimCall]:
        """Process arrivals and releases in virtual-time order."""
        for i, a in enumerate(arrivals):
            self.seq += 1
            heapq.heappush(self.heap, (a.at, _ARRIVAL, self.seq, str(i)))
        calls: list[SimCall] = []
        while self.heap:
            _, event, _, key = heapq.heappop(self.heap)
            if event == _RELEASE:
                self.busy.discard(key)
                continue
            a = arrivals[int(key)]
            calls.append(self._call(a, f"c{first_id + len(calls):06d}"))
            progress()
        return calls

    def _call(self, a: Arrival, call_id: str) -> SimCall:
        targets = self.targets[a.kind]
        now = datetime.fromtimestamp(a.at, self.tz)
        if not targets:
            return SimCall(call_id, now, a.kind, None, None, "", Outcome.REJECTED, "no such number")
        target = targets[min(int(a.pick * len(targets)), len(targets) - 1)]
        d = self.state.decide(Call(target.number, a.caller), now)
        outcome, why, answered_by, mailbox = self._outcome(d, a, now)
        left = False
        if (
            outcome is Outcome.VOICEMAIL
            and mailbox is not None
            and a.leave < self.s.voicemail_leave_probability
        ):
            left = True
            self._leave_message(a, mailbox, d, rang=d.action is Action.RING)
        return SimCall(
            call_id,
            now,
            a.kind,
            d.called,
            target.owner,
            target.unit or "(no unit)",
            outcome,
            why,
            answered_by,
            mailbox,
            left,
        )

    def _leave_message(self, a: Arrival, mailbox: str, d: RouteDecision, rang: bool) -> None:
        self.voicemails += 1
        self.serial += 1
        if self.writer is None:
            return
        delay = (self.s.ring_timeout_s if rang else 0.0) + GREETING_S + a.message_s
        self.writer.write(
            VoicemailMessage(
                mailbox=mailbox,
                origtime=int(a.at + delay),
                caller_number=a.caller,
                exten=_national(d.called),
                duration_s=a.message_s,
                serial=self.serial,
            )
        )

    def _mailbox(self, user: User) -> str:
        return user.mailbox or _national(user.extension or user.mobile).lstrip("0")

    def _outcome(
        self, d: RouteDecision, a: Arrival, now: datetime
    ) -> tuple[Outcome, str, str | None, str | None]:
        """HAL-03: how the decided call ends, why, who answered, and which mailbox took it."""
        user = self.directory.user(d.user) if d.user else None
        if d.action is Action.REJECT:
            return Outcome.REJECTED, f"rejected: {d.reason or 'barred'}", None, None
        if d.action is Action.RING:
            if user is not None:
                return self._ring_user(d, user, a, now)
            owner = self.directory.by_id.get(d.owner) if d.owner else None
            if isinstance(owner, Group):
                return self._ring_group(owner, d, a)
            if isinstance(owner, SharedPhone):
                if owner.id not in self.busy and a.answer < self.s.answer_probability:
                    self._occupy(owner.id, a)
                    return Outcome.PERSONAL_ANSWER, "answered", owner.id, None
                why = "line busy" if owner.id in self.busy else "rang out"
                return Outcome.NO_ANSWER, f"{owner.designation}: {why}, nowhere to go", None, None
            if d.called is not None and d.called == self.directory.switchboard:
                return self._ring_switchboard(a)
            return Outcome.PERSONAL_ANSWER, "answered outside the organisation", None, None
        if d.action is Action.VOICEMAIL and user is not None:
            return (
                Outcome.VOICEMAIL,
                f"{d.reason}: straight to voicemail",
                None,
                self._mailbox(user),
            )
        if d.action is Action.REDIRECT:
            if user is None and d.reason == "no_member_available":  # and nobody to pass it on to
                return Outcome.NO_ANSWER, d.message or "nobody available", None, None
            if user is None:  # a group outside its telephone hours (ALV-08), a closed centre
                return (
                    Outcome.OUTSIDE_TELEPHONE_HOURS,
                    d.message or "outside telephone hours",
                    None,
                    None,
                )
            if d.next == "voicemail":
                why = f"redirected ({d.reason}), then voicemail"
                return Outcome.VOICEMAIL, why, None, self._mailbox(user)
            if d.next is None and d.target and d.target not in self.contact_centre:
                covering = self.directory.by_number.get(d.target)
                if (
                    covering is not None
                    and covering.owner_id
                    and covering.owner_id not in self.busy
                ):
                    self._occupy(covering.owner_id, a)
                return Outcome.COVERING_POINT, f"redirected ({d.reason}) to {d.target}", None, None
            return (
                Outcome.REDIRECT_MESSAGE,
                f"heard the redirection message ({d.reason})",
                None,
                None,
            )
        # TRANSFER: a blocked subscription, a group with nobody available, an unassigned number
        who = self._name(d)
        if d.target and d.target in self.contact_centre:
            return (
                Outcome.CONTACT_CENTRE,
                f"{who}: {d.reason}; passed on to the contact centre",
                None,
                None,
            )
        return Outcome.NO_ANSWER, f"{who}: {d.reason}; nowhere to go", None, None

    def _name(self, d: RouteDecision) -> str:
        entry = self.directory.by_id.get(d.user or d.owner or "")
        if isinstance(entry, User):
            return entry.name
        if entry is not None:
            return entry.designation
        return d.called or "unknown number"

    def _ring_user(
        self, d: RouteDecision, user: User, a: Arrival, now: datetime
    ) -> tuple[Outcome, str, str | None, str | None]:
        p = self.s.answer_probability
        if self.state.redirect_at(user, now) is not None:
            # ALV-04: a mobile rings straight through even during a busy block
            p = self.s.answer_probability_in_meeting
        on_call = user.id in self.busy
        if not on_call and a.answer < p:
            self._occupy(user.id, a)
            return Outcome.PERSONAL_ANSWER, "answered", user.id, None
        why = "busy on another call" if on_call else f"no answer in {self.s.ring_timeout_s:g} s"
        if d.next == "voicemail":
            return Outcome.VOICEMAIL, f"{why}, then voicemail", None, self._mailbox(user)
        if (
            d.next == "transfer" and self.directory.switchboard
        ):  # RING: unanswered → Medborgarservice
            why = f"{user.name}: {why}, no voicemail; passed on to the contact centre"
            return Outcome.CONTACT_CENTRE, why, None, None
        return Outcome.NO_ANSWER, f"{user.name}: {why}, no voicemail, nowhere to go", None, None

    def _ring_group(
        self, group: Group, d: RouteDecision, a: Arrival
    ) -> tuple[Outcome, str, str | None, str | None]:
        by_ext = {
            self.directory.by_number[n].owner_id: n for n in d.ring if n in self.directory.by_number
        }
        free = [uid for uid in by_ext if uid is not None and uid not in self.busy]
        p_any = 1.0 - (1.0 - self.s.answer_probability) ** len(free)
        if free and a.answer < p_any:
            member = free[min(int(a.member * len(free)), len(free) - 1)]
            self._occupy(member, a)
            return Outcome.PERSONAL_ANSWER, f"answered in {group.designation}", member, None
        why = (
            "every member busy on a call"
            if not free
            else f"no answer in {self.s.ring_timeout_s:g} s"
        )
        return Outcome.NO_ANSWER, f"{group.designation}: {why}, nowhere to go", None, None

    def _ring_switchboard(self, a: Arrival) -> tuple[Outcome, str, str | None, str | None]:
        lines = self.s.switchboard.agents
        free = [f"switchboard:{i}" for i in range(lines) if f"switchboard:{i}" not in self.busy]
        if free and a.answer < self.s.switchboard.answer_probability:
            line = free[0]
            self._occupy(line, a)
            return Outcome.PERSONAL_ANSWER, "answered by the contact centre", line, None
        why = "every contact-centre line busy" if not free else "contact centre did not answer"
        return Outcome.NO_ANSWER, why, None, None


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
        run = _Day(scenario, org, presence, targets, contact_centre, writer, serial)
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
