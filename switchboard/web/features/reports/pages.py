"""The reports' pages in Swedish: service level today (Servicenivå, HAL-03/05) and a manager's
overview (Chefens översikt: unused subscriptions ALV-25, blocked attempts HAL-14)."""

from __future__ import annotations

import functools
from datetime import datetime

import phonenumbers
from aiohttp import web

from routing.numbers import national_format
from simulation import sv
from switchboard.web import paging
from switchboard.web.core import account, services
from switchboard.web.features.reports import service, service_level
from switchboard.web.features.reports.schemas import Tally
from switchboard.web.templating import render_page

KIND_TEXT = {
    "extension": "Anknytning",
    "mobile": "Mobil",
    "group": "Grupp",
    "shared_phone": "Gemensam telefon",
    "switchboard": "Växel",
}
ATTEMPT_TEXT = {"international": "Utlandet", "premium_rate": "Betalnummer"}
NO_UNIT = {"(no unit)": "(ingen enhet)"}
PAGE_SIZE = 100  # unused subscriptions per page (an administrator sees thousands)
MAX_PAGE = 1_000_000


@functools.lru_cache(maxsize=16_384)
def shown_number(e164: str, country_code: str) -> str:
    """A number as a person here reads it: national form at home ('070-123 45 67'), the
    international form abroad ('+44 20 7946 0000'); as logged when it is no number."""
    if not e164.startswith("+"):
        return e164
    if e164.startswith("+" + country_code):
        return national_format(e164)
    try:
        parsed = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _rows(rows: dict[str, Tally], label: dict[str, str]) -> list[dict[str, object]]:
    return [
        {
            "label": label.get(k, k),
            "calls": t.calls,
            "answered": t.answered,
            "share": sv.percent(t.answered_share, 0),
        }
        for k, t in rows.items()
    ]


async def reports_page(request: web.Request) -> web.StreamResponse:
    """GET /rapporter: today's answered share and coverage warnings (admin and IT)."""
    r = await service_level.live_report(services(request))
    context = {
        "r": r,
        "share": sv.percent(r.answered_share, 0),
        "tables": [
            ("by-hour", "Per timme", "Timme", _rows(r.by_hour, {h: f"kl. {h}" for h in r.by_hour})),
            ("by-unit", "Per enhet", "Enhet", _rows(r.by_unit, NO_UNIT)),
            ("by-kind", "Per typ av nummer", "Typ av nummer", _rows(r.by_kind, KIND_TEXT)),
        ],
    }
    return render_page(
        request,
        "reports/service_level.html",
        context,
        title="Servicenivå i dag",
        current="/rapporter",
    )


async def manager_page(request: web.Request) -> web.StreamResponse:
    """GET /chef: unused subscriptions and blocked attempts of my units (managers, admins)."""
    svc, acct = services(request), account(request)
    page = paging.page_param(
        request.query, "page", MAX_PAGE, f"ange ett heltal mellan 1 och {MAX_PAGE}"
    )
    unused, attempts = await service.manager_report(svc, acct)
    cc = svc.config.org.plan.country_code
    pg = paging.page_of(len(unused.unused), page, PAGE_SIZE)
    context = {
        "unused": unused,
        "paging": pg,
        "pager": paging.pager(pg, lambda n: f"/chef?page={n}#unused-heading"),
        "subscriptions": [
            {
                "name": s.name,
                "kind": KIND_TEXT.get(s.kind, s.kind),
                "number": shown_number(s.number, cc),
                "unit": s.unit or "(ingen enhet)",
            }
            for s in ([] if pg.beyond else pg.of(unused.unused))
        ],
        "attempts": attempts,
        "tries": [
            {
                "at": datetime.fromisoformat(a.at).strftime("%Y-%m-%d %H.%M"),
                "name": a.name,
                "unit": a.unit,
                "e164": a.number,
                "number": shown_number(a.number, cc),
                "kind": ATTEMPT_TEXT.get(a.kind, a.kind),
            }
            for a in attempts.attempts
        ],
    }
    return render_page(
        request, "reports/manager.html", context, title="Chefens översikt", current="/chef"
    )
