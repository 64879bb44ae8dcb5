"""The inbox's pages in Swedish: Mina röstmeddelanden (the messages, marked heard, and my
greeting: choose, upload through the API from a small script with the CSRF header, listen), and
the administrator's greetings page (who still has the generated greeting). Templates:
`templates/inbox/`."""

from __future__ import annotations

from aiohttp import web
from markupsafe import Markup

from switchboard.web.core import account, services
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
TITLE = "Mina röstmeddelanden"
MAX_ITEMS = 5000
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
    messages = await service.inbox(svc, me, MAX_ITEMS)
    delegate_view = any(not m.mine for m in messages) or bool(
        owner.watched_owners(me, svc.config.org.directory)[1:]
    )
    context |= {
        "messages": [
            {"m": m, "phone": PHONE_TEXT.get(m.phone_folder or "", NOT_ON_PHONE)} for m in messages
        ],
        "unheard": sum(1 for m in messages if not m.heard),
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


async def inbox_mark_heard(request: web.Request) -> web.StreamResponse:
    """POST /rostmeddelanden/{ref}/hord: mark heard from the page."""
    svc = services(request)
    ref = record_ref(request.match_info["ref"])
    try:
        await owner.mark_heard(register_of(svc), ref, account(request).user_id, svc.now())
    except NotPermitted:
        return back(PATH, err="Bara brevlådans ägare och ombud kan markera meddelandet som hört.")
    return back(PATH, ok="Meddelandet är markerat som hört.")


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


async def admin_page(request: web.Request) -> web.StreamResponse:
    """GET /admin/halsningsfraser: who still has the generated greeting."""
    users = await service.greeting_users(services(request))
    context = {
        "users": [(u.name, CHOICE_TEXT.get(u.choice, u.choice)) for u in users],
        "still": sum(1 for u in users if u.generated),
    }
    return render_page(
        request, "inbox/greetings.html", context, title="Hälsningsfraser", current="/admin"
    )
