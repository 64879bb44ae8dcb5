"""What a manager sees of their units: unused subscriptions (ALV-25) and blocked premium-rate and
international attempts (HAL-14).

A manager is a user whom the directory names as some user's `manager`; they see the units of the
people they manage. An administrator sees every unit, or the units their account is scoped to
(HAL-12). Everyone else gets 403. Calls are read through the call log's `calls_started` index
(`call_rows` over a time range).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from routing.models import Directory, NumberKind
from routing.numbers import classify, normalise
from switchboard.telephony.calllog.records import CallRow
from switchboard.web.auth import Account, Role
from switchboard.web.errors import Forbidden
from switchboard.web.features.calls.service import call_log
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


def subscriptions(directory: Directory) -> list[Subscription]:
    """Every subscription of the directory."""
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
    return out


def numbers_per_call(rows: Iterable[CallRow], directory: Directory) -> list[set[str]]:
    """Per call, the directory's numbers it involved (caller, called or put through)."""
    plan = directory.plan
    out: list[set[str]] = []
    for r in rows:
        seen: set[str] = set()
        for raw in (r.caller, r.called, *r.dialled):
            if not raw:
                continue
            digits = "".join(ch for ch in raw.split("@")[0] if ch.isdigit() or ch == "+")
            e164 = normalise(digits, plan) if digits else None
            if e164 and e164 in directory.by_number:
                seen.add(e164)
        out.append(seen)
    return out


async def unused(svc: WebServices, acct: Account, year: int | None = None) -> UnusedReport:
    """ALV-25: subscriptions in scope with no calls in the organisation's number of days, and
    the year's count per unit (subscriptions, calls, unused at the year's end or now)."""
    directory = svc.org().directory
    scope = units_in_scope(acct, directory)
    days = svc.config.administration.unused_subscription_days
    now = svc.now()
    log = call_log(svc)
    recent = set().union(
        *numbers_per_call(await log.call_rows(now - timedelta(days=days), now), directory)
    )
    subs = [s for s in subscriptions(directory) if scope is None or s.unit in scope]
    tz = svc.config.org.timezone
    year = year or now.astimezone(tz).year
    y0 = datetime.combine(date(year, 1, 1), time(0), tzinfo=tz)
    y1 = min(datetime.combine(date(year + 1, 1, 1), time(0), tzinfo=tz), now)
    in_year = numbers_per_call(await log.call_rows(y0, y1), directory) if y0 < y1 else []
    unit_of = {s.number: s.unit or "(ingen enhet)" for s in subs}
    per_unit: dict[str, dict[str, int]] = {}
    for s in subs:
        row = per_unit.setdefault(unit_of[s.number], {"subscriptions": 0, "calls": 0, "unused": 0})
        row["subscriptions"] += 1
        row["unused"] += s.number not in recent
    for numbers in in_year:  # a call counts once per unit it involved
        for unit in {unit_of[n] for n in numbers if n in unit_of}:
            per_unit[unit]["calls"] += 1
    return UnusedReport(
        days=days,
        since=(now - timedelta(days=days)).isoformat(),
        unused=[s for s in subs if s.number not in recent],
        year=year,
        by_unit={unit: UnitCount(**counts) for unit, counts in sorted(per_unit.items())},
    )


async def blocked_attempts(svc: WebServices, acct: Account, days: int = 30) -> BlockedAttempts:
    """HAL-14: blocked premium-rate and international calls by users in scope, newest first."""
    directory = svc.org().directory
    scope = units_in_scope(acct, directory)
    now = svc.now()
    rows = await call_log(svc).call_rows(now - timedelta(days=days), now)
    plan = directory.plan
    out: list[BlockedAttempt] = []
    for r in rows:
        if r.outcome != "rejected" or not r.called or not r.caller:
            continue
        e164, kind = classify(r.called, directory, plan)
        if kind not in (NumberKind.INTERNATIONAL, NumberKind.PREMIUM_RATE):
            continue
        caller = directory.by_number.get(normalise(r.caller, plan) or "")
        user = directory.user(caller.owner_id) if caller and caller.owner_id else None
        if user is None or (scope is not None and user.unit not in scope):
            continue
        if Role.ADMIN not in acct.roles and user.manager != acct.user_id:
            continue  # a manager sees their own staff's attempts (they may be liable)
        out.append(
            BlockedAttempt(
                at=r.start.astimezone(svc.config.org.timezone).isoformat(),
                user=user.id,
                name=user.name,
                unit=user.unit,
                manager=user.manager,
                number=e164 or r.called,
                kind=kind.value,
            )
        )
    out.reverse()
    return BlockedAttempts(days, out)
