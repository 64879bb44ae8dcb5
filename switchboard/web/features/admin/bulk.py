"""Many users' switch at once (issue 20): the users ticked on the page, or every user the search
matches; first a confirmation saying how many are affected, then one audited change."""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDict

from routing.models import User
from switchboard.web.core import account, services
from switchboard.web.errors import BodyTooLarge
from switchboard.web.features.admin import search, service
from switchboard.web.features.admin.history import switch_text
from switchboard.web.features.admin.pages import admin_url
from switchboard.web.layout import back
from switchboard.web.paging import thousands
from switchboard.web.templating import render_page

NAMES_SHOWN = 10


async def _form(request: web.Request) -> MultiDict[str]:
    """The posted form's text fields, each name with all its values (the ticked users)."""
    limit = services(request).max_body
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(f"the body is larger than {limit} bytes")
    posted = await request.post()
    return MultiDict((k, v) for k, v in posted.items() if isinstance(v, str))


async def admin_bulk(request: web.Request) -> web.StreamResponse:
    """POST /admin/flera: confirm, then set one switch for the chosen users."""
    svc = services(request)
    acct = account(request)
    form = await _form(request)
    q = search.clean_query(form.get("q", ""))
    where = admin_url(q=q, sida=form.get("sida", ""))
    name = form.get("installning", "")
    if name not in service.BULK_SWITCHES:
        return back(where, err="Välj vilken inställning som ska ändras och försök igen.")
    value = form.get("varde") == "1"
    everyone = form.get("vilka") == "alla"
    directory = svc.config.directory
    if everyone:
        users = search.find_users(directory, acct, q)
    else:
        chosen = set(form.getall("anvandare", []))
        users = [u for u in search.find_users(directory, acct, "") if u.id in chosen]
    if not users:
        return back(
            where,
            err="Markera minst en användare i kolumnen ”Välj”, eller välj ”Alla som matchar"
            " sökningen”, och försök igen.",
        )
    confirmed = form.get("confirm") == "ja" and form.get("antal") == str(len(users))
    if not confirmed:
        changed_since = form.get("confirm") == "ja"
        return _confirm(request, users, name, value, everyone, q, form, changed_since)
    changed = await service.set_for_many(svc, acct, users, name, value)
    state = "påslagen" if value else "avstängd"
    same = len(users) - changed
    ok = f"{switch_text(name)} är {state} för {thousands(len(users))} användare." + (
        f" {thousands(same)} av dem hade det redan så." if same else ""
    )
    return back(where, ok=ok)


def _confirm(
    request: web.Request,
    users: list[User],
    name: str,
    value: bool,
    everyone: bool,
    q: str,
    form: MultiDict[str],
    changed_since: bool,
) -> web.Response:
    """The confirmation step: what changes, for how many, the first names."""
    count = len(users)
    context = {
        "switch_text": switch_text(name),
        "name": name,
        "value": value,
        "count": count,
        "count_text": thousands(count),
        "names": [u.name for u in users[:NAMES_SHOWN]],
        "more": thousands(max(0, count - NAMES_SHOWN)),
        "everyone": everyone,
        "q": q,
        "sida": form.get("sida", ""),
        "ids": [] if everyone else [u.id for u in users],
        "changed_since": changed_since,
        "cancel": admin_url(q=q, sida=form.get("sida", "")),
    }
    return render_page(
        request, "admin/confirm_bulk.html", context, title="Bekräfta", current="/admin"
    )
