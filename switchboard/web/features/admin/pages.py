"""The administrator's page (Administration): the voicemail switch, confirmed first (ALV-12);
the users searched and paged 50 at a time with their switches; many changed at once; lost
phones blocked (ALV-21, HAL-12); and the history of every change (issue 20)."""

from __future__ import annotations

import functools
from urllib.parse import urlencode

from aiohttp import web
from markupsafe import Markup

from routing.models import SharedPhone, User
from routing.numbers import national_format
from switchboard.web import paging
from switchboard.web.auth import Account
from switchboard.web.core import account, services
from switchboard.web.features.admin import history, search, service
from switchboard.web.features.admin.schemas import SWITCH_NAMES
from switchboard.web.features.contact_centre.service import require_unit_admin
from switchboard.web.layout import back, read_form
from switchboard.web.paging import Page, Pager, thousands
from switchboard.web.services import WebServices
from switchboard.web.templating import render_page

BLOCK_RESULTS = 20
PER_PAGE = 50  # users a page shows
PAGE_PARAMS = frozenset({"sida", "hsida"})
# "Markera alla på sidan" (shown only where scripts run): ticks or clears this page's users
SELECT_ALL_SCRIPT = """(function () {
  var button = document.getElementById("markera-alla");
  if (!button) { return; }
  var boxes = document.querySelectorAll('input[name="anvandare"]');
  button.hidden = false;
  button.addEventListener("click", function () {
    var all = Array.prototype.every.call(boxes, function (b) { return b.checked; });
    Array.prototype.forEach.call(boxes, function (b) { b.checked = !all; });
    button.textContent = all ? "Markera alla på sidan" : "Avmarkera alla på sidan";
  });
})();"""


def admin_url(**params: str | int) -> str:
    """/admin with the search and pages kept in the address (empty ones and first pages left
    out); `anchor` is the part after #."""
    anchor = str(params.pop("anchor", ""))
    kept = {
        k: str(v)
        for k, v in params.items()
        if str(v) != "" and not (k in PAGE_PARAMS and str(v) == "1")
    }
    query = urlencode(kept)
    return "/admin" + (f"?{query}" if query else "") + (f"#{anchor}" if anchor else "")


@functools.lru_cache(maxsize=20_000)
def _national(e164: str) -> str:
    return national_format(e164)  # phonenumbers: a quarter of a millisecond each, so kept


def numbers(entry: User | SharedPhone) -> list[str]:
    """A person's or shared phone's numbers in national form ("026-830 12")."""
    raw = [entry.extension, entry.mobile] if isinstance(entry, User) else [entry.mobile]
    return [_national(n) for n in raw if n]


def pager(pg: Page, param: str, others: dict[str, str | int], anchor: str) -> Pager:
    """The page links of one list, keeping the search and the other list's page."""
    return paging.pager(pg, lambda n: admin_url(**others, **{param: n}, anchor=anchor))


async def admin_page(request: web.Request) -> web.StreamResponse:
    """GET /admin: the voicemail switch, the users (search, pages, bulk), blocking, history."""
    svc = services(request)
    acct = account(request)
    directory = svc.config.directory
    q = search.clean_query(request.query.get("q", ""))
    found = search.find_users(directory, acct, q)
    pg = paging.page_of(len(found), paging.loose_page(request.query.get("sida")), PER_PAGE)
    overrides = svc.store.overrides()
    users = [
        {
            "id": u.id,
            "name": u.name,
            "unit": u.unit,
            "numbers": numbers(u),
            **{n: service.switch_value(overrides, u, n) for n in (*SWITCH_NAMES, "blocked")},
        }
        for u in pg.of(found)
    ]
    hpage_asked = paging.loose_page(request.query.get("hsida"))
    per = history.HISTORY_PER_PAGE
    total, _ = await service.history(svc, acct, 1, 0)
    hpg = paging.page_of(total, hpage_asked, per)
    _, changes = await service.history(svc, acct, per, (hpg.number - 1) * per)
    tz = svc.config.org.timezone
    sparr = search.clean_query(request.query.get("sparr", ""))
    keep: dict[str, str | int] = {"q": q, "sida": pg.number, "hsida": hpg.number, "sparr": sparr}
    context = {
        "voicemail_on": service.voicemail_for_all(svc),
        "q": q,
        "page": pg,
        "shown": pg.shown,
        "total_text": thousands(pg.total),
        "users": users,
        "pages": pager(pg, "sida", {k: v for k, v in keep.items() if k != "sida"}, "anvandare"),
        "history": [history.describe(c, directory, tz) for c in changes],
        "hpage": hpg,
        "history_total": thousands(hpg.total),
        "hpages": pager(hpg, "hsida", {k: v for k, v in keep.items() if k != "hsida"}, "historik"),
        "sparr": sparr,
        "phones": _phones(svc, search.find_phones(directory, acct, sparr, BLOCK_RESULTS)),
        "blocked": _phones(svc, _blocked_entries(svc, acct)),
        "scoped": sorted(acct.units),
        "script": Markup(SELECT_ALL_SCRIPT),  # a constant of this module, no data in it
    }
    return render_page(
        request, "admin/page.html", context, title="Administration", current="/admin"
    )


def _blocked_entries(svc: WebServices, acct: Account) -> list[User | SharedPhone]:
    """Every person and shared phone blocked now, of the units `acct` administers: those the
    administrators blocked, and those the directory blocked that nobody unblocked."""
    overrides = svc.store.overrides()
    d = svc.config.directory
    ids = {uid for (uid, name), on in overrides.items() if name == "blocked" and on}
    found = [e for e in (d.by_id.get(i) for i in ids) if isinstance(e, User | SharedPhone)]
    found += [
        e for e in search.blocked_in_directory(d) if overrides.get((e.id, "blocked")) is not False
    ]
    unique = {e.id: e for e in found if acct.administers(e.unit)}
    return search.by_name(list(unique.values()))


def _phones(svc: WebServices, entries: list[User | SharedPhone]) -> list[dict[str, object]]:
    overrides = svc.store.overrides()
    return [
        {
            "id": e.id,
            "name": e.name if isinstance(e, User) else e.designation,
            "kind": "Person" if isinstance(e, User) else "Delad telefon",
            "unit": e.unit,
            "numbers": numbers(e),
            "blocked": service.switch_value(overrides, e, "blocked"),
        }
        for e in entries
    ]


async def admin_voicemail(request: web.Request) -> web.StreamResponse:
    """POST /admin/rostbrevlada: the ALV-12 switch."""
    svc = services(request)
    form = await read_form(request)
    enabled = form.get("enabled") == "1"
    service.require_whole_organisation(account(request))  # HAL-12
    if form.get("confirm") != "ja":  # an organisation-wide switch is confirmed first
        return _confirm_voicemail(request, enabled)
    await service.set_voicemail_for_all(svc, enabled, account(request).user_id)
    return back("/admin", ok="Röstbrevlådan är " + ("påslagen." if enabled else "avstängd."))


def _confirm_voicemail(request: web.Request, enabled: bool) -> web.Response:
    """The confirmation step of the organisation-wide voicemail switch (ALV-12)."""
    svc = services(request)
    affected = sum(1 for u in svc.config.directory.users if u.extension)
    context = {
        "enabled": enabled,
        "what": "slå på" if enabled else "stänga av",
        "affected": affected,
        "affected_text": thousands(affected),
    }
    return render_page(
        request, "admin/confirm_voicemail.html", context, title="Bekräfta", current="/admin"
    )


async def admin_user(request: web.Request) -> web.StreamResponse:
    """POST /admin/anvandare/{user_id}: one user's switches (back to the same search and page)."""
    svc = services(request)
    form = await read_form(request)
    user_id = request.match_info["user_id"]
    data: dict[str, object] = {name: name in form for name in SWITCH_NAMES}
    require_unit_admin(svc, account(request), user_id)  # HAL-12
    await service.set_user_switches(svc, user_id, account(request).user_id, data)
    user = svc.config.directory.user(user_id)
    name = user.name if user is not None else user_id
    where = admin_url(q=form.get("q", ""), sida=form.get("sida", ""))
    return back(where, ok=f"Inställningarna för {name} är sparade.")
