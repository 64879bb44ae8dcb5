"""Builders for simulation tests: a small organisation in code and calls placed by hand."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from routing.absence import BusyStatus, CalendarBlock, PresenceBook
from routing.models import Directory, Group, Hours, Organisation, Policy, SharedPhone, User
from routing.numbers import make_plan
from routing.presence import PresenceRules, build_user_presence
from simulation.models import Arrival, Scenario

TZ = ZoneInfo("Europe/Stockholm")
PLAN = make_plan(["026-83X XX"])
HOURS = Hours(frozenset(range(5)), time(8, 0), time(16, 30))
RULES = PresenceRules(TZ, HOURS)
DAY = date(2026, 11, 24)  # a Tuesday
SWITCHBOARD = "+462683000"

ANNA = User(
    "anna",
    "Anna Andersson",
    "+462683012",
    "+46701234567",
    unit="Bygg",
    voicemail=True,
    covering="bertil",
    mailbox="83012",
)
BERTIL = User("bertil", "Bertil Berg", "+462683013", "+46701244568", unit="Bygg")
DAVID = User("david", "David Dahl", "+462683015", "+46701264570", unit="Social")
EVA = User("eva", "Eva Ek", "+462683016", None, unit="Social", covering="kontaktcenter")
KARL = User("karl", "Karl Karlsson", "+462683022", None, unit="Fastighet", blocked=True)
BYGGLOV = Group(
    "bygglov",
    "Bygglov",
    "+462683050",
    ("anna", "bertil"),
    Hours(frozenset({1, 3}), time(9, 0), time(11, 0)),
    unit="Bygg",
)
SOCIALJOUR = Group(
    "socialjour",
    "Socialjouren",
    "+462683060",
    ("david", "eva"),
    Hours(frozenset(range(5)), time(8, 0), time(16, 30)),
    unit="Social",
    on_call=True,
)
KONTAKTCENTER = Group("kontaktcenter", "Kontaktcenter", "+462683070", ("bertil",), unit="KC")
HEMTJANST = SharedPhone("hemtjanst", "Hemtjänst Nord", "+46705550001", "Omsorg")


def local(hour: int, minute: int = 0, second: int = 0) -> datetime:
    """An aware Stockholm time on DAY."""
    return datetime(DAY.year, DAY.month, DAY.day, hour, minute, second, tzinfo=TZ)


def org(
    users: tuple[User, ...] = (ANNA, BERTIL, DAVID, EVA, KARL),
    groups: tuple[Group, ...] = (BYGGLOV, SOCIALJOUR, KONTAKTCENTER),
    shared: tuple[SharedPhone, ...] = (HEMTJANST,),
    switchboard: str | None = SWITCHBOARD,
    policy: Policy | None = None,
) -> Organisation:
    """A small organisation built in code."""
    directory = Directory.build(users, groups, shared, switchboard, PLAN)
    return Organisation(
        "test",
        "Testby kommun",
        "TST",
        "/nonexistent",
        TZ,
        PLAN,
        switchboard or "",
        HOURS,
        frozenset(),
        policy or Policy(TZ),
        directory,
        "/nonexistent",
    )


def busy(*spans: tuple[str, datetime, datetime]) -> PresenceBook:
    """A presence book: (user id, start, end) busy meetings."""
    blocks: dict[str, list[CalendarBlock]] = {}
    for uid, start, end in spans:
        blocks.setdefault(uid, []).append(CalendarBlock(start, end, BusyStatus.BUSY, "Möte"))
    return PresenceBook({uid: build_user_presence(uid, b, RULES) for uid, b in blocks.items()})


def scenario(**changes: object) -> Scenario:
    """A one-day scenario with certain answers (probability 1) unless changed."""
    base: dict[str, object] = {
        "dates": (DAY,),
        "arrivals": {},
        "seed": 3,
        "answer_probability": 1.0,
        "answer_probability_in_meeting": 1.0,
        "talk_time_s": 60.0,
    }
    base.update(changes)
    return Scenario(**base)  # type: ignore[arg-type]


def arrival(
    at: datetime, kind: str, pick: float = 0.0, answer: float = 0.5, **kw: object
) -> Arrival:
    """One hand-placed call: `pick` selects the kind's number (0 = first in directory order)."""
    values: dict[str, object] = {
        "at": at.timestamp(),
        "kind": kind,
        "pick": pick,
        "answer": answer,
        "member": 0.0,
        "ring_s": 5.0,
        "talk_s": 120.0,
        "leave": 0.0,
        "message_s": 12,
        "caller": "0701112233",
    }
    values.update(kw)
    return Arrival(**values)  # type: ignore[arg-type]


def pick(index: int, count: int) -> float:
    """The `pick` value selecting number `index` of `count`."""
    return (index + 0.5) / count
