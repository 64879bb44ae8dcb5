"""Typed, frozen models of a simulation: the scenario, its variants, one simulated call, a run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum

from routing.models import Hours

# Kinds of called number a scenario can send calls to, in the order calls are generated.
CALL_KINDS: tuple[str, ...] = ("extension", "mobile", "group", "shared_phone", "switchboard")
# The unit a call to the switchboard number is counted under.
SWITCHBOARD_UNIT = "Switchboard"


class Outcome(StrEnum):
    """How a simulated call ends, in HAL-03's terms."""

    PERSONAL_ANSWER = "personal_answer"
    COVERING_POINT = "covering_point"  # forwarded to a passningsställe (never the contact centre)
    REDIRECT_MESSAGE = "redirect_message"  # heard a hänvisning (who, why, back when)
    VOICEMAIL = "voicemail"
    CONTACT_CENTRE = "contact_centre"  # passed on to Medborgarservice: not a covering point
    NO_ANSWER = "no_answer"  # rang out, or every line busy, and nowhere to go
    OUTSIDE_TELEPHONE_HOURS = "outside_telephone_hours"  # told to call again in the hours
    REJECTED = "rejected"  # invalid or barred number

    @property
    def answered(self) -> bool:
        """HAL-03: personal answer, covering point, redirection message or voicemail."""
        return self in ANSWERED


ANSWERED: frozenset[Outcome] = frozenset(
    {Outcome.PERSONAL_ANSWER, Outcome.COVERING_POINT, Outcome.REDIRECT_MESSAGE, Outcome.VOICEMAIL}
)

OUTCOME_LABELS: Mapping[Outcome, str] = {
    Outcome.PERSONAL_ANSWER: "Personal answer",
    Outcome.COVERING_POINT: "Forwarded to a covering point",
    Outcome.REDIRECT_MESSAGE: "Redirection message",
    Outcome.VOICEMAIL: "Voicemail",
    Outcome.CONTACT_CENTRE: "Passed on to the contact centre",
    Outcome.NO_ANSWER: "No answer, nowhere to go",
    Outcome.OUTSIDE_TELEPHONE_HOURS: "Outside telephone hours",
    Outcome.REJECTED: "Rejected",
}


@dataclass(frozen=True, slots=True)
class SwitchboardModel:
    """The contact centre as the simulation sees it: lines staffed and how often they answer."""

    agents: int = 2
    answer_probability: float = 0.95


@dataclass(frozen=True, slots=True)
class Variant:
    """One alternative configuration for compare mode; None keeps the base setting."""

    name: str
    voicemail: bool | None = None  # everyone's mailbox on, or every mailbox off
    mobile_follows_calendar: bool | None = None  # ALV-05 for everyone
    telephone_hours: Mapping[str, Hours | None] = field(default_factory=dict)  # group id → hours
    answer_probability: float | None = None
    folder: str | None = None  # another organisation folder (absolute path)

    def changes(self) -> list[str]:
        """The changes against the base, in words."""
        out: list[str] = []
        if self.folder is not None:
            out.append(f"organisation folder {self.folder}")
        if self.voicemail is not None:
            out.append(f"voicemail {'on' if self.voicemail else 'off'} for everyone")
        if self.mobile_follows_calendar is not None:
            state = "on" if self.mobile_follows_calendar else "off"
            out.append(f"mobile follows calendar {state} for everyone")
        for group_id, hours in sorted(self.telephone_hours.items()):
            text = hours.describe() if hours is not None else "none (always open)"
            out.append(f"telephone hours of {group_id}: {text}")
        if self.answer_probability is not None:
            out.append(f"answer probability {self.answer_probability:g}")
        return out


@dataclass(frozen=True, slots=True)
class Scenario:
    """A day (or days) of calls to simulate; loaded from scenario YAML by `load_scenario`."""

    dates: tuple[date, ...]
    arrivals: Mapping[str, Mapping[int, float]]  # kind → local hour → calls per hour
    seed: int = 1
    name: str = "scenario"
    answer_probability: float = 0.8  # an available person picks up
    answer_probability_in_meeting: float = 0.3  # a mobile ringing through during a busy block
    ring_timeout_s: float = 25.0
    talk_time_s: float = 180.0  # mean, exponential
    voicemail_leave_probability: float = 1.0
    voicemail_message_s: float = 20.0  # mean length of a message left
    switchboard: SwitchboardModel = SwitchboardModel()
    contact_centre_groups: tuple[str, ...] | None = None  # None: by designation
    spool: str | None = None  # write voicemail into this app_voicemail spool
    variants: tuple[Variant, ...] = ()

    def with_seed(self, seed: int) -> Scenario:
        """The same scenario with another seed."""
        return _replace(self, seed=seed)

    def with_spool(self, spool: str | None) -> Scenario:
        """The same scenario writing voicemail to `spool` (None: no writing)."""
        return _replace(self, spool=spool)

    def with_answer_probability(self, p: float) -> Scenario:
        """The same scenario with another answer probability."""
        return _replace(self, answer_probability=p)


def _replace(s: Scenario, **changes: object) -> Scenario:
    return replace(s, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Arrival:
    """A call before it is decided, with every random draw it will need (common random numbers:
    every variant sees the same callers at the same instants making the same choices)."""

    at: float  # epoch seconds
    kind: str
    pick: float  # which number of the kind
    answer: float  # does the person pick up
    member: float  # which group member / agent
    ring_s: float  # seconds before an answer
    talk_s: float
    leave: float  # does the caller leave a message
    message_s: int
    caller: str  # calling number, national form


@dataclass(frozen=True, slots=True)
class SimCall:
    """One simulated call and how it ended."""

    id: str
    at: datetime  # local time
    kind: str
    called: str | None  # E.164
    target_id: str | None  # user, group or shared phone id
    unit: str
    outcome: Outcome
    why: str
    answered_by: str | None = None
    mailbox: str | None = None
    voicemail_left: bool = False

    @property
    def answered(self) -> bool:
        """HAL-03 answered."""
        return self.outcome.answered


@dataclass(frozen=True, slots=True)
class CoverageWarning:
    """HAL-05: a group or on-call number with nobody available during its hours."""

    group: str
    designation: str
    on_call: bool
    start: datetime  # local
    end: datetime  # local
    members: tuple[str, ...]

    @property
    def minutes(self) -> int:
        """Length of the gap in whole minutes."""
        return int((self.end - self.start).total_seconds() // 60)


@dataclass(frozen=True)
class RunResult:
    """Everything one run produced: the calls in time order and the coverage warnings."""

    organisation: str
    scenario: str
    seed: int
    dates: tuple[date, ...]
    calls: tuple[SimCall, ...]
    coverage: tuple[CoverageWarning, ...]
    voicemails_written: int = 0
    spool: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """A number calls of one kind can be sent to."""

    number: str
    owner: str | None
    unit: str
