"""The inbox's pages in Swedish: Mina röstmeddelanden (the messages, marked heard, and my
greeting: choose, upload through the API from a small script with the CSRF header, listen), and
the administrator's greetings page (who still has the generated greeting)."""

from __future__ import annotations

from aiohttp import web

from switchboard.web.core import account, csrf_token, services
from switchboard.web.features.inbox import service
from switchboard.web.features.inbox.schemas import InboxMessage
from switchboard.web.features.registry.service import register_of
from switchboard.web.html import e, hidden_csrf
from switchboard.web.http import record_ref
from switchboard.web.layout import back, flash, read_form, render
from voicemail import owner, policy
from voicemail.errors import NotPermitted
from voicemail.owner_greeting import GreetingRefused, GreetingState

PATH = "/rostmeddelanden"
GREETING_PATH = "/rostmeddelanden/halsning"
TITLE = "Mina röstmeddelanden"
MAX_ITEMS = 5000
PHONE_TEXT = {"INBOX": "Ny", "Urgent": "Ny (brådskande)", "Old": "Avlyssnad"}
CHOICE_TEXT = {
    "generated": "Den automatiska hälsningen (från katalogen)",
    "uploaded": "Min uppladdade inspelning",
    "phone": "Hälsningen jag spelat in i telefonen",
}


def _row(m: InboxMessage, csrf: str, delegate_view: bool) -> str:
    heard = (
        '<span class="badge available">Hörd</span>'
        if m.heard
        else (
            '<span class="badge redirected">Ny</span>'
            f'<form method="post" action="{PATH}/{e(m.id)}/hord">{hidden_csrf(csrf)}'
            '<button type="submit" class="secondary">Markera som hörd</button></form>'
        )
    )
    audio = (
        f'<audio controls preload="none" src="{e(m.audio)}">'
        "Din webbläsare kan inte spela upp ljudet.</audio>"
        if m.audio
        else "Ljudet är gallrat."
    )
    phone = PHONE_TEXT.get(m.phone_folder or "", "Finns inte kvar i telefonen")
    whose = f'<td data-label="Brevlåda">{e(m.owner_name)}</td>' if delegate_view else ""
    name = f"{e(m.caller_name)}<br>" if m.caller_name else ""
    return (
        f'<tr id="msg-{e(m.id)}">'
        f'<td data-label="Inkom">{e(m.arrived_local)}</td>{whose}'
        f'<td data-label="Från">{name}{e(m.caller_number)}</td>'
        f'<td data-label="Längd">{e(m.duration_s)} s</td>'
        f'<td data-label="Lyssna">{audio}</td>'
        f'<td data-label="Status">{heard}</td>'
        f'<td data-label="I telefonen">{e(phone)}</td>'
        f'<td data-label="Registrering">{e(m.registration_number)}<br>'
        f"{e(m.register_state)}</td></tr>"
    )


async def inbox_page(request: web.Request) -> web.StreamResponse:
    """GET /rostmeddelanden: the owner's and delegates' messages."""
    svc = services(request)
    me = account(request).user_id
    if svc.register is None:
        body = "<p>Röstbrevlådan är inte i drift här. Kontakta IT-supporten.</p>"
        return render(request, TITLE, body, PATH)
    messages = await service.inbox(svc, me, MAX_ITEMS)
    csrf = csrf_token(request)
    delegate_view = any(not m.mine for m in messages) or bool(
        owner.watched_owners(me, svc.config.org.directory)[1:]
    )
    unheard = sum(1 for m in messages if not m.heard)
    rows = "".join(_row(m, csrf, delegate_view) for m in messages)
    whose = '<th scope="col">Brevlåda</th>' if delegate_view else ""
    intro = (
        f"<p>{len(messages)} meddelanden, {unheard} inte hörda. Lyssna av dem dagligen; "
        "du kan också lyssna i telefonen. Varje uppspelning loggas.</p>"
        if messages
        else "<p>Du har inga röstmeddelanden.</p>"
    )
    body = flash(request) + intro
    if messages:
        body += (
            '<table id="inbox"><thead><tr><th scope="col">Inkom</th>'
            f'{whose}<th scope="col">Från</th><th scope="col">Längd</th>'
            '<th scope="col">Lyssna</th><th scope="col">Status</th>'
            '<th scope="col">I telefonen</th><th scope="col">Registrering</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )
    user = svc.org().directory.user(me)
    if user is not None and policy.has_mailbox(user, register_of(svc).settings):
        state = await service.greetings(svc).state(me)
        generated = policy.default_greeting(user.name if user else me, svc.config.org.name)
        body += section(state, csrf, generated)
        return render(request, TITLE, body, PATH, UPLOAD_SCRIPT)
    return render(request, TITLE, body, PATH)


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


def section(state: GreetingState, csrf: str, generated_text: str) -> str:
    """The greeting part of the inbox page."""
    options = []
    for value, text in CHOICE_TEXT.items():
        have = {
            "generated": True,
            "uploaded": state.uploaded_sha256 is not None,
            "phone": state.phone_sha256 is not None,
        }[value]
        checked = " checked" if state.choice == value else ""
        disabled = "" if have else " disabled"
        options.append(
            f'<label style="font-weight:400"><input type="radio" name="choice" '
            f'value="{value}"{checked}{disabled}> {e(text)}</label>'
        )
    player = (
        '<audio controls preload="none" src="/api/me/greeting/audio">'
        "Din webbläsare kan inte spela upp ljudet.</audio>"
        if state.uploaded_sha256 or state.phone_sha256
        else ""
    )
    return (
        '<h2 id="halsning">Min hälsningsfras</h2>'
        f'<p>Den som ringer hör i dag: <strong id="greeting-choice">'
        f"{e(CHOICE_TEXT.get(state.choice, state.choice))}</strong>.</p>"
        f'<p class="muted">Den automatiska lyder: "{e(generated_text)}"</p>{player}'
        f'<form method="post" action="{GREETING_PATH}">{hidden_csrf(csrf)}'
        f"<fieldset><legend>Välj hälsning</legend>{''.join(options)}</fieldset>"
        '<button type="submit">Spara val</button></form>'
        '<form id="greeting-upload"><label for="greeting-file">Ladda upp en egen inspelning '
        "(WAV, högst 10 MB, 1 sekund – 2 minuter)</label>"
        '<input type="file" id="greeting-file" accept="audio/wav,.wav" required>'
        '<button type="submit">Ladda upp</button></form>'
        '<p class="muted">Du kan också spela in hälsningen i telefonen: ring röstbrevlådan, '
        "välj 0 och sedan 1.</p>"
    )


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
    still = [u for u in users if u.generated]
    rows = "".join(
        f'<tr><td data-label="Namn">{e(u.name)}</td>'
        f'<td data-label="Hälsning">{e(CHOICE_TEXT.get(u.choice, u.choice))}</td></tr>'
        for u in users
    )
    body = (
        f"<p>{len(still)} av {len(users)} med röstbrevlåda har fortfarande den automatiska "
        "hälsningen. Påminn dem om att spela in en egen under Mina röstmeddelanden eller i "
        "telefonen.</p>"
        '<table id="greetings"><thead><tr><th scope="col">Namn</th>'
        f'<th scope="col">Hälsning</th></tr></thead><tbody>{rows}</tbody></table>'
    )
    return render(request, "Hälsningsfraser", body, "/admin")
