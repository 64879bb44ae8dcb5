"""ALV-11 on the web: the owner's own greeting (upload, choose, listen) and the administrator's
list of who still has the generated one.

API: `GET/PUT /api/me/greeting` (the choice), `PUT /api/me/greeting/recording` (an audio/wav
body, streamed with its own size cap), `GET /api/me/greeting/audio`; `GET /api/admin/greetings`.
Pages: the section under "Mina röstmeddelanden" (`POST /rostmeddelanden/halsning` sets the
choice; the upload goes to the API from a small script, with the CSRF header) and
`GET /admin/halsningsfraser`.
"""

from __future__ import annotations

from aiohttp import web

from switchboard.web import api, pages
from switchboard.web.core import ADMIN, STAFF, Endpoint, account, services
from switchboard.web.errors import BodyTooLarge, InvalidField
from switchboard.web.html import e, hidden_csrf
from switchboard.web.http import read_json, text_field
from switchboard.web.services import WebServices
from voicemail import policy
from voicemail.owner_greeting import (
    MAX_UPLOAD_BYTES,
    GreetingRefused,
    GreetingState,
    OwnerGreetings,
    greetings_of,
)

CHOICE_TEXT = {
    "generated": "Den automatiska hälsningen (från katalogen)",
    "uploaded": "Min uppladdade inspelning",
    "phone": "Hälsningen jag spelat in i telefonen",
}
PATH = "/rostmeddelanden/halsning"


def greetings(svc: WebServices) -> OwnerGreetings:
    """The register's owners' greetings (shared with the calls)."""
    return greetings_of(api.register_of(svc))


def state_json(state: GreetingState, svc: WebServices, user_id: str) -> dict[str, object]:
    """The owner's greeting as JSON, with the generated text."""
    user = svc.config.directory.user(user_id)
    return {
        "choice": state.choice,
        "has_uploaded": state.uploaded_sha256 is not None,
        "has_phone": state.phone_sha256 is not None,
        "generated_text": policy.default_greeting(
            user.name if user else user_id, svc.config.org.name
        ),
        "updated_at": state.updated_at.isoformat() if state.updated_at else None,
    }


async def get_greeting(request: web.Request) -> web.StreamResponse:
    """GET /api/me/greeting."""
    svc, me = services(request), account(request).user_id
    return web.json_response(state_json(await greetings(svc).state(me), svc, me))


async def put_greeting(request: web.Request) -> web.StreamResponse:
    """PUT /api/me/greeting {choice}."""
    svc, me = services(request), account(request).user_id
    data = await read_json(request, svc.max_body)
    choice = text_field(data, "choice", max_len=20, required=True) or ""
    try:
        state = await greetings(svc).choose(me, choice, me, svc.now())
    except GreetingRefused as exc:
        raise InvalidField("choice", exc.why) from None
    return web.json_response(state_json(state, svc, me))


async def read_capped(request: web.Request, cap: int) -> bytes:
    """The request body, refused beyond `cap` bytes (streamed: not the app's size limit)."""
    if request.content_length is not None and request.content_length > cap:
        raise BodyTooLarge(f"the recording is larger than {cap} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > cap:
            raise BodyTooLarge(f"the recording is larger than {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def put_recording(request: web.Request) -> web.StreamResponse:
    """PUT /api/me/greeting/recording: an audio/wav body becomes the owner's greeting."""
    svc, me = services(request), account(request).user_id
    data = await read_capped(request, MAX_UPLOAD_BYTES)
    try:
        state = await greetings(svc).upload(me, data, me, svc.now())
    except GreetingRefused as exc:
        raise InvalidField("recording", exc.why) from None
    return web.json_response(state_json(state, svc, me))


async def greeting_audio(request: web.Request) -> web.StreamResponse:
    """GET /api/me/greeting/audio: the owner's own chosen (else uploaded) recording."""
    svc, me = services(request), account(request).user_id
    g = greetings(svc)
    state = await g.state(me)
    sha = state.chosen_sha256 or state.uploaded_sha256 or state.phone_sha256
    if sha is None:
        raise web.HTTPNotFound(text="no recorded greeting")
    return web.FileResponse(
        g.path_for(sha), headers={"Content-Type": "audio/wav", "Cache-Control": "no-store"}
    )


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
        f'<form method="post" action="{PATH}">{hidden_csrf(csrf)}'
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
    form = await pages._form(request)
    try:
        await greetings(svc).choose(me, form.get("choice", ""), me, svc.now())
    except GreetingRefused as exc:
        return pages._back("/rostmeddelanden", err=exc.why)
    return pages._back("/rostmeddelanden", ok="Ditt val av hälsning är sparat.")


async def admin_json(svc: WebServices) -> list[dict[str, object]]:
    """ALV-11: every user with a mailbox and the greeting callers hear."""
    reg = api.register_of(svc)
    org = svc.org()
    states = await greetings(svc).states()
    out: list[dict[str, object]] = []
    for u in org.directory.users:
        if not policy.has_mailbox(u, reg.settings):
            continue
        state = states.get(u.id, GreetingState(u.id, "generated"))
        out.append(
            {
                "user_id": u.id,
                "name": u.name,
                "choice": state.choice,
                "generated": state.chosen_sha256 is None,
            }
        )
    return out


async def admin_greetings(request: web.Request) -> web.StreamResponse:
    """GET /api/admin/greetings."""
    return web.json_response({"users": await admin_json(services(request))})


async def admin_page(request: web.Request) -> web.StreamResponse:
    """GET /admin/halsningsfraser: who still has the generated greeting."""
    users = await admin_json(services(request))
    still = [u for u in users if u["generated"]]
    rows = "".join(
        f'<tr><td data-label="Namn">{e(u["name"])}</td>'
        f'<td data-label="Hälsning">{e(CHOICE_TEXT.get(str(u["choice"]), u["choice"]))}</td></tr>'
        for u in users
    )
    body = (
        f"<p>{len(still)} av {len(users)} med röstbrevlåda har fortfarande den automatiska "
        "hälsningen. Påminn dem om att spela in en egen under Mina röstmeddelanden eller i "
        "telefonen.</p>"
        '<table id="greetings"><thead><tr><th scope="col">Namn</th>'
        f'<th scope="col">Hälsning</th></tr></thead><tbody>{rows}</tbody></table>'
    )
    return pages._render(request, "Hälsningsfraser", body, "/admin")


def endpoints() -> list[Endpoint]:
    """The greeting routes (added to the table in `switchboard.web.routes`)."""
    choice = {
        "type": "object",
        "required": ["choice"],
        "properties": {"choice": {"type": "string", "enum": list(CHOICE_TEXT)}},
    }
    return [
        Endpoint("GET", "/api/me/greeting", get_greeting, STAFF, "My greeting (ALV-11)"),
        Endpoint("PUT", "/api/me/greeting", put_greeting, STAFF, "Choose my greeting", body=choice),
        Endpoint(
            "PUT",
            "/api/me/greeting/recording",
            put_recording,
            STAFF,
            "Upload my greeting: an audio/wav body (normalised to 8 kHz)",
        ),
        Endpoint(
            "GET",
            "/api/me/greeting/audio",
            greeting_audio,
            STAFF,
            "My recorded greeting",
            produces="audio/wav",
        ),
        Endpoint(
            "GET",
            "/api/admin/greetings",
            admin_greetings,
            ADMIN,
            "Who has their own greeting and who the generated one (ALV-11)",
        ),
        Endpoint("POST", PATH, choose_from_page, STAFF, "Choose my greeting", "page"),
        Endpoint("GET", "/admin/halsningsfraser", admin_page, ADMIN, "Greetings", "page"),
    ]
