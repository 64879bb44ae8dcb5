"""The call log for IT (ALV-18) and who may flag a call as a threat (ALV-20): the person who
received it, or IT.

The recipient is the user whose extension or mobile the call was made to (`called`) or was put
through to (a dial string of the call), as the directory has the numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from aiohttp import web

from routing.models import NumberingPlan, NumberKind
from routing.numbers import in_plan, normalise
from switchboard.config import Config, normaliser
from switchboard.telephony.calllog import CallEntry, CallLogStorage, Incident, UnknownCall
from switchboard.web.auth import Account, Role
from switchboard.web.core import services
from switchboard.web.errors import Forbidden, Unavailable
from switchboard.web.features.calls.schemas import API_MAX_PER_PAGE, API_PER_PAGE, CallQuery
from switchboard.web.http import int_query, time_field
from switchboard.web.paging import Page, page_of, page_param, per_page_param
from switchboard.web.services import WebServices

_PERSONAL = (NumberKind.USER_EXTENSION, NumberKind.USER_MOBILE)
_DIGITS = re.compile(r"\+?\d{3,}")
PAGE_LIMIT = 1000  # calls the IT page reads for one filter


def call_log(svc: WebServices) -> CallLogStorage:
    """The call log, or Unavailable when this service has none."""
    if svc.call_log is None:
        raise Unavailable("the call log is not configured")
    return svc.call_log


def number_digits(raw: str, plan: NumberingPlan) -> str | None:
    """The digits to search for so that every written form of the number matches."""
    # The log keeps numbers as the platform gave them ('83012', '0701234567', '+46701234567'):
    # an extension is searched by its local digits, a domestic number by its national
    # significant digits, a foreign one by its E.164 digits, anything else as typed.
    text = raw.strip()[:40]
    if not text:
        return None
    e164 = normalise(text, plan)
    cc = plan.country_code
    if e164 is None:
        digits = "".join(ch for ch in text if ch.isdigit())
    elif in_plan(e164, plan):
        prefix = next(
            f"+{cc}{area}"
            for area, local in plan.series
            if e164.startswith(f"+{cc}{area}") and len(e164) == len(f"+{cc}{area}{local}")
        )
        digits = e164[len(prefix) :]
    elif e164.startswith("+" + cc):
        digits = e164[1 + len(cc) :]
    else:
        digits = e164[1:]
    return digits[:20] or None


def call_query(request: web.Request) -> CallQuery:
    """The filter from ?since=&until=&number=&limit= (times without offset are local)."""
    svc = services(request)
    q = dict(request.query)
    return CallQuery(
        since=time_field(q, "since", svc.config.org.timezone),
        until=time_field(q, "until", svc.config.org.timezone),
        number=number_digits(request.query.get("number", ""), svc.config.org.plan),
        limit=int_query(request, "limit", 1000, 1, 100_000),
    )


async def query_calls_for(svc: WebServices, query: Mapping[str, str]) -> Sequence[CallEntry]:
    """The IT page's filter (`since`, `until`, `number` as the form sends them), newest first,
    at most `PAGE_LIMIT` calls; InvalidField (in Swedish) for a time that is none."""
    tz = svc.config.org.timezone
    q = CallQuery(
        since=time_field(query, "since", tz),
        until=time_field(query, "until", tz),
        number=number_digits(query.get("number", ""), svc.config.org.plan),
        limit=PAGE_LIMIT,
    )
    return await call_log(svc).query(since=q.since, until=q.until, number=q.number, limit=q.limit)


async def query_calls(request: web.Request) -> Sequence[CallEntry]:
    """Calls filtered by since, until (instants) and a number, newest first."""
    log = call_log(services(request))
    q = call_query(request)
    return await log.query(since=q.since, until=q.until, number=q.number, limit=q.limit)


async def call_page(request: web.Request) -> tuple[list[CallEntry], Page]:
    """GET /api/calls: page `page=` (`per_page=` a page) of the calls the filter finds (at
    most `limit`, the newest); InvalidField in Swedish for a page that is no page number."""
    asked = page_param(request.query, "page")
    per_page = per_page_param(request.query, API_PER_PAGE, API_MAX_PER_PAGE)
    found = await query_calls(request)
    pg = page_of(len(found), asked, per_page)
    return ([] if pg.beyond else pg.of(found)), pg


async def calls_csv(request: web.Request) -> str:
    """The same query as CSV."""
    log = call_log(services(request))
    q = call_query(request)
    return await log.export_csv(since=q.since, until=q.until, number=q.number, limit=q.limit)


async def incidents(svc: WebServices) -> list[Incident]:
    """Every threat incident, newest first."""
    return list(reversed(await call_log(svc).incidents()))


async def flag_threat(svc: WebServices, call_id: str, note: str, by: str) -> Incident:
    """ALV-20: an incident record with the call's details (UnknownCall if it is not logged)."""
    log = call_log(svc)
    if await log.get(call_id) is None:
        raise UnknownCall(call_id)
    return await log.flag_threat(call_id, by, note, svc.now())


# ---------------------------------------------------------------- ALV-20 the recipient or IT


def numbers_of(call: CallEntry) -> Iterable[str]:
    """The numbers the call reached: the called number and every number in a dial string."""
    if call.called:
        yield call.called
    for dial in call.dialled:
        yield from _DIGITS.findall(dial)


def recipients(call: CallEntry, config: Config) -> set[str]:
    """User ids whose extension or mobile the call reached."""
    norm = normaliser(config)
    found: set[str] = set()
    for number in numbers_of(call):
        e164 = norm(number)
        entry = config.directory.by_number.get(e164) if e164 else None
        if entry is not None and entry.kind in _PERSONAL and entry.owner_id:
            found.add(entry.owner_id)
    return found


def may_flag(acct: Account, call: CallEntry, config: Config) -> bool:
    """IT may flag any call; anyone else only a call they received."""
    return Role.IT in acct.roles or acct.user_id in recipients(call, config)


async def flag(svc: WebServices, acct: Account, call_id: str, note: str) -> Incident:
    """ALV-20: the incident, if `acct` may flag the call (Forbidden, in Swedish, otherwise)."""
    call = await call_log(svc).get(call_id)
    if call is None:
        raise UnknownCall(call_id)
    if not may_flag(acct, call, svc.config):
        raise Forbidden(
            "du kan bara anmäla hot i samtal till ditt eget nummer; kontakta IT för andra samtal"
        )
    return await call_log(svc).flag_threat(call_id, acct.user_id, note, svc.now())


async def calls_to(svc: WebServices, me: Account) -> list[CallEntry]:
    """The latest calls (at most 200) that reached `me`, newest first."""
    user = svc.config.directory.user(me.user_id)
    if svc.call_log is None or user is None:
        return []
    out: dict[str, CallEntry] = {}
    for number in (user.extension, user.mobile):
        if not number:
            continue
        digits = number_digits(number, svc.config.org.plan)
        for c in await svc.call_log.query(number=digits, limit=200):
            if c.call_id not in out and me.user_id in recipients(c, svc.config):
                out[c.call_id] = c
    newest = sorted(
        out.values(), key=lambda c: c.start.timestamp() if c.start else 0.0, reverse=True
    )
    return newest[:200]
