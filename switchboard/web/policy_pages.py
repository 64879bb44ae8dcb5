"""Pages of issue 19's second policy round (Swedish): live service level (HAL-03/05), a manager's
reports (ALV-25, HAL-14), the contact centre (HAL-12, HAL-13, ALV-26) and my calls (ALV-20)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from aiohttp import web

from switchboard.simulation import sv
from switchboard.web import contact_centre, manager_reports, service_level, threats
from switchboard.web.api import call_log
from switchboard.web.core import account, csrf_token, services
from switchboard.web.errors import WebError
from switchboard.web.html import e, hidden_csrf
from switchboard.web.http import text_problem
from switchboard.web.pages import _back, _flash, _form, _render

KIND_TEXT = {
    "extension": "Anknytning",
    "mobile": "Mobil",
    "group": "Grupp",
    "shared_phone": "Gemensam telefon",
    "switchboard": "Växel",
}
CHANGE_TEXT = {
    "added": "Nytt abonnemang",
    "removed": "Borttaget abonnemang",
    "number_changed": "Ändrat nummer",
    "handover": "Överlämnat till efterträdare",
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
    return _render(request, "Servicenivå i dag", body, "/rapporter")


async def manager_page(request: web.Request) -> web.StreamResponse:
    """GET /chef: unused subscriptions and blocked attempts of my units (managers, admins)."""
    svc, acct = services(request), account(request)
    unused = await manager_reports.unused(svc, acct)
    attempts = await manager_reports.blocked_attempts(svc, acct)
    rows = "".join(
        f"<tr><td>{e(s['name'])}</td><td>{e(KIND_TEXT.get(str(s['kind']), s['kind']))}</td>"
        f"<td>{e(s['number'])}</td><td>{e(s['unit'])}</td></tr>"
        for s in unused["unused"]
    )
    units = "".join(
        f"<tr><td>{e(u)}</td><td>{v['subscriptions']}</td><td>{v['calls']}</td>"
        f"<td>{v['unused']}</td></tr>"
        for u, v in unused["by_unit"].items()
    )
    tries = "".join(
        f"<tr><td>{e(a['at'][:16].replace('T', ' '))}</td><td>{e(a['name'])}</td>"
        f"<td>{e(a['number'])}</td>"
        f"<td>{'Utlandet' if a['kind'] == 'international' else 'Betalnummer'}</td></tr>"
        for a in attempts["attempts"]
    )
    body = (
        f"<h2>Oanvända abonnemang</h2><p>Inga samtal på {unused['days']} dagar – säg upp dem.</p>"
        '<table id="unused"><thead><tr><th scope="col">Namn</th><th scope="col">Typ</th>'
        f'<th scope="col">Nummer</th><th scope="col">Enhet</th></tr></thead><tbody>{rows}'
        f"</tbody></table><h2>Årsöversikt {unused['year']}</h2>"
        '<table id="per-unit"><thead><tr><th scope="col">Enhet</th><th scope="col">Abonnemang'
        '</th><th scope="col">Samtal</th><th scope="col">Oanvända</th></tr></thead><tbody>'
        f"{units}</tbody></table>"
        "<h2>Spärrade samtal till betalnummer och utlandet</h2>"
        f"<p>Senaste {attempts['days']} dagarna. Den anställda kan bli personligt "
        "betalningsansvarig; ett upplåsningsbeslut fattas av dig.</p>"
        '<table id="blocked-attempts"><thead><tr><th scope="col">När</th><th scope="col">'
        'Vem</th><th scope="col">Nummer</th><th scope="col">Typ</th></tr></thead>'
        f"<tbody>{tries}</tbody></table>"
    )
    return _render(request, "Chefens översikt", body, "/chef")


async def contact_page(request: web.Request) -> web.StreamResponse:
    """GET /kontaktcenter: notices, directory history, assisted international calls."""
    svc = services(request)
    log_ = call_log(svc)
    notes = await log_.notices([contact_centre.CONTACT_CENTRE], 200)
    history = await log_.directory_history(200)
    assisted = await log_.assisted(100)
    note_rows = "".join(
        f"<tr><td>{e(n.created_at.astimezone(svc.config.org.timezone).strftime('%Y-%m-%d %H.%M'))}"
        f"</td><td>{e(n.subject)}</td><td>{e(n.body)}</td></tr>"
        for n in notes
    )
    hist_rows = "".join(
        f"<tr><td>{e(c.changed_at.astimezone(svc.config.org.timezone).strftime('%Y-%m-%d'))}</td>"
        f"<td>{e(CHANGE_TEXT.get(c.kind, c.kind))}</td><td>{e(c.entry_id)}</td>"
        f"<td>{e(', '.join(f'{k}: {v}' for k, v in c.detail.items() if v))}</td></tr>"
        for c in history
    )
    ass_rows = "".join(
        f"<tr><td>{e(a['requested_at'])}</td><td>{e(a['user_id'])}</td>"
        f"<td>{e(a['destination'])}</td><td>{e(a['placed_by'])}</td></tr>"
        for a in assisted
    )
    body = _flash(request) + (
        '<h2>Meddelanden</h2><table id="notices"><thead><tr><th scope="col">När</th>'
        '<th scope="col">Ärende</th><th scope="col">Text</th></tr></thead>'
        f"<tbody>{note_rows}</tbody></table>"
        '<h2>Katalogändringar</h2><table id="directory-history"><thead><tr>'
        '<th scope="col">Datum</th><th scope="col">Ändring</th><th scope="col">Post</th>'
        f'<th scope="col">Uppgifter</th></tr></thead><tbody>{hist_rows}</tbody></table>'
        "<h2>Koppla ett utlandssamtal åt en användare</h2>"
        '<form method="post" action="/kontaktcenter/utlandssamtal">'
        f"{hidden_csrf(csrf_token(request))}"
        '<label for="user">Användare (id)</label><input type="text" id="user" name="user" required>'
        '<label for="to">Utlandsnummer</label><input type="text" id="to" name="to" required '
        'inputmode="tel"><button type="submit">Registrera och koppla</button></form>'
        '<table id="assisted"><thead><tr><th scope="col">När</th><th scope="col">Åt</th>'
        '<th scope="col">Till</th><th scope="col">Av</th></tr></thead>'
        f"<tbody>{ass_rows}</tbody></table>"
    )
    return _render(request, "Medborgarservice", body, "/kontaktcenter")


async def contact_assisted(request: web.Request) -> web.StreamResponse:
    """POST /kontaktcenter/utlandssamtal: ALV-26 from the page."""
    form = await _form(request)
    data: dict[str, object] = {k: form.get(k, "") for k in ("user", "to")}
    try:
        out = await contact_centre.place_assisted(services(request), account(request), data)
    except WebError as exc:
        if exc.status >= 500:
            raise
        return _back("/kontaktcenter", err=f"Kunde inte registrera: {exc.message}")
    return _back("/kontaktcenter", ok=f"Samtalet till {out['to']} är registrerat – koppla det nu.")


async def my_calls_page(request: web.Request) -> web.StreamResponse:
    """GET /mina-samtal: calls to my numbers, each with a threat form (ALV-20)."""
    calls = await threats.calls_to(services(request), account(request))
    csrf = csrf_token(request)
    rows = "".join(
        f"<tr><td>{e(str(c['start'] or '')[:16].replace('T', ' '))}</td><td>{e(c['caller'])}</td>"
        f'<td><form method="post" action="/mina-samtal/{e(quote(str(c["call_id"]), safe=""))}/hot">'
        f"{hidden_csrf(csrf)}"
        f'<label class="sr-only" for="note-{e(c["call_id"])}">Beskriv hotet</label>'
        f'<input type="text" id="note-{e(c["call_id"])}" name="note" required maxlength="2000">'
        '<button type="submit">Anmäl hot</button></form></td></tr>'
        for c in calls
    )
    body = _flash(request) + (
        "<p>Samtal till dina nummer. Blev du hotad? Anmäl samtalet, så skapas en incident hos IT."
        '</p><table id="my-calls"><thead><tr><th scope="col">När (UTC)</th>'
        '<th scope="col">Från</th><th scope="col">Hot</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )
    return _render(request, "Mina samtal", body, "/mina-samtal")


async def my_threat(request: web.Request) -> web.StreamResponse:
    """POST /mina-samtal/{call_id}/hot: ALV-20 from the page."""
    form = await _form(request)
    note = form.get("note", "").strip()[:2000]
    if not note or text_problem(note, multiline=True) is not None:
        return _back("/mina-samtal", err="Beskriv hotet (utan styrtecken) och försök igen.")
    try:
        incident = await threats.flag(
            services(request), account(request), request.match_info["call_id"], note
        )
    except WebError as exc:
        if exc.status >= 500:
            raise
        return _back("/mina-samtal", err=exc.message)
    return _back("/mina-samtal", ok=f"Incident {incident.reference} är registrerad hos IT.")
