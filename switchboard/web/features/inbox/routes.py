"""The inbox's endpoints: my messages and marking one heard, my greeting (choose, upload,
listen) and the administrator's list (API); the inbox page and the greetings page."""

from __future__ import annotations

from aiohttp import web

from switchboard.web.core import ADMIN, STAFF, Endpoint, account, services
from switchboard.web.errors import BodyTooLarge, InvalidField
from switchboard.web.features.inbox import pages, service
from switchboard.web.features.inbox.schemas import CHOICE_BODY
from switchboard.web.features.registry.service import register_of
from switchboard.web.http import int_query, read_json, record_ref, text_field
from voicemail import owner
from voicemail.owner_greeting import MAX_UPLOAD_BYTES, GreetingRefused


async def get_inbox(request: web.Request) -> web.StreamResponse:
    """GET /api/inbox."""
    svc = services(request)
    limit = int_query(request, "limit", pages.MAX_ITEMS, 1, pages.MAX_ITEMS)
    found = await service.inbox(svc, account(request).user_id, limit)
    return web.json_response({"messages": [m.as_json() for m in found]})


async def post_heard(request: web.Request) -> web.StreamResponse:
    """POST /api/inbox/{ref}/heard."""
    svc = services(request)
    ref = record_ref(request.match_info["ref"])
    rec = await owner.mark_heard(register_of(svc), ref, account(request).user_id, svc.now())
    return web.json_response({"id": rec.id, "heard": rec.first_heard_at is not None})


async def get_greeting(request: web.Request) -> web.StreamResponse:
    """GET /api/me/greeting."""
    svc, me = services(request), account(request).user_id
    state = await service.greetings(svc).state(me)
    return web.json_response(service.greeting_view(state, svc, me).as_json())


async def put_greeting(request: web.Request) -> web.StreamResponse:
    """PUT /api/me/greeting {choice}."""
    svc, me = services(request), account(request).user_id
    data = await read_json(request, svc.max_body)
    choice = text_field(data, "choice", max_len=20, required=True) or ""
    try:
        state = await service.greetings(svc).choose(me, choice, me, svc.now())
    except GreetingRefused as exc:
        raise InvalidField("choice", exc.why) from None
    return web.json_response(service.greeting_view(state, svc, me).as_json())


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
        state = await service.greetings(svc).upload(me, data, me, svc.now())
    except GreetingRefused as exc:
        raise InvalidField("recording", exc.why) from None
    return web.json_response(service.greeting_view(state, svc, me).as_json())


async def greeting_audio(request: web.Request) -> web.StreamResponse:
    """GET /api/me/greeting/audio: the owner's own chosen (else uploaded) recording."""
    svc, me = services(request), account(request).user_id
    g = service.greetings(svc)
    state = await g.state(me)
    sha = state.chosen_sha256 or state.uploaded_sha256 or state.phone_sha256
    if sha is None:
        raise web.HTTPNotFound(text="no recorded greeting")
    return web.FileResponse(
        g.path_for(sha), headers={"Content-Type": "audio/wav", "Cache-Control": "no-store"}
    )


async def admin_greetings(request: web.Request) -> web.StreamResponse:
    """GET /api/admin/greetings."""
    users = await service.greeting_users(services(request))
    return web.json_response({"users": [u.as_json() for u in users]})


def api_endpoints() -> list[Endpoint]:
    """The inbox's and the greeting's API."""
    return [
        Endpoint(
            "GET",
            "/api/inbox",
            get_inbox,
            STAFF,
            "My voicemail: own and delegated mailboxes, newest first (ALV-23)",
            query={"limit": f"at most this many messages (default {pages.MAX_ITEMS})"},
        ),
        Endpoint(
            "POST",
            "/api/inbox/{ref}/heard",
            post_heard,
            STAFF,
            "Mark a message heard (owner and delegates; audited, ALV-13)",
        ),
        Endpoint("GET", "/api/me/greeting", get_greeting, STAFF, "My greeting (ALV-11)"),
        Endpoint(
            "PUT", "/api/me/greeting", put_greeting, STAFF, "Choose my greeting", body=CHOICE_BODY
        ),
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
    ]


def page_endpoints() -> list[Endpoint]:
    """Mina röstmeddelanden, the greeting's form, the administrator's greetings page."""
    return [
        Endpoint("GET", pages.PATH, pages.inbox_page, STAFF, "Mina röstmeddelanden", "page"),
        Endpoint(
            "POST", pages.PATH + "/{ref}/hord", pages.inbox_mark_heard, STAFF, "Mark heard", "page"
        ),
        Endpoint(
            "POST", pages.GREETING_PATH, pages.choose_from_page, STAFF, "Choose my greeting", "page"
        ),
        Endpoint("GET", "/admin/halsningsfraser", pages.admin_page, ADMIN, "Greetings", "page"),
    ]
