"""The reports' pages in Swedish: service level today (Servicenivå, HAL-03/05) and a manager's
overview (Chefens översikt: unused subscriptions ALV-25, blocked attempts HAL-14)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from simulation import sv
from switchboard.web.core import account, services
from switchboard.web.features.reports import service, service_level
from switchboard.web.html import e
from switchboard.web.layout import render

KIND_TEXT = {
    "extension": "Anknytning",
    "mobile": "Mobil",
    "group": "Grupp",
    "shared_phone": "Gemensam telefon",
    "switchboard": "Växel",
}


def _tally_table(ident: str, caption: str, rows: Mapping[str, Mapping[str, Any]]) -> str:
    body = "".join(
        f"<tr><td>{e(KIND_TEXT.get(k, k))}</td><td>{v['calls']}</td><td>{v['answered']}</td>"
        f"<td>{e(sv.percent(v['answered_share'], 0))}</td></tr>"
        for k, v in rows.items()
    )
    return (
        f'<table id="{ident}"><caption>{e(caption)}</caption><thead><tr>'
        '<th scope="col"></th><th scope="col">Samtal</th><th scope="col">Besvarade</th>'
        f'<th scope="col">Andel</th></tr></thead><tbody>{body}</tbody></table>'
    )


async def reports_page(request: web.Request) -> web.StreamResponse:
    """GET /rapporter: today's answered share and coverage warnings (admin and IT)."""
    r = await service_level.live(services(request))
    warnings = "".join(
        f'<p class="notice error">{e(w["designation"])}{" (jour)" if w["on_call"] else ""}: '
        f"ingen tillgänglig {e(w['from'])}–{e(w['to'])} ({w['minutes']} min)"
        f"{' – just nu' if w['now'] else ''}</p>"
        for w in r["coverage_warnings"]
    )
    body = (
        f'<p>I dag ({e(r["date"])}): <strong id="answered-share">'
        f"{e(sv.percent(r['answered_share'], 0))}</strong> besvarade av {r['calls']} samtal "
        "(personligt svar, passningsställe, hänvisning eller röstbrevlåda; "
        "Medborgarservice räknas inte).</p>"
        f'<h2>Täckningsvarningar</h2><div id="coverage">{warnings or "<p>Inga.</p>"}</div>'
        + _tally_table("by-hour", "Per timme", r["by_hour"])
        + _tally_table("by-unit", "Per enhet", r["by_unit"])
        + _tally_table("by-kind", "Per typ av nummer", r["by_kind"])
    )
    return render(request, "Servicenivå i dag", body, "/rapporter")


async def manager_page(request: web.Request) -> web.StreamResponse:
    """GET /chef: unused subscriptions and blocked attempts of my units (managers, admins)."""
    svc, acct = services(request), account(request)
    unused = await service.unused(svc, acct)
    attempts = await service.blocked_attempts(svc, acct)
    rows = "".join(
        f"<tr><td>{e(s.name)}</td><td>{e(KIND_TEXT.get(s.kind, s.kind))}</td>"
        f"<td>{e(s.number)}</td><td>{e(s.unit)}</td></tr>"
        for s in unused.unused
    )
    units = "".join(
        f"<tr><td>{e(u)}</td><td>{v.subscriptions}</td><td>{v.calls}</td><td>{v.unused}</td></tr>"
        for u, v in unused.by_unit.items()
    )
    tries = "".join(
        f"<tr><td>{e(a.at[:16].replace('T', ' '))}</td><td>{e(a.name)}</td>"
        f"<td>{e(a.number)}</td>"
        f"<td>{'Utlandet' if a.kind == 'international' else 'Betalnummer'}</td></tr>"
        for a in attempts.attempts
    )
    body = (
        f"<h2>Oanvända abonnemang</h2><p>Inga samtal på {unused.days} dagar – säg upp dem.</p>"
        '<table id="unused"><thead><tr><th scope="col">Namn</th><th scope="col">Typ</th>'
        f'<th scope="col">Nummer</th><th scope="col">Enhet</th></tr></thead><tbody>{rows}'
        f"</tbody></table><h2>Årsöversikt {unused.year}</h2>"
        '<table id="per-unit"><thead><tr><th scope="col">Enhet</th><th scope="col">Abonnemang'
        '</th><th scope="col">Samtal</th><th scope="col">Oanvända</th></tr></thead><tbody>'
        f"{units}</tbody></table>"
        "<h2>Spärrade samtal till betalnummer och utlandet</h2>"
        f"<p>Senaste {attempts.days} dagarna. Den anställda kan bli personligt "
        "betalningsansvarig; ett upplåsningsbeslut fattas av dig.</p>"
        '<table id="blocked-attempts"><thead><tr><th scope="col">När</th><th scope="col">'
        'Vem</th><th scope="col">Nummer</th><th scope="col">Typ</th></tr></thead>'
        f"<tbody>{tries}</tbody></table>"
    )
    return render(request, "Chefens översikt", body, "/chef")
