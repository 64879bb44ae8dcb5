"""The inbox's pages in Swedish: Mina röstmeddelanden (the messages, marked heard, and my
greeting: choose, upload through the API from a small script with the CSRF header, listen), and
the administrator's greetings page (who still has the generated greeting). Templates:
`templates/inbox/`."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web
from markupsafe import Markup

from switchboard.web import paging
from switchboard.web.core import account, services
from switchboard.web.features.admin import search
from switchboard.web.features.inbox import service
from switchboard.web.features.registry.service import register_of
from switchboard.web.http import record_ref
from switchboard.web.layout import back, read_form
from switchboard.web.templating import render_page
from voicemail import owner, policy
from voicemail.errors import NotPermitted
from voicemail.owner_greeting import GreetingRefused

PATH = "/rostmeddelanden"
GREETING_PATH = "/rostmeddelanden/halsning"
ADMIN_PATH = "/admin/halsningsfraser"
TITLE = "Mina röstmeddelanden"
MAX_ITEMS = 5000
PER_PAGE = 50  # messages a page shows, newest first
PHONE_TEXT = {"INBOX": "Ny", "Urgent": "Ny (brådskande)", "Old": "Avlyssnad"}
NOT_ON_PHONE = "Finns inte kvar i telefonen"
CHOICE_TEXT = {
    "generated": "Den automatiska hälsningen (från katalogen)",
    "uploaded": "Min uppladdade inspelning",
    "phone": "Hälsningen jag spelat in i telefonen",
}


async def inbox_page(request: web.Request) -> web.StreamResponse:
    """GET /rostmeddelanden: the owner's and delegates' messages, and my greeting."""
    svc = services(request)
    me = account(request).user_id
    context: dict[str, object] = {"in_service": svc.register is not None, "messages": []}
    if svc.register is None:
        return render_page(request, "inbox/inbox.html", context, title=TITLE, current=PATH)
    asked = paging.loose_page(request.query.get("sida"))
    box = await service.inbox_page(svc, me, MAX_ITEMS, asked, PER_PAGE)
    delegate_view = box.any_delegated or bool(
        owner.watched_owners(me, svc.config.org.directory)[1:]
    )
    context |= {
        "messages": [
            {"m": m, "phone": PHONE_TEXT.get(m.phone_folder or "", NOT_ON_PHONE)}
            for m in box.messages
        ],
        "page": box.page,
        "total_text": paging.thousands(box.page.total),
        "pager": paging.pager(box.page, inbox_url),
        "unheard": box.unheard,
        "delegate_view": delegate_view,
        "greeting": None,
    }
    user = svc.org().directory.user(me)
    if user is not None and policy.has_mailbox(user, register_of(svc).settings):
        state = await service.greetings(svc).state(me)
        have = {
            "generated": True,
            "uploaded": state.uploaded_sha256 is not None,
            "phone": state.phone_sha256 is not None,
        }
        context["greeting"] = {
            "choice": CHOICE_TEXT.get(state.choice, state.choice),
            "generated": policy.default_greeting(user.name, svc.config.org.name),
            "player": bool(state.uploaded_sha256 or state.phone_sha256),
            "options": [
                (value, text, state.choice == value, have[value])
                for value, text in CHOICE_TEXT.items()
            ],
        }
        context["script"] = Markup(UPLOAD_SCRIPT)  # a constant of this module, no data in it
    return render_page(request, "inbox/inbox.html", context, title=TITLE, current=PATH)


def inbox_url(page: int) -> str:
    """The inbox at `page` (the first page without `sida`)."""
    return PATH + (f"?sida={page}" if page > 1 else "")


async def inbox_mark_heard(request: web.Request) -> web.StreamResponse:
    """POST /rostmeddelanden/{ref}/hord: mark heard from the page (back to the same page)."""
    svc = services(request)
    ref = record_ref(request.match_info["ref"])
    form = await read_form(request)
    where = inbox_url(paging.loose_page(form.get("sida")))
    try:
        await owner.mark_heard(register_of(svc), ref, account(request).user_id, svc.now())
    except NotPermitted:
        return back(where, err="Bara brevlådans ägare och ombud kan markera meddelandet som hört.")
    return back(where, ok="Meddelandet är markerat som hört.")


# ---------------------------------------------------------------- ALV-11 my greeting


UPLOAD_SCRIPT = """
document.getElementById('greeting-upload')?.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const file = document.getElementById('greeting-file').files[0];
  if (!file) return;
  const csrf = document.querySelector('input[name=csrf]').value;
  const resp = await fetch('/api/me/greeting/recording', {method: 'PUT', body: file,
    headers: {'Content-Type': 'audio/wav', 'X-CSRF-Token': csrf}});
  const body = await resp.json().catch(() => ({}));
  const q = resp.ok ? 'ok=' + encodeURIComponent('Din inspelning används nu som hälsning.')
    : 'fel=' + encodeURIComponent(body.message || 'Uppladdningen misslyckades.');
  location.href = '/rostmeddelanden?' + q + '#halsning';
});
"""


async def choose_from_page(request: web.Request) -> web.StreamResponse:
    """POST /rostmeddelanden/halsning: the choice from the page's form."""
    svc, me = services(request), account(request).user_id
    form = await read_form(request)
    try:
        await service.greetings(svc).choose(me, form.get("choice", ""), me, svc.now())
    except GreetingRefused as exc:
        return back("/rostmeddelanden", err=exc.why)
    return back("/rostmeddelanden", ok="Ditt val av hälsning är sparat.")


def greetings_url(q: str, page: int) -> str:
    """The greetings page with the search `q` at `page` (empty ones and page 1 left out)."""
    params = {k: v for k, v in (("q", q), ("sida", str(page) if page > 1 else "")) if v}
    return ADMIN_PATH + ("?" + urlencode(params) if params else "")


async def admin_page(request: web.Request) -> web.StreamResponse:
    """GET /admin/halsningsfraser?q=&sida=: who still has the generated greeting, searched by
    name, unit or id as the administrator's page searches (the units `acct` administers) and
    shown 50 at a time."""
    svc, acct = services(request), account(request)
    q = search.clean_query(request.query.get("q", ""))
    directory = svc.config.directory
    mine = search.find_users(directory, acct, "")  # by name: the order of the list
    order = {u.id: n for n, u in enumerate(mine)}
    users = sorted(await service.greeting_users(svc, order), key=lambda g: order.get(g.user_id, 0))
    found = users
    if q:
        matching = {u.id for u in search.find_users(directory, acct, q)}
        found = [g for g in users if g.user_id in matching]
    pg = paging.page_of(len(found), paging.loose_page(request.query.get("sida")), PER_PAGE)
    context = {
        "q": q,
        "users": [(u.name, CHOICE_TEXT.get(u.choice, u.choice)) for u in pg.of(found)],
        "still": paging.thousands(sum(1 for u in users if u.generated)),
        "all": paging.thousands(len(users)),
        "page": pg,
        "pager": paging.pager(pg, lambda n: greetings_url(q, n)),
    }
    return render_page(
        request, "inbox/greetings.html", context, title="Hälsningsfraser", current="/admin"
    )
