"""One simulated day: the heap of arrivals and releases, who is busy, and how each call ends.

`simulation.engine` draws the day's callers and runs one `SimulatedDay` per date. Here every
arrival is decided by `routing.decide` against the day's effective state, and the decision is
played out against the people, groups, shared phones and contact-centre lines: an answered call
keeps the line busy until its release event; an unanswered one may leave a voicemail (HAL-03).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from datetime import datetime

from routing.absence import PresenceBook
from routing.effective import effective_state
from routing.models import Action, Call, Group, Organisation, RouteDecision, SharedPhone, User
from simulation.models import Arrival, Outcome, Scenario, SimCall, Target
from simulation.spool import SpoolWriter, VoicemailMessage

GREETING_S = 10  # greeting and absence message before the beep
_RELEASE, _ARRIVAL = 0, 1  # at equal instants a line is freed before the next call arrives


def _national(e164: str | None) -> str:
    if not e164:
        return ""
    return "0" + e164[3:] if e164.startswith("+46") else e164.lstrip("+")


class SimulatedDay:
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
