"""Builders for core tests: a small organisation in code."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from routing.absence import BusyStatus, CalendarBlock, ManualRedirect, PresenceBook
from routing.models import Directory, Group, Hours, Policy, SharedPhone, User
from routing.numbers import make_plan
from routing.presence import PresenceRules, build_user_presence

TZ = ZoneInfo("Europe/Stockholm")
PLAN = make_plan(["026-83X XX"])
HOURS = Hours(frozenset(range(5)), time(8, 0), time(16, 30))
RULES = PresenceRules(TZ, HOURS, frozenset({date(2026, 12, 24), date(2026, 12, 25)}))
POLICY = Policy(TZ)


def local(*args: int) -> datetime:
    """An aware Stockholm datetime."""
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]


def block(
    start: datetime,
    end: datetime,
    status: BusyStatus = BusyStatus.BUSY,
    subject: str | None = "Möte",
    private: bool = False,
) -> CalendarBlock:
    """A calendar block."""
    return CalendarBlock(start, end, status, None if private else subject, private)


ANNA = User(
    "anna.andersson",
    "Anna Andersson",
    "+462683012",
    "+46701234567",
    unit="Samhällsbyggnad",
    voicemail=True,
    covering="bertil.berg",
    personal_id="19800101-1234",
    mailbox="83012",
)
BERTIL = User("bertil.berg", "Bertil Berg", "+462683013", "+46701244568", voicemail=True)
CECILIA = User(
    "cecilia.carlsson",
    "Cecilia Carlsson",
    "+462683014",
    "+46701254569",
    mobile_follows_calendar=True,
)
DAVID = User("david.dahl", "David Dahl", "+462683015", "+46701264570")
KARL = User("karl.karlsson", "Karl Karlsson", "+462683022", "+46701334577", blocked=True)
IVAR = User("ivar.isaksson", "Ivar Isaksson", "+462683020", None, international_unlocked=True)
LENA = User("lena.lund", "Lena Lund", "+462683023", None, premium_unlocked=True)
BYGGLOV = Group(
    "bygglov",
    "Bygglov",
    "+462683050",
    ("anna.andersson", "bertil.berg"),
    Hours(frozenset({1, 3}), time(9, 0), time(11, 0)),
)
OPEN_GROUP = Group("it", "IT-support", "+462683070", ("bertil.berg", "david.dahl"))
HEMTJANST = SharedPhone("hemtjanst-nord", "Hemtjänst Nord", "+46705550001", "Vård och omsorg")


def directory(*users: User) -> Directory:
    """A directory with the standard groups and shared phone."""
    people = users or (ANNA, BERTIL, CECILIA, DAVID, KARL, IVAR, LENA)
    return Directory.build(people, (BYGGLOV, OPEN_GROUP), (HEMTJANST,), "+462683000", PLAN)


def book(
    blocks: dict[str, list[CalendarBlock]], manual: dict[str, ManualRedirect] | None = None
) -> PresenceBook:
    """A presence book from blocks per user id."""
    users = {uid: build_user_presence(uid, b, RULES) for uid, b in blocks.items()}
    return PresenceBook(users, manual or {})
