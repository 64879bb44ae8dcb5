"""JSON API handlers: login, directory, availability, registrar, administrator and IT."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from urllib.parse import urlsplit

from aiohttp import web

from routing.effective import GLOBAL_VOICEMAIL, USER_SWITCHES
from routing.models import AbsenceReason, ManualRedirect, NumberingPlan, Redirect
from routing.numbers import in_plan, normalise
from routing.presence import manual_redirect
from routing.wording import public_reason
from switchboard import phonebook
from switchboard.http_settings import http_settings
from switchboard.web import board, metrics, redirect_policy
from switchboard.web.auth import Account, Role, Session, verify_password
from switchboard.web.core import (
    SESSION_COOKIE,
    account,
    require_self_or_admin,
    services,
    session,
    state,
)
from switchboard.web.errors import (
    Forbidden,
    InvalidField,
    LoginFailed,
    Unavailable,
    UnknownCall,
    UnknownUser,
)
from switchboard.web.http import (
    bool_field,
    date_query,
    enum_field,
    int_query,
    read_json,
    record_ref,
    text_field,
    text_problem,
    time_field,
)
from switchboard.web.services import CallLogSource, LoggedCall, ThreatIncident, WebServices
from voicemail.exports import record_json, to_csv, to_json, to_xml
from voicemail.models import Classification
from voicemail.service import Register
from voicemail.spreadsheets import to_excel_csv, to_xlsx

# ---------------------------------------------------------------- sessions


async def authenticate(request: web.Request, user_id: str, password: str) -> tuple[str, Session]:
    """Check a login against the rate limit and the scrypt hash; a token on success."""
    svc, st = services(request), state(request)
    now = svc.now()
    # counted as a failure from here on, so parallel guesses cannot outrun the count
    attempt = await st.limiter.attempt(user_id, request.remote or "-", now)
    acct = svc.accounts.get(user_id)
    # an unknown user costs the same scrypt work as a known one (no timing oracle)
    stored = acct.password_hash if acct else "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA"
    ok = await asyncio.to_thread(verify_password, password, stored)
    if acct is None or not ok:
        raise LoginFailed("wrong user id or password")
    await st.limiter.succeeded(attempt)
    return st.codec.issue(acct.user_id, now)


def set_session_cookie(resp: web.StreamResponse, request: web.Request, token: str) -> None:
    """The session cookie: HttpOnly, SameSite=Strict, Secure behind HTTPS."""
    svc = services(request)
    resp.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=svc.secure_cookies,
        max_age=int(svc.session_ttl.total_seconds()),
        path="/",
    )


def me_json(request: web.Request, acct: Account, sess: Session) -> dict[str, object]:
    """Who is signed in, their roles and the CSRF token for cookie-borne changes."""
    user = services(request).config.directory.user(acct.user_id)
    return {
        "user": acct.user_id,
        "name": user.name if user else acct.user_id,
        "roles": sorted(acct.roles),
        "expires": sess.expires.isoformat(),
        "csrf": state(request).codec.csrf(sess),
    }


def refuse_cross_site(request: web.Request) -> None:
    """A sign-in only from this site's own pages or a program (login CSRF): JSON, which a
    foreign page cannot send without a CORS preflight that is never granted, and no foreign
    Origin or cross-site fetch."""
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(reason="send the login as application/json")
    origin = request.headers.get("Origin")
    if origin is not None and origin != "null":
        try:
            host = urlsplit(origin).netloc
        except ValueError:
            host = ""
        public = http_settings(services(request).config).public_url
        ours = {(request.host or "").lower(), urlsplit(public).netloc.lower() if public else ""}
        if not host or host.lower() not in ours:
            raise Forbidden("a sign-in from another site is refused")
    elif origin == "null":
        raise Forbidden("a sign-in from another site is refused")
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        raise Forbidden("a sign-in from another site is refused")


async def login(request: web.Request) -> web.StreamResponse:
    """POST /api/login {user, password}: a bearer token (and the session cookie)."""
    refuse_cross_site(request)
    data = await read_json(request, services(request).max_body)
    user_id = text_field(data, "user", required=True, max_len=100) or ""
    password = data.get("password")
    if not isinstance(password, str) or not password or len(password) > 200:
        raise InvalidField("password", "is required text")
    token, sess = await authenticate(request, user_id, password)
    acct = services(request).accounts.get(sess.user_id)
    assert acct is not None
    body = me_json(request, acct, sess) | {"token": token}
    resp = web.json_response(body)
    set_session_cookie(resp, request, token)
    return resp


async def end_session(request: web.Request) -> None:
    """Log the request's session out on every node (kept in the web store until it expires)."""
    sess, svc = session(request), services(request)
    await svc.store.revoke_session(sess.sid, sess.expires, svc.now())


async def logout(request: web.Request) -> web.StreamResponse:
    """POST /api/logout: the session stops working."""
    await end_session(request)
    resp = web.json_response({"ok": True})
    resp.del_cookie(SESSION_COOKIE, path="/")
    return resp


async def me(request: web.Request) -> web.StreamResponse:
    """GET /api/me."""
    return web.json_response(me_json(request, account(request), session(request)))


# ---------------------------------------------------------------- directory and availability


async def directory(request: web.Request) -> web.StreamResponse:
    """GET /api/directory?q=&unit=&title=&keyword=: public numbers and live availability."""
    svc = services(request)
    now = svc.now()
    q = {k: request.query.get(k, "")[:100] for k in ("q", "unit", "title", "keyword")}
    st = await svc.effective(now)
    users = board.search(st.directory.users, **q)
    rows = board.board(st, now, users)
    others = phonebook.search(st.directory, **q)  # HAL-06: groups and shared phones too
    return web.json_response({"at": now.isoformat(), "users": rows, "non_personal": others})


def _redirect_json(
    r: Redirect | None, svc: WebServices, own: bool = False
) -> dict[str, object] | None:
    if r is None:
        return None
    tz = svc.config.org.timezone
    return {
        # HV-04: sickness and care of a child only to the person themself
        "reason": r.reason.value if own else public_reason(r.reason),
        "until_further_notice": redirect_policy.open_ended(r),
        "source": r.source,
        "start": r.start.astimezone(tz).isoformat(),
        "until": r.until.astimezone(tz).isoformat() if r.until else None,
        "returns": r.return_time.astimezone(tz).isoformat() if r.return_time else None,
        "text": r.text,
    }


async def availability_json(
    svc: WebServices, user_id: str, viewer: str | None = None
) -> dict[str, object]:
    """A user's full availability: board row, calendar-derived state, manual redirect; the
    reason as it is only when `viewer` is the user (HV-04)."""
    own = viewer == user_id
    now = svc.now()
    st = await svc.effective(now)
    org = st.org
    user = org.directory.user(user_id)
    if user is None:
        raise UnknownUser(user_id)
    p = st.book.users.get(user_id)
    calendar_status = "none" if user.calendar is None else "ok"
    if p is not None and p.calendar_error:
        calendar_status = "unavailable"
    manual = svc.store.manual_for(user_id, now)
    manual_json = None
    if manual is not None:
        manual_json = {
            "reason": manual.reason.value if own else public_reason(manual.reason),
            "until": manual.until.astimezone(org.timezone).isoformat() if manual.until else None,
            "until_further_notice": redirect_policy.manual_open_ended(manual),
            "text": manual.text,
            "set_by": svc.store.set_by(user_id),
        }
    return {
        **board.entry(user, st, now),
        "calendar": calendar_status,
        "calendar_redirect": _redirect_json(p.at(now) if p else None, svc, own),
        "manual": manual_json,
        "at": now.isoformat(),
    }


async def availability(request: web.Request) -> web.StreamResponse:
    """GET /api/users/{user_id}/availability."""
    return web.json_response(
        await availability_json(
            services(request), request.match_info["user_id"], account(request).user_id
        )
    )


async def set_manual_redirect(
    svc: WebServices, user_id: str, by: str, data: dict[str, object]
) -> None:
    """Validate and store a manual redirect (HV-03: it wins over the calendar until `until`)."""
    now = svc.now()
    if svc.config.directory.user(user_id) is None:
        raise UnknownUser(user_id)
    reason = enum_field(data, "reason", AbsenceReason, required=True)
    assert reason is not None
    text = text_field(data, "text", max_len=200)
    until, further = redirect_policy.end_of(data, svc.config, now)  # ALV-02: an end, always
    redirect = manual_redirect(user_id, reason, until, svc.config.rules, now, text)
    if further:  # "tills vidare": ends by itself at the organisation's maximum, no return said
        redirect = ManualRedirect(user_id, reason, until, text, now, None, open_ended=True)
    await svc.store.set_manual(redirect, by, now)


async def put_manual(request: web.Request) -> web.StreamResponse:
    """PUT /api/users/{user_id}/manual-redirect {reason, until?, text?}."""
    svc = services(request)
    user_id = request.match_info["user_id"]
    me_ = require_self_or_admin(request, user_id)
    data = await read_json(request, svc.max_body)
    await set_manual_redirect(svc, user_id, me_.user_id, data)
    return web.json_response(await availability_json(svc, user_id, me_.user_id))


async def delete_manual(request: web.Request) -> web.StreamResponse:
    """DELETE /api/users/{user_id}/manual-redirect."""
    svc = services(request)
    user_id = request.match_info["user_id"]
    me_ = require_self_or_admin(request, user_id)
    if svc.config.directory.user(user_id) is None:
        raise UnknownUser(user_id)
    await svc.store.clear_manual(user_id, me_.user_id, svc.now())
    return web.json_response(await availability_json(svc, user_id, me_.user_id))


async def presence_events(request: web.Request) -> web.StreamResponse:
    """GET /api/presence/events: server-sent events, one `presence` event per changed row.

    The subscription coalesces per user; a client that stops reading for `sse_write_timeout_s`
    is dropped rather than buffered for.
    """
    svc = services(request)
    hub = state(request).hub
    sub = hub.subscribe()
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )

    async def write(data: bytes) -> None:
        await asyncio.wait_for(resp.write(data), svc.sse_write_timeout_s)

    last: dict[str, str] = {}
    try:
        await resp.prepare(request)
        await write(b"retry: 3000\n\n")
        while True:
            now = svc.now()
            st = await svc.effective(now)
            sent = False
            for row in board.board(st, now, st.directory.users):
                text = json.dumps(row, ensure_ascii=False)
                uid = str(row["id"])
                if last.get(uid) != text:
                    last[uid] = text
                    await write(f"event: presence\ndata: {text}\n\n".encode())
                    sent = True
            if not sent:
                await write(b": keep-alive\n\n")
            try:
                await asyncio.wait_for(sub.get(), svc.sse_refresh_s)
            except TimeoutError:
                continue
            except StopAsyncIteration:
                break
            sub.pending()  # a burst of changes is one pass
    except (ConnectionResetError, TimeoutError):
        pass
    finally:
        sub.close()
    return resp


# ---------------------------------------------------------------- registrar


def register_of(svc: WebServices) -> Register:
    """The voicemail register, or Unavailable."""
    if svc.register is None:
        raise Unavailable("the voicemail register is not configured")
    return svc.register


QUEUE_PAGE = 50


@dataclass(frozen=True, slots=True)
class QueuePage:
    """One page of the classification queue and what it is a page of."""

    items: list[dict[str, object]]
    total: int
    page: int
    per_page: int
    query: str


async def queue_page(request: web.Request) -> QueuePage:
    """`?q=` (registration number, caller, mailbox, case or summary), `page=` (from 1),
    `per_page=` (1–500): one page of the queue, longest-waiting first, with the total."""
    svc = services(request)
    reg = register_of(svc)
    query = (request.query.get("q") or "").strip()[:100]
    if query and text_problem(query) is not None:
        raise InvalidField("q", "sök med vanlig text på en rad")
    per_page = int_query(request, "per_page", QUEUE_PAGE, 1, 500)
    page = int_query(request, "page", 1, 1, 100_000)
    digits = sum(ch.isdigit() for ch in query)
    number = (
        normalise(query, svc.config.org.plan)
        if digits >= 5 and all(ch.isdigit() or ch in "+-() " for ch in query)
        else None
    )  # "070-120 00 42" finds the caller stored as +46701200042
    items, total = await reg.queue_page(
        svc.now(), query, (page - 1) * per_page, per_page, text_number=number
    )
    tz = svc.config.org.timezone
    rows = [
        record_json(item.record, tz) | {"id": item.record.id, "waiting_s": int(item.waiting_s)}
        for item in items
    ]
    return QueuePage(rows, total, page, per_page, query)


async def queue(request: web.Request) -> web.StreamResponse:
    """GET /api/registry/queue?q=&page=&per_page=: `queue` (this page), `total` (all that
    wait and match), `page`, `per_page`."""
    p = await queue_page(request)
    return web.json_response(
        {"queue": p.items, "total": p.total, "page": p.page, "per_page": p.per_page}
    )


async def record(request: web.Request) -> web.StreamResponse:
    """GET /api/registry/records/{ref}."""
    svc = services(request)
    rec = await register_of(svc).get(record_ref(request.match_info["ref"]))
    return web.json_response(record_json(rec, svc.config.org.timezone) | {"id": rec.id})


async def audit_json(svc: WebServices, ref: str) -> list[dict[str, object]]:
    """A record's audit trail, oldest first."""
    reg = register_of(svc)
    rec = await reg.get(ref)
    tz = svc.config.org.timezone
    return [
        {
            "seq": ev.seq,
            "at": ev.at.astimezone(tz).isoformat(),
            "actor": ev.actor,
            "action": ev.action,
            "before": ev.before,
            "after": ev.after,
            "hash": ev.hash,
        }
        for ev in await reg.store.events(rec.id)
    ]


async def audit(request: web.Request) -> web.StreamResponse:
    """GET /api/registry/records/{ref}/audit."""
    svc = services(request)
    events = await audit_json(svc, record_ref(request.match_info["ref"]))
    return web.json_response({"events": events}, dumps=lambda v: json.dumps(v, default=str))


async def audio(request: web.Request) -> web.StreamResponse:
    """GET /api/registry/records/{ref}/audio: owner, delegates and registrars only; audited."""
    svc = services(request)
    ref = record_ref(request.match_info["ref"])
    rec, path = await register_of(svc).play(ref, account(request).user_id, svc.now())
    ctype = (
        "audio/wav" if rec.audio_format.lower() in ("wav", "wav49") else "application/octet-stream"
    )
    return web.FileResponse(
        path,
        headers={
            "Content-Type": ctype,
            "Cache-Control": "no-store",
            "Content-Disposition": f'inline; filename="{rec.id}.{rec.audio_format}"',
        },
    )


async def classify_record(
    svc: WebServices, ref: str, actor: str, data: dict[str, object]
) -> dict[str, object]:
    """Classify through the register; returns the record's JSON."""
    classification = enum_field(data, "classification", Classification, required=True)
    assert classification is not None
    rec = await register_of(svc).classify(
        ref,
        classification,
        actor,
        svc.now(),
        summary=text_field(data, "summary", max_len=500, multiline=True),
        case_reference=text_field(data, "case_reference", max_len=100),
    )
    return record_json(rec, svc.config.org.timezone) | {"id": rec.id}


async def classify(request: web.Request) -> web.StreamResponse:
    """POST /api/registry/records/{ref}/classification {classification, summary, case_ref}."""
    svc = services(request)
    ref = record_ref(request.match_info["ref"])
    data = await read_json(request, svc.max_body)
    return web.json_response(await classify_record(svc, ref, account(request).user_id, data))


EXPORT_FORMATS = ("json", "csv", "xml", "excel", "xlsx")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def export(request: web.Request) -> web.StreamResponse:
    """GET /api/registry/export?format=json|csv|xml|excel|xlsx&year=&from=&to= (local dates,
    both included). `excel` is CSV for Swedish Excel (`;`, UTF-8 with BOM), `xlsx` a workbook."""
    from voicemail.register import RecordFilter

    svc = services(request)
    fmt = request.query.get("format", "json")
    if fmt not in EXPORT_FORMATS:
        raise InvalidField("format", "välj json, csv, xml, excel eller xlsx")
    year = int_query(request, "year", 0, 0, 9999) or None
    org = svc.config.org
    first, last = date_query(request, "from"), date_query(request, "to")
    if first is not None and last is not None and last < first:
        raise InvalidField("to", "slutdatumet ligger före startdatumet")
    start = datetime.combine(first, time(), org.timezone) if first else None
    end = datetime.combine(last + timedelta(days=1), time(), org.timezone) if last else None
    records = await register_of(svc).records(
        RecordFilter(year=year, arrived_from=start, arrived_before=end)
    )
    body: bytes
    if fmt in ("excel", "xlsx"):
        names = {u.id: u.name for u in svc.config.directory.users}
        if fmt == "excel":
            body, ctype, ext = to_excel_csv(records, org.timezone, names), "text/csv", "csv"
        else:
            body = await asyncio.to_thread(to_xlsx, records, org.timezone, names)
            ctype, ext = XLSX_TYPE, "xlsx"
    elif fmt == "csv":
        body, ctype, ext = to_csv(records, org.timezone).encode(), "text/csv", fmt
    elif fmt == "xml":
        text = to_xml(records, org.timezone, org.name, org.code)
        body, ctype, ext = text.encode(), "application/xml", fmt
    else:
        body, ctype, ext = to_json(records, org.timezone).encode(), "application/json", fmt
    span = f"-{first or ''}--{last or ''}" if first or last else ""
    name = f"{org.code}-register{'-' + str(year) if year else ''}{span}.{ext}"
    return web.Response(
        body=body,
        content_type=ctype,
        charset="utf-8" if ext != "xlsx" else None,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# ---------------------------------------------------------------- administrator


def switches_json(svc: WebServices) -> dict[str, object]:
    """The voicemail switch (ALV-12) and every user's switches (ALV-05, ALV-10, ALV-19)."""
    org = svc.org()
    return {
        "voicemail_extension_users": org.policy.voicemail_extension_users,
        "international_calls": org.policy.international_calls,
        "users": [
            {
                "id": u.id,
                "name": u.name,
                "voicemail": u.voicemail,
                "mobile_follows_calendar": u.mobile_follows_calendar,
                "international_unlocked": u.international_unlocked,
                "blocked": u.blocked,
            }
            for u in sorted(org.directory.users, key=lambda u: u.name)
        ],
    }


async def get_switches(request: web.Request) -> web.StreamResponse:
    """GET /api/admin/switches."""
    return web.json_response(switches_json(services(request)))


async def put_voicemail_switch(request: web.Request) -> web.StreamResponse:
    """PUT /api/admin/voicemail {enabled}: voicemail for every extension user (ALV-12)."""
    svc = services(request)
    data = await read_json(request, svc.max_body)
    enabled = bool_field(data, "enabled")
    if enabled is None:
        raise InvalidField("enabled", "is required (true or false)")
    await svc.store.set_override("", GLOBAL_VOICEMAIL, enabled, account(request).user_id, svc.now())
    for u in svc.config.directory.users:
        svc.store.hub.publish(u.id)
    return web.json_response(switches_json(svc))


async def set_user_switches(
    svc: WebServices, user_id: str, by: str, data: dict[str, object]
) -> None:
    """Persist the given per-user switches."""
    if svc.config.directory.user(user_id) is None:
        raise UnknownUser(user_id)
    unknown = set(data) - set(USER_SWITCHES)
    if unknown:
        raise InvalidField(sorted(unknown)[0], "unknown switch")
    values = {name: bool_field(data, name) for name in USER_SWITCHES}
    if all(v is None for v in values.values()):
        raise InvalidField("switches", f"give at least one of {', '.join(USER_SWITCHES)}")
    for name, value in values.items():
        if value is not None:
            await svc.store.set_override(user_id, name, value, by, svc.now())


async def put_user_switches(request: web.Request) -> web.StreamResponse:
    """PUT /api/admin/users/{user_id}/switches {voicemail?, mobile_follows_calendar?, ...}."""
    from switchboard.web.contact_centre import require_unit_admin, set_blocked

    svc = services(request)
    data = await read_json(request, svc.max_body)
    user_id, acct = request.match_info["user_id"], account(request)
    require_unit_admin(svc, acct, user_id)  # HAL-12: a scoped administrator, own units only
    blocked = bool_field(data, "blocked")
    if blocked is not None:  # ALV-21 through the path that tells the contact centre (HAL-12)
        await set_blocked(svc, acct, user_id, blocked, None)
        data = {k: v for k, v in data.items() if k != "blocked"}
    if data or blocked is None:
        await set_user_switches(svc, user_id, acct.user_id, data)
    return web.json_response(switches_json(svc))


# ---------------------------------------------------------------- IT (ALV-18, ALV-20)


def call_log(svc: WebServices) -> CallLogSource:
    """The call log, or Unavailable when this service has none."""
    if svc.call_log is None:
        raise Unavailable("the call log is not configured")
    return svc.call_log


def number_digits(raw: str, plan: NumberingPlan) -> str | None:
    """The digits to search for so that every written form of the number matches."""
    # The log keeps numbers as the platform gave them ('83012', '0701234567', '+46701234567'):
    # an extension is searched by its local digits, a domestic number by its national
    # significant digits, a foreign one by its E.164 digits, anything else as typed.
    text = raw.strip()[:40]
    if not text:
        return None
    e164 = normalise(text, plan)
    cc = plan.country_code
    if e164 is None:
        digits = "".join(ch for ch in text if ch.isdigit())
    elif in_plan(e164, plan):
        prefix = next(
            f"+{cc}{area}"
            for area, local in plan.series
            if e164.startswith(f"+{cc}{area}") and len(e164) == len(f"+{cc}{area}{local}")
        )
        digits = e164[len(prefix) :]
    elif e164.startswith("+" + cc):
        digits = e164[1 + len(cc) :]
    else:
        digits = e164[1:]
    return digits[:20] or None


@dataclass(frozen=True, slots=True)
class CallQuery:
    """The IT role's call-log filter: [since, until) as instants, a number, a limit."""

    since: datetime | None
    until: datetime | None
    number: str | None
    limit: int


def call_query(request: web.Request) -> CallQuery:
    """The filter from ?since=&until=&number=&limit= (times without offset are local)."""
    svc = services(request)
    q = dict(request.query)
    return CallQuery(
        since=time_field(q, "since", svc.config.org.timezone),
        until=time_field(q, "until", svc.config.org.timezone),
        number=number_digits(request.query.get("number", ""), svc.config.org.plan),
        limit=int_query(request, "limit", 1000, 1, 100_000),
    )


async def query_calls(request: web.Request) -> Sequence[LoggedCall]:
    """Calls filtered by since, until (instants) and a number, newest first."""
    log = call_log(services(request))
    q = call_query(request)
    return await log.query(since=q.since, until=q.until, number=q.number, limit=q.limit)


async def calls(request: web.Request) -> web.StreamResponse:
    """GET /api/calls?since=&until=&number=&limit=."""
    return web.json_response({"calls": [c.as_json() for c in await query_calls(request)]})


async def calls_csv(request: web.Request) -> web.StreamResponse:
    """GET /api/calls.csv: the same query as CSV."""
    log = call_log(services(request))
    q = call_query(request)
    text = await log.export_csv(since=q.since, until=q.until, number=q.number, limit=q.limit)
    return web.Response(
        text=text,
        content_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="samtalslogg.csv"'},
    )


async def flag_threat(svc: WebServices, call_id: str, note: str, by: str) -> ThreatIncident:
    """ALV-20: an incident record with the call's details (UnknownCall if it is not logged)."""
    log = call_log(svc)
    if await log.get(call_id) is None:
        raise UnknownCall(call_id)
    return await log.flag_threat(call_id, by, note, svc.now())


async def incidents(request: web.Request) -> web.StreamResponse:
    """GET /api/incidents: newest first."""
    items = await call_log(services(request)).incidents()
    return web.json_response({"incidents": [i.as_json() for i in reversed(items)]})


# ---------------------------------------------------------------- operations


async def healthz(request: web.Request) -> web.StreamResponse:
    """GET /healthz: liveness."""
    svc = services(request)
    return web.json_response(
        {"status": "ok", "organisation": svc.config.org.id, "register": svc.register is not None}
    )


async def metrics_text(request: web.Request) -> web.StreamResponse:
    """GET /metrics: Prometheus text format."""
    text = await metrics.render(services(request), state(request).hub.subscribers)
    return web.Response(
        body=text.encode(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
    )


def has_role(acct: Account, role: Role) -> bool:
    """Whether the account holds the role."""
    return role in acct.roles
