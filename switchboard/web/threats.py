"""ALV-20: who may flag a call as a threat — the person who received it, or IT.

The recipient is the user whose extension or mobile the call was made to (`called`) or was put
through to (a dial string of the call), as the directory has the numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aiohttp import web

from routing.models import NumberKind
from switchboard.config import Config, normaliser
from switchboard.web.api import call_log, number_digits
from switchboard.web.auth import Account, Role
from switchboard.web.core import account, services
from switchboard.web.errors import Forbidden, UnknownCall
from switchboard.web.http import read_json, text_field
from switchboard.web.services import LoggedCall, ThreatIncident, WebServices

_PERSONAL = (NumberKind.USER_EXTENSION, NumberKind.USER_MOBILE)
_DIGITS = re.compile(r"\+?\d{3,}")


def numbers_of(call: LoggedCall) -> Iterable[str]:
    """The numbers the call reached: the called number and every number in a dial string."""
    if call.called:
        yield call.called
    for dial in call.dialled:
        yield from _DIGITS.findall(dial)


def recipients(call: LoggedCall, config: Config) -> set[str]:
    """User ids whose extension or mobile the call reached."""
    norm = normaliser(config)
    found: set[str] = set()
    for number in numbers_of(call):
        e164 = norm(number)
        entry = config.directory.by_number.get(e164) if e164 else None
        if entry is not None and entry.kind in _PERSONAL and entry.owner_id:
            found.add(entry.owner_id)
    return found


def may_flag(acct: Account, call: LoggedCall, config: Config) -> bool:
    """IT may flag any call; anyone else only a call they received."""
    return Role.IT in acct.roles or acct.user_id in recipients(call, config)


async def flag(svc: WebServices, acct: Account, call_id: str, note: str) -> ThreatIncident:
    """ALV-20: the incident, if `acct` may flag the call (Forbidden, in Swedish, otherwise)."""
    call = await call_log(svc).get(call_id)
    if call is None:
        raise UnknownCall(call_id)
    if not may_flag(acct, call, svc.config):
        raise Forbidden(
            "du kan bara anmäla hot i samtal till ditt eget nummer; kontakta IT för andra samtal"
        )
    return await call_log(svc).flag_threat(call_id, acct.user_id, note, svc.now())


async def threat(request: web.Request) -> web.StreamResponse:
    """POST /api/calls/{call_id}/threat {note}: the recipient or IT (ALV-20)."""
    svc = services(request)
    data = await read_json(request, svc.max_body)
    note = text_field(data, "note", required=True, max_len=2000, multiline=True) or ""
    incident = await flag(svc, account(request), request.match_info["call_id"], note)
    return web.json_response(incident.as_json(), status=201)


async def my_calls(request: web.Request) -> web.StreamResponse:
    """GET /api/me/calls: the latest calls to my numbers, so I can flag a threat (ALV-20)."""
    return web.json_response({"calls": await calls_to(services(request), account(request))})


async def calls_to(svc: WebServices, me: Account) -> list[dict[str, object]]:
    """The latest calls (at most 200) that reached `me`, newest first."""
    user = svc.config.directory.user(me.user_id)
    if svc.call_log is None or user is None:
        return []
    out: list[dict[str, object]] = []
    for number in (user.extension, user.mobile):
        if not number:
            continue
        digits = number_digits(number, svc.config.org.plan)
        for c in await svc.call_log.query(number=digits, limit=200):
            if me.user_id in recipients(c, svc.config) and all(
                o["call_id"] != c.call_id for o in out
            ):
                out.append(c.as_json())
    out.sort(key=lambda c: str(c.get("start") or ""), reverse=True)
    return out[:200]
