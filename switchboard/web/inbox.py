"""Mina röstmeddelanden: the mailbox owner's and delegates' web inbox (ALV-23, ALV-14, HAL-08).

API: `GET /api/inbox` (the signed-in user's and their delegators' messages, newest first),
`POST /api/inbox/{ref}/heard` (mark heard, audited). Page: `GET /rostmeddelanden`, and the form
`POST /rostmeddelanden/{ref}/hord`. Listening uses the register's audited playback path
(`GET /api/registry/records/{ref}/audio`, ALV-14). Messages follow the user who held the mailbox
when they arrived, never the number (HAL-08).
"""

from __future__ import annotations

from aiohttp import web

from routing.models import Directory
from routing.numbers import national_format
from switchboard.web import api, inbox_greeting, pages
from switchboard.web.core import STAFF, Endpoint, account, csrf_token, services
from switchboard.web.html import e, hidden_csrf
from switchboard.web.http import int_query, record_ref
from switchboard.web.services import WebServices
from voicemail import owner, policy
from voicemail.errors import NotPermitted
from voicemail.models import Classification, PublicRecord, RecordStatus

PATH = "/rostmeddelanden"
TITLE = "Mina röstmeddelanden"
MAX_ITEMS = 5000
PHONE_TEXT = {"INBOX": "Ny", "Urgent": "Ny (brådskande)", "Old": "Avlyssnad"}


def numbers_of(directory: Directory) -> dict[str, str]:
    """Directory numbers (extension, mobile) to their holder's name."""
    out: dict[str, str] = {}
    for u in directory.users:
        for number in (u.extension, u.mobile):
            if number:
                out.setdefault(number, u.name)
    return out


def caller_text(record: PublicRecord, names: dict[str, str]) -> tuple[str, str | None]:
    """The caller's number in national form and a name where one is known (the callerid, else
    the directory's holder of that number)."""
    number = record.caller_number or ""
    shown = national_format(number) if number.startswith("+") else number
    return shown or "okänt nummer", record.caller_name or names.get(number)


def register_state(record: PublicRecord) -> str:
    """Where the record is in registration, in Swedish (REC-02)."""
    if record.status is RecordStatus.DISPOSED:
        return "Gallrad"
    if record.classification is Classification.PUBLIC_REGISTERED:
        return f"Diarieförd ({record.case_reference})" if record.case_reference else "Diarieförd"
    if record.classification is not None:
        return pages.CLASSIFICATION_TEXT.get(record.classification, record.classification.value)
    return "Väntar på registratorn"


def item_json(item: owner.InboxItem, svc: WebServices, names: dict[str, str]) -> dict[str, object]:
    """One message for the API and the page."""
    r, org = item.record, svc.config.org
    number, name = caller_text(r, names)
    holder = org.directory.user(item.owner_id)
    return {
        "id": r.id,
        "registration_number": r.registration_number,
        "arrived_local": r.arrived_at.astimezone(org.timezone).strftime("%Y-%m-%d %H.%M"),
        "arrived_at": r.arrived_at.isoformat(),
        "caller_number": number,
        "caller_name": name,
        "duration_s": r.duration_s,
        "heard": r.first_heard_at is not None,
        "heard_at": r.first_heard_at.isoformat() if r.first_heard_at else None,
        "status": r.status.value,
        "classification": r.classification.value if r.classification else None,
        "registered": r.classification is Classification.PUBLIC_REGISTERED,
        "register_state": register_state(r),
        "owner_id": item.owner_id,
        "owner_name": holder.name if holder else item.owner_id,
        "mine": item.mine,
        "phone_folder": item.phone_folder,
        "audio": None
        if r.status is RecordStatus.DISPOSED
        else f"/api/registry/records/{r.id}/audio",
    }


async def inbox_json(svc: WebServices, user_id: str, limit: int) -> list[dict[str, object]]:
    """The signed-in user's inbox as JSON rows."""
    items = await owner.inbox(api.register_of(svc), user_id, limit)
    names = numbers_of(svc.config.org.directory)
    return [item_json(i, svc, names) for i in items]


async def get_inbox(request: web.Request) -> web.StreamResponse:
    """GET /api/inbox."""
    svc = services(request)
    limit = int_query(request, "limit", MAX_ITEMS, 1, MAX_ITEMS)
    return web.json_response({"messages": await inbox_json(svc, account(request).user_id, limit)})


async def post_heard(request: web.Request) -> web.StreamResponse:
    """POST /api/inbox/{ref}/heard."""
    svc = services(request)
    ref = record_ref(request.match_info["ref"])
    rec = await owner.mark_heard(api.register_of(svc), ref, account(request).user_id, svc.now())
    return web.json_response({"id": rec.id, "heard": rec.first_heard_at is not None})


def _row(m: dict[str, object], csrf: str, delegate_view: bool) -> str:
    heard = (
        '<span class="badge available">Hörd</span>'
        if m["heard"]
        else (
            '<span class="badge redirected">Ny</span>'
            f'<form method="post" action="{PATH}/{e(m["id"])}/hord">{hidden_csrf(csrf)}'
            '<button type="submit" class="secondary">Markera som hörd</button></form>'
        )
    )
    audio = (
        f'<audio controls preload="none" src="{e(m["audio"])}">'
        "Din webbläsare kan inte spela upp ljudet.</audio>"
        if m["audio"]
        else "Ljudet är gallrat."
    )
    phone = PHONE_TEXT.get(str(m["phone_folder"]), "Finns inte kvar i telefonen")
    whose = f'<td data-label="Brevlåda">{e(m["owner_name"])}</td>' if delegate_view else ""
    name = f"{e(m['caller_name'])}<br>" if m["caller_name"] else ""
    return (
        f'<tr id="msg-{e(m["id"])}">'
        f'<td data-label="Inkom">{e(m["arrived_local"])}</td>{whose}'
        f'<td data-label="Från">{name}{e(m["caller_number"])}</td>'
        f'<td data-label="Längd">{e(m["duration_s"])} s</td>'
        f'<td data-label="Lyssna">{audio}</td>'
        f'<td data-label="Status">{heard}</td>'
        f'<td data-label="I telefonen">{e(phone)}</td>'
        f'<td data-label="Registrering">{e(m["registration_number"])}<br>'
        f"{e(m['register_state'])}</td></tr>"
    )


async def inbox_page(request: web.Request) -> web.StreamResponse:
    """GET /rostmeddelanden: the owner's and delegates' messages."""
    svc = services(request)
    me = account(request).user_id
    if svc.register is None:
        body = "<p>Röstbrevlådan är inte i drift här. Kontakta IT-supporten.</p>"
        return pages._render(request, TITLE, body, PATH)
    messages = await inbox_json(svc, me, MAX_ITEMS)
    csrf = csrf_token(request)
    delegate_view = any(not m["mine"] for m in messages) or bool(
        owner.watched_owners(me, svc.config.org.directory)[1:]
    )
    unheard = sum(1 for m in messages if not m["heard"])
    rows = "".join(_row(m, csrf, delegate_view) for m in messages)
    whose = '<th scope="col">Brevlåda</th>' if delegate_view else ""
    intro = (
        f"<p>{len(messages)} meddelanden, {unheard} inte hörda. Lyssna av dem dagligen; "
        "du kan också lyssna i telefonen. Varje uppspelning loggas.</p>"
        if messages
        else "<p>Du har inga röstmeddelanden.</p>"
    )
    body = pages._flash(request) + intro
    if messages:
        body += (
            '<table id="inbox"><thead><tr><th scope="col">Inkom</th>'
            f'{whose}<th scope="col">Från</th><th scope="col">Längd</th>'
            '<th scope="col">Lyssna</th><th scope="col">Status</th>'
            '<th scope="col">I telefonen</th><th scope="col">Registrering</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )
    user = svc.org().directory.user(me)
    if user is not None and policy.has_mailbox(user, api.register_of(svc).settings):
        state = await inbox_greeting.greetings(svc).state(me)
        generated = policy.default_greeting(user.name if user else me, svc.config.org.name)
        body += inbox_greeting.section(state, csrf, generated)
        return pages._render(request, TITLE, body, PATH, inbox_greeting.UPLOAD_SCRIPT)
    return pages._render(request, TITLE, body, PATH)


async def inbox_mark_heard(request: web.Request) -> web.StreamResponse:
    """POST /rostmeddelanden/{ref}/hord: mark heard from the page."""
    svc = services(request)
    ref = record_ref(request.match_info["ref"])
    try:
        await owner.mark_heard(api.register_of(svc), ref, account(request).user_id, svc.now())
    except NotPermitted:
        return pages._back(
            PATH, err="Bara brevlådans ägare och ombud kan markera meddelandet som hört."
        )
    return pages._back(PATH, ok="Meddelandet är markerat som hört.")


def endpoints() -> list[Endpoint]:
    """The inbox's routes (added to the table in `switchboard.web.routes`)."""
    return [
        Endpoint(
            "GET",
            "/api/inbox",
            get_inbox,
            STAFF,
            "My voicemail: own and delegated mailboxes, newest first (ALV-23)",
            query={"limit": f"at most this many messages (default {MAX_ITEMS})"},
        ),
        Endpoint(
            "POST",
            "/api/inbox/{ref}/heard",
            post_heard,
            STAFF,
            "Mark a message heard (owner and delegates; audited, ALV-13)",
        ),
        Endpoint("GET", PATH, inbox_page, STAFF, "Mina röstmeddelanden", "page"),
        Endpoint("POST", PATH + "/{ref}/hord", inbox_mark_heard, STAFF, "Mark heard", "page"),
        *inbox_greeting.endpoints(),  # ALV-11: the owner's own greeting
    ]
