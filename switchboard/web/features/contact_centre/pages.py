"""Medborgarservice's page (Kontaktcenter): notices, directory changes to register (HAL-12,
HAL-13), and international calls placed for a user (ALV-26)."""

from __future__ import annotations

from aiohttp import web

from switchboard.web.core import account, csrf_token, services
from switchboard.web.errors import WebError
from switchboard.web.features.calls.service import call_log
from switchboard.web.features.contact_centre import service
from switchboard.web.html import e, hidden_csrf
from switchboard.web.layout import back, flash, read_form, render

CHANGE_TEXT = {
    "added": "Nytt abonnemang",
    "removed": "Borttaget abonnemang",
    "number_changed": "Ändrat nummer",
    "handover": "Överlämnat till efterträdare",
}


async def contact_page(request: web.Request) -> web.StreamResponse:
    """GET /kontaktcenter: notices, directory history, assisted international calls."""
    svc = services(request)
    log_ = call_log(svc)
    notes = await log_.notices([service.CONTACT_CENTRE], 200)
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
    body = flash(request) + (
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
    return render(request, "Medborgarservice", body, "/kontaktcenter")


async def contact_assisted(request: web.Request) -> web.StreamResponse:
    """POST /kontaktcenter/utlandssamtal: ALV-26 from the page."""
    form = await read_form(request)
    data: dict[str, object] = {k: form.get(k, "") for k in ("user", "to")}
    try:
        out = await service.place_assisted(services(request), account(request), data)
    except WebError as exc:
        if exc.status >= 500:
            raise
        return back("/kontaktcenter", err=f"Kunde inte registrera: {exc.message}")
    return back("/kontaktcenter", ok=f"Samtalet till {out.to} är registrerat – koppla det nu.")
