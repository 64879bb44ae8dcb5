"""Typed, frozen models of an organisation: directory, policy, hours, calls and decisions.

Absences (calendar blocks, redirects, presence) are in `routing.absence`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from routing.absence import BusyStatus


class NumberKind(StrEnum):
    """What a number is, seen from the organisation (NUM-01)."""

    USER_EXTENSION = "user_extension"
    USER_MOBILE = "user_mobile"
    SHARED_PHONE = "shared_phone"
    GROUP = "group"
    SWITCHBOARD = "switchboard"
    INTERNAL_UNASSIGNED = "internal_unassigned"
    EXTERNAL_FIXED = "external_fixed"
    EXTERNAL_MOBILE = "external_mobile"
    INTERNATIONAL = "international"
    PREMIUM_RATE = "premium_rate"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Hours:
    """Days of the week (0 = Monday) and a daily opening interval in local time."""

    days: frozenset[int]
    start: time
    end: time

    def contains(self, local: datetime) -> bool:
        """True when the local wall-clock time falls inside these hours."""
        return local.weekday() in self.days and self.start <= local.time() < self.end

    def describe(self) -> str:
        """Swedish wording of the hours, e.g. 'tisdag och torsdag klockan 9.00–11.00'."""
        names = ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag")
        days = sorted(self.days)
        if days == [0, 1, 2, 3, 4]:
            day_text = "måndag till fredag"
        elif len(days) == 1:
            day_text = names[days[0]]
        else:
            day_text = ", ".join(names[d] for d in days[:-1]) + " och " + names[days[-1]]
        return f"{day_text} klockan {_clock(self.start)}–{_clock(self.end)}"


def hours_of(parts: tuple[frozenset[int], time, time] | None) -> Hours | None:
    """Hours from what `storage.yamlcheck.Checker.weekly_hours` read (None stays None)."""
    return Hours(*parts) if parts is not None else None


def _clock(t: time) -> str:
    return f"{t.hour}.{t.minute:02d}"


@dataclass(frozen=True, slots=True)
class NumberingPlan:
    """The organisation's own number series, e.g. '026-83X XX' (X = any digit)."""

    country_code: str  # "46"
    series: tuple[tuple[str, str], ...]  # (national area digits without 0, local pattern)

    def patterns_e164(self) -> tuple[str, ...]:
        """Each series as an E.164 pattern with X wildcards, e.g. '+462683XXX'."""
        return tuple(f"+{self.country_code}{area}{local}" for area, local in self.series)


@dataclass(frozen=True, slots=True)
class Policy:
    """Organisation-wide routing policy (HV-01, ALV-19, HAL-09)."""

    timezone: ZoneInfo
    redirect_on: frozenset[BusyStatus] = frozenset({BusyStatus.BUSY, BusyStatus.OOF})
    international_calls: Literal["blocked", "allowed"] = "blocked"
    premium_rate: Literal["blocked", "allowed"] = "blocked"
    voicemail_extension_users: bool = True  # ALV-12 global switch
    holidays: frozenset[date] = frozenset()  # HAL-15: closed unless a group is open on them
    contact_centre: ContactCentre | None = None  # ALV-27: Medborgarservice's own hours
    # HAL-16: "mobile" (a mobile-based switchboard): the personal mobile follows the calendar
    personal_subscription: Literal["extension", "mobile"] = "extension"


@dataclass(frozen=True, slots=True)
class ContactCentre:
    """Medborgarservice / kontaktcenter (ALV-27): opening hours, own closed days, message."""

    name: str = "Medborgarservice"
    opening_hours: Hours | None = None  # None: always open
    closed_days: frozenset[date] = frozenset()  # its own, besides the organisation's holidays
    open_on_holidays: bool = False
    out_of_hours_message: str | None = None  # said after the generated "opens again" sentence
    groups: tuple[str, ...] = ()  # group ids that are the contact centre (never covering, HAL-03)


@dataclass(frozen=True, slots=True)
class CalendarRef:
    """Where a user's calendar comes from: kind is ics, ics_url, exchange, graph or caldav."""

    kind: Literal["ics", "ics_url", "exchange", "graph", "caldav"]
    location: str  # absolute file path, URL, mailbox address, Graph user id or CalDAV collection


@dataclass(frozen=True, slots=True)
class User:
    """A personal subscription (HAL-10). The personal identity number is never shown."""

    id: str
    name: str
    extension: str | None  # E.164
    mobile: str | None  # E.164
    title: str = ""
    email: str = ""
    unit: str = ""
    calendar: CalendarRef | None = None
    mobile_follows_calendar: bool = False  # ALV-05
    voicemail: bool = False  # ALV-10: off unless enabled
    covering: str | None = None  # covering point (passningsställe): user or group id
    personal_id: str | None = field(default=None, repr=False)  # HAL-10: stored, never shown
    keywords: tuple[str, ...] = ()
    mailbox: str | None = None  # app_voicemail mailbox id, e.g. "83012"
    pin: str | None = field(default=None, repr=False)
    blocked: bool = False  # ALV-21 spärrad subscription
    international_unlocked: bool = False  # ALV-19
    premium_unlocked: bool = False  # HAL-09
    redirect_enabled: bool = True  # HAL-01
    delegates: tuple[str, ...] = ()  # may listen to the mailbox (ALV-13/14)
    manager: str | None = None
    cost_centre: str = ""
    visiting_address: str = ""

    def public(self) -> dict[str, object]:
        """The fields that may be shown to anyone (never the personal identity number)."""
        return {
            "id": self.id,
            "name": self.name,
            "title": self.title,
            "email": self.email,
            "unit": self.unit,
            "extension": self.extension,
            "keywords": list(self.keywords),
        }


@dataclass(frozen=True, slots=True)
class Group:
    """A group or contact-centre number (non-personal), optionally with telephone hours."""

    id: str
    designation: str
    number: str  # E.164
    members: tuple[str, ...] = ()
    telephone_hours: Hours | None = None
    unit: str = ""
    on_call: bool = False  # jour number (HAL-05)
    open_on_holidays: bool = False  # HAL-15: telephone hours also on the organisation's holidays
    email: str = ""  # HAL-10: a non-personal subscription holds these too
    cost_centre: str = ""
    visiting_address: str = ""
    keywords: tuple[str, ...] = ()

    def public(self) -> dict[str, object]:
        """The phone book's fields (HAL-06), marked as a group."""
        return _non_personal(self, "group", self.number)


@dataclass(frozen=True, slots=True)
class SharedPhone:
    """A phone that belongs to a unit, not a person (ALV-22)."""

    id: str
    designation: str
    mobile: str  # E.164
    unit: str = ""
    blocked: bool = False
    email: str = ""  # HAL-10: a non-personal subscription holds these too
    cost_centre: str = ""
    visiting_address: str = ""
    keywords: tuple[str, ...] = ()

    def public(self) -> dict[str, object]:
        """The phone book's fields (HAL-06), marked as a shared phone."""
        return _non_personal(self, "shared_phone", self.mobile)


def _non_personal(entry: Group | SharedPhone, kind: str, number: str) -> dict[str, object]:
    """A non-personal subscription as the phone book shows it: a designation, never a name."""
    return {
        "id": entry.id,
        "kind": kind,
        "designation": entry.designation,
        "number": number,
        "unit": entry.unit,
        "email": entry.email,
        "visiting_address": entry.visiting_address,
        "keywords": list(entry.keywords),
    }


Entry = User | Group | SharedPhone


@dataclass(frozen=True, slots=True)
class NumberEntry:
    """What a directory number points at."""

    kind: NumberKind
    owner_id: str | None


@dataclass(frozen=True, slots=True)
class Directory:
    """Users, groups and shared phones with their numbers indexed by E.164."""

    users: tuple[User, ...]
    groups: tuple[Group, ...] = ()
    shared_phones: tuple[SharedPhone, ...] = ()
    switchboard: str | None = None  # E.164 of Medborgarservice
    plan: NumberingPlan = field(default_factory=lambda: NumberingPlan("46", ()))
    by_number: Mapping[str, NumberEntry] = field(default_factory=dict)
    by_id: Mapping[str, Entry] = field(default_factory=dict)
    # What routing.decide works out once per policy (by id of the policy), filled lazily on a
    # number's first call; no part of the directory's value (not compared, shown or copied).
    # Its values are routing.decision_table.DecisionTable (typed there: models does not import it).
    decision_tables: dict[int, object] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    @classmethod
    def build(
        cls,
        users: tuple[User, ...],
        groups: tuple[Group, ...] = (),
        shared_phones: tuple[SharedPhone, ...] = (),
        switchboard: str | None = None,
        plan: NumberingPlan | None = None,
    ) -> Directory:
        """Index every number and id once, at load, so a call decision is a dict lookup."""
        by_number: dict[str, NumberEntry] = {}
        by_id: dict[str, Entry] = {}
        for u in users:
            by_id[u.id] = u
            if u.extension:
                by_number[u.extension] = NumberEntry(NumberKind.USER_EXTENSION, u.id)
            if u.mobile:
                by_number[u.mobile] = NumberEntry(NumberKind.USER_MOBILE, u.id)
        for g in groups:
            by_id[g.id] = g
            by_number[g.number] = NumberEntry(NumberKind.GROUP, g.id)
        for s in shared_phones:
            by_id[s.id] = s
            by_number[s.mobile] = NumberEntry(NumberKind.SHARED_PHONE, s.id)
        if switchboard:
            by_number[switchboard] = NumberEntry(NumberKind.SWITCHBOARD, None)
        return cls(
            users,
            groups,
            shared_phones,
            switchboard,
            plan or NumberingPlan("46", ()),
            by_number,
            by_id,
        )

    def user(self, user_id: str) -> User | None:
        """The user with this id, or None."""
        entry = self.by_id.get(user_id)
        return entry if isinstance(entry, User) else None

    def group(self, group_id: str) -> Group | None:
        """The group with this id, or None."""
        entry = self.by_id.get(group_id)
        return entry if isinstance(entry, Group) else None


@dataclass(frozen=True, slots=True)
class Call:
    """An inbound or outbound call to decide: the dialled number as written, and the caller."""

    to: str
    caller: str | None = None
    call_id: str | None = None


class Action(StrEnum):
    """What the telephone platform is told to do with a call."""

    RING = "ring"
    REDIRECT = "redirect"
    VOICEMAIL = "voicemail"
    TRANSFER = "transfer"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """The outcome of `decide`: what to do, what the caller hears, and where to go next."""

    called: str | None  # E.164
    number_kind: NumberKind
    action: Action
    user: str | None = None  # user id
    message: str | None = None  # Swedish text the caller hears
    prompts: tuple[str, ...] = ()  # message as fragments a platform can play
    reason: str | None = None
    until: datetime | None = None
    next: Literal["voicemail", "transfer"] | None = None
    target: str | None = None  # E.164 to ring / forward to
    ring: tuple[str, ...] = ()  # E.164 numbers to ring (groups ring several)
    owner: str | None = None  # group / shared phone id

    def as_json(self) -> dict[str, object]:
        """The JSON object printed by `switchboard route`."""
        return {
            "called": self.called,
            "number_kind": self.number_kind.value,
            "user": self.user,
            "owner": self.owner,
            "action": self.action.value,
            "message": self.message,
            "prompts": list(self.prompts),
            "reason": self.reason,
            "until": self.until.isoformat() if self.until else None,
            "next": self.next,
            "target": self.target,
            "ring": list(self.ring),
        }


@dataclass(frozen=True, slots=True)
class Organisation:
    """An organisation as loaded from its folder: identity, plan, hours, policy, directory."""

    id: str  # short id, the folder's name
    name: str
    code: str  # registration-number prefix, e.g. "ALV"
    folder: str
    timezone: ZoneInfo
    plan: NumberingPlan
    switchboard: str  # E.164
    working_hours: Hours
    holidays: frozenset[date]
    policy: Policy
    directory: Directory
    data_dir: str
    voicemail_context: str = "default"
