"""Blocking a lost phone from the administrator's page (ALV-21, HAL-12): a person's
subscriptions or a shared phone, by an administrator of its unit, confirmed first with a note;
the contact centre (and the mobile officer) are told, as the API does."""

from __future__ import annotations

from aiohttp import web

from routing.models import User
from switchboard.web.core import account, services
from switchboard.web.errors import InvalidField
from switchboard.web.features.admin.pages import admin_url, numbers
from switchboard.web.features.contact_centre.service import (
    CONTACT_CENTRE,
    phone_of,
    require_unit_admin,
    set_blocked,
)
from switchboard.web.http import text_field
from switchboard.web.layout import back, name_of, read_form
from switchboard.web.templating import render_page

NOTE_MAX = 500


async def admin_block(request: web.Request) -> web.StreamResponse:
    """POST /admin/sparr: confirm (with a note), then block or unblock the phone."""
    svc = services(request)
    acct = account(request)
    form = await read_form(request)
    entry_id = form.get("post", "")
    entry = phone_of(svc, entry_id)
    require_unit_admin(svc, acct, entry_id)  # HAL-12: only the unit's administrators
    blocked = form.get("sparrad") == "1"
    raw_note = form.get("anteckning", "")
    if form.get("confirm") != "ja":
        return _confirm(request, entry_id, blocked, raw_note, form.get("sparr", ""), None)
    try:
        note = text_field({"note": raw_note}, "note", max_len=NOTE_MAX, multiline=True)
    except InvalidField as exc:
        return _confirm(request, entry_id, blocked, raw_note, form.get("sparr", ""), exc.problem)
    out = await set_blocked(svc, acct, entry_id, blocked, note)
    name = entry.name if isinstance(entry, User) else entry.designation
    told = [
        "Medborgarservice" if r == CONTACT_CENTRE else name_of(svc.config.directory, r)
        for r in out.notified
    ]
    state = "är spärrad" if blocked else "är inte längre spärrad"
    ok = f"{name} {state}. {' och '.join(told)} har fått ett meddelande."
    return back(admin_url(sparr=form.get("sparr", "")), ok=ok)


def _confirm(
    request: web.Request,
    entry_id: str,
    blocked: bool,
    note: str,
    sparr: str,
    error: str | None,
) -> web.Response:
    """The confirmation: whose numbers, what happens, a note for the contact centre."""
    svc = services(request)
    entry = phone_of(svc, entry_id)
    officer = svc.config.administration.mobile_officer
    context = {
        "told": "Medborgarservice"
        + (f" och {name_of(svc.config.directory, officer)}" if officer else ""),
        "entry_id": entry_id,
        "name": entry.name if isinstance(entry, User) else entry.designation,
        "unit": entry.unit,
        "numbers": numbers(entry),
        "blocked": blocked,
        "note": note,
        "note_error": f"Anteckningen: {error}. Korta den och försök igen." if error else "",
        "sparr": sparr,
        "cancel": admin_url(sparr=sparr),
    }
    title = "Bekräfta spärr" if blocked else "Bekräfta att spärren hävs"
    status = 422 if error else 200
    return render_page(
        request, "admin/confirm_block.html", context, title=title, current="/admin", status=status
    )
