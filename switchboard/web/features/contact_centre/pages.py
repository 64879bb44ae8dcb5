"""Medborgarservice's page (Kontaktcenter): notices, directory changes to register (HAL-12,
HAL-13), and international calls placed for a user (ALV-26)."""

from __future__ import annotations

from aiohttp import web

from switchboard.web.core import account, services
from switchboard.web.errors import WebError
from switchboard.web.features.calls.service import call_log
from switchboard.web.features.contact_centre import service
from switchboard.web.layout import back, read_form
from switchboard.web.templating import render_page

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
    tz = svc.config.org.timezone
    notes = await log_.notices([service.CONTACT_CENTRE], 200)
    history = await log_.directory_history(200)
    assisted = await log_.assisted(100)
    context = {
        "notices": [
            {
                "when": n.created_at.astimezone(tz).strftime("%Y-%m-%d %H.%M"),
                "subject": n.subject,
                "body": n.body,
            }
            for n in notes
        ],
        "history": [
            {
                "day": c.changed_at.astimezone(tz).strftime("%Y-%m-%d"),
                "kind": CHANGE_TEXT.get(c.kind, c.kind),
                "entry": c.entry_id,
                "detail": ", ".join(f"{k}: {v}" for k, v in c.detail.items() if v),
            }
            for c in history
        ],
        "assisted": assisted,
    }
    return render_page(
        request,
        "contact_centre/page.html",
        context,
        title="Medborgarservice",
        current="/kontaktcenter",
    )


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
