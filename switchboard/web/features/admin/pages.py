"""The administrator's page (Administration): the voicemail switch, confirmed first (ALV-12),
and each user's switches."""

from __future__ import annotations

from aiohttp import web

from switchboard.web.core import account, csrf_token, services
from switchboard.web.features.admin import service
from switchboard.web.features.admin.schemas import SWITCH_NAMES
from switchboard.web.features.contact_centre.service import require_unit_admin
from switchboard.web.html import e, hidden_csrf
from switchboard.web.layout import back, flash, read_form, render


def _check(name: str, label: str, on: bool, ident: str) -> str:
    checked = " checked" if on else ""
    return (
        f'<label style="font-weight:400;display:inline-block;margin-right:1rem">'
        f'<input type="checkbox" name="{name}" id="{e(ident)}"{checked}> {e(label)}</label>'
    )


async def admin_page(request: web.Request) -> web.StreamResponse:
    """GET /admin: the voicemail switch and per-user switches."""
    svc = services(request)
    sw = service.switches(svc)
    csrf = csrf_token(request)
    rows = "".join(
        f'<tr><td data-label="Namn">{e(u.name)}</td><td data-label="Inställningar">'
        f'<form method="post" action="/admin/anvandare/{e(u.id)}">{hidden_csrf(csrf)}'
        + _check("voicemail", "Röstbrevlåda", u.voicemail, f"vm-{u.id}")
        + _check(
            "mobile_follows_calendar",
            "Mobilen följer kalendern",
            u.mobile_follows_calendar,
            f"mfc-{u.id}",
        )
        + _check(
            "international_unlocked",
            "Utlandssamtal upplåsta",
            u.international_unlocked,
            f"intl-{u.id}",
        )
        + f'<button type="submit" aria-label="Spara för {e(u.name)}">Spara</button>'
        "</form></td></tr>"
        for u in sw.users
    )
    on = sw.voicemail_extension_users
    body = flash(request) + (
        "<h2>Röstbrevlåda för alla med anknytning</h2>"
        f'<form method="post" action="/admin/rostbrevlada">{hidden_csrf(csrf)}'
        f"<p>Just nu: <strong>{'påslagen' if on else 'avstängd'}</strong>.</p>"
        f'<input type="hidden" name="enabled" value="{"0" if on else "1"}">'
        f'<button type="submit">{"Stäng av för alla …" if on else "Slå på för alla …"}</button>'
        '<p class="muted">Du får bekräfta innan ändringen görs.</p>'
        "</form><h2>Per användare</h2>"
        '<table id="switches"><thead><tr><th scope="col">Namn</th>'
        f'<th scope="col">Inställningar</th></tr></thead><tbody>{rows}</tbody></table>'
    )
    return render(request, "Administration", body, "/admin")


async def admin_voicemail(request: web.Request) -> web.StreamResponse:
    """POST /admin/rostbrevlada: the ALV-12 switch."""
    svc = services(request)
    form = await read_form(request)
    enabled = form.get("enabled") == "1"
    if form.get("confirm") != "ja":  # an organisation-wide switch is confirmed first
        return _confirm_voicemail(request, enabled)
    await service.set_voicemail_for_all(svc, enabled, account(request).user_id)
    return back("/admin", ok="Röstbrevlådan är " + ("påslagen." if enabled else "avstängd."))


def _confirm_voicemail(request: web.Request, enabled: bool) -> web.Response:
    """The confirmation step of the organisation-wide voicemail switch (ALV-12)."""
    svc = services(request)
    affected = sum(1 for u in svc.config.directory.users if u.extension)
    what = "slå på" if enabled else "stänga av"
    effect = (
        "Den som ringer en anknytning som inte svarar får då lämna ett meddelande."
        if enabled
        else "Den som ringer en anknytning som inte svarar kan då inte lämna något meddelande;"
        " samtalet går vidare enligt hänvisningen."
    )
    body = (
        f"<h2>Vill du {what} röstbrevlådan för alla?</h2>"
        f"<p>Ändringen gäller alla {affected} användare med anknytning, från nästa samtal. "
        f"{effect}</p>"
        f'<form method="post" action="/admin/rostbrevlada">{hidden_csrf(csrf_token(request))}'
        f'<input type="hidden" name="enabled" value="{"1" if enabled else "0"}">'
        '<input type="hidden" name="confirm" value="ja">'
        f'<button type="submit">Ja, {what} för alla {affected}</button></form>'
        '<p><a href="/admin">Avbryt</a></p>'
    )
    return render(request, "Bekräfta", body, "/admin")


async def admin_user(request: web.Request) -> web.StreamResponse:
    """POST /admin/anvandare/{user_id}: one user's switches."""
    svc = services(request)
    form = await read_form(request)
    data: dict[str, object] = {name: name in form for name in SWITCH_NAMES}
    require_unit_admin(svc, account(request), request.match_info["user_id"])  # HAL-12
    await service.set_user_switches(
        svc, request.match_info["user_id"], account(request).user_id, data
    )
    return back("/admin", ok="Inställningarna är sparade.")
