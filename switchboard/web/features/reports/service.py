"""What a manager sees of their units: unused subscriptions (ALV-25) and blocked premium-rate and
international attempts (HAL-14).

A manager is a user whom the directory names as some user's `manager`; they see the units of the
people they manage. An administrator sees every unit, or the units their account is scoped to
(HAL-12). Everyone else gets 403. Calls are read a local day at a time through the call log's
`calls_started` index, each day that is over only once (`reports.digest`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from routing.models import Directory
from switchboard.web.auth import Account, Role
from switchboard.web.errors import Forbidden
from switchboard.web.features.calls.service import call_log
from switchboard.web.features.reports import digest
from switchboard.web.features.reports.digest import DayDigest
from switchboard.web.features.reports.schemas import (
    BlockedAttempt,
    BlockedAttempts,
    Subscription,
    UnitCount,
    UnusedReport,
)
from switchboard.web.services import WebServices

NOT_A_MANAGER = (
    "bara chefer (enligt katalogen) och administratörer ser detta; be din chef eller "
    "telefoniadministratören om uppgifterna"
)


def units_in_scope(acct: Account, directory: Directory) -> frozenset[str] | None:
    """The units `acct` may see: None for every unit; Forbidden if none."""
    if Role.ADMIN in acct.roles:
        return acct.units or None
    managed = frozenset(u.unit for u in directory.users if u.manager == acct.user_id)
    if not managed:
        raise Forbidden(NOT_A_MANAGER)
    return managed


_SUBSCRIPTIONS: list[tuple[Directory, list[Subscription]]] = []


def subscriptions(directory: Directory) -> list[Subscription]:
    """Every subscription of the directory (remembered for the last directory asked about)."""
    if _SUBSCRIPTIONS and _SUBSCRIPTIONS[0][0] is directory:
        return _SUBSCRIPTIONS[0][1]
    out: list[Subscription] = []
    for u in directory.users:
        if u.extension:
            out.append(Subscription(u.id, "extension", u.extension, u.unit, u.name))
        if u.mobile:
            out.append(Subscription(u.id, "mobile", u.mobile, u.unit, u.name))
    for g in directory.groups:
        out.append(Subscription(g.id, "group", g.number, g.unit, g.designation))
    for s in directory.shared_phones:
        out.append(Subscription(s.id, "shared_phone", s.mobile, s.unit, s.designation))
    _SUBSCRIPTIONS[:] = [(directory, out)]
    return out


def _window(svc: WebServices, now: datetime) -> tuple[int, datetime]:
    """ALV-25's window: its number of days and its first instant."""
    days = svc.config.administration.unused_subscription_days
    return days, now - timedelta(days=days)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range(max(0, (last - first).days + 1))]


async def _digests(
    svc: WebServices, directory: Directory, now: datetime, *, year: int | None, attempt_days: int
) -> tuple[dict[date, DayDigest], int]:
    """The day digests both reports need (the year's days, the unused window's, the attempts'),
    read through one cache; and the year meant."""
    tz = svc.config.org.timezone
    today = now.astimezone(tz).date()
    _, since = _window(svc, now)
    year = year or today.year
    wanted = set(_days(since.astimezone(tz).date(), today))
    wanted |= set(_days((now - timedelta(days=attempt_days)).astimezone(tz).date(), today))
    if year <= today.year:
        wanted |= set(_days(date(year, 1, 1), min(date(year, 12, 31), today)))
    found = await digest.day_digests(
        call_log(svc),
        directory,
        tz,
        sorted(wanted),
        now,
        keep_numbers_since=since.astimezone(tz).date(),
    )
    return dict(found), year


def _unused(
    svc: WebServices,
    acct: Account,
    directory: Directory,
    digests: dict[date, DayDigest],
    year: int,
    now: datetime,
) -> UnusedReport:
    scope = units_in_scope(acct, directory)
    days, since = _window(svc, now)
    tz = svc.config.org.timezone
    first = since.astimezone(tz).date()
    recent = {
        number
        for day, d in digests.items()
        if day >= first
        for number, at in d.last_seen.items()
        if at >= since
    }
    subs = [s for s in subscriptions(directory) if scope is None or s.unit in scope]
    per_unit: dict[str, dict[str, int]] = {}
    for s in subs:
        row = per_unit.setdefault(
            s.unit or digest.NO_UNIT, {"subscriptions": 0, "calls": 0, "unused": 0}
        )
        row["subscriptions"] += 1
        row["unused"] += s.number not in recent
    for day, d in digests.items():  # a call counts once per unit it involved
        if day.year == year:
            for unit, n in d.unit_calls.items():
                if unit in per_unit:
                    per_unit[unit]["calls"] += n
    return UnusedReport(
        days=days,
        since=since.isoformat(),
        unused=[s for s in subs if s.number not in recent],
        year=year,
        by_unit={unit: UnitCount(**counts) for unit, counts in sorted(per_unit.items())},
    )


def _attempts(
    svc: WebServices,
    acct: Account,
    directory: Directory,
    digests: dict[date, DayDigest],
    days: int,
    now: datetime,
) -> BlockedAttempts:
    scope = units_in_scope(acct, directory)
    since = now - timedelta(days=days)
    tz = svc.config.org.timezone
    out: list[BlockedAttempt] = []
    for day in sorted(digests):
        for a in digests[day].attempts:
            user = directory.user(a.user)
            if a.at < since or user is None or (scope is not None and user.unit not in scope):
                continue
            if Role.ADMIN not in acct.roles and user.manager != acct.user_id:
                continue  # a manager sees their own staff's attempts (they may be liable)
            out.append(
                BlockedAttempt(
                    at=a.at.astimezone(tz).isoformat(),
                    user=user.id,
                    name=user.name,
                    unit=user.unit,
                    manager=user.manager,
                    number=a.number,
                    kind=a.kind,
                )
            )
    out.reverse()
    return BlockedAttempts(days, out)


async def unused(svc: WebServices, acct: Account, year: int | None = None) -> UnusedReport:
    """ALV-25: subscriptions in scope with no calls in the organisation's number of days, and
    the year's count per unit (subscriptions, calls, unused at the year's end or now)."""
    directory = svc.org().directory
    units_in_scope(acct, directory)  # 403 before any reading
    now = svc.now()
    digests, year = await _digests(svc, directory, now, year=year, attempt_days=0)
    return _unused(svc, acct, directory, digests, year, now)


async def blocked_attempts(svc: WebServices, acct: Account, days: int = 30) -> BlockedAttempts:
    """HAL-14: blocked premium-rate and international calls by users in scope, newest first."""
    directory = svc.org().directory
    units_in_scope(acct, directory)
    now = svc.now()
    digests, _ = await _digests(svc, directory, now, year=None, attempt_days=days)
    return _attempts(svc, acct, directory, digests, days, now)


async def manager_report(
    svc: WebServices, acct: Account, days: int = 30
) -> tuple[UnusedReport, BlockedAttempts]:
    """Both reports of the manager's page from one reading of the call log."""
    directory = svc.org().directory
    units_in_scope(acct, directory)
    now = svc.now()
    digests, year = await _digests(svc, directory, now, year=None, attempt_days=days)
    return (
        _unused(svc, acct, directory, digests, year, now),
        _attempts(svc, acct, directory, digests, days, now),
    )
