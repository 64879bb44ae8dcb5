"""Server-rendered pages in Swedish: board, my availability, registrar, administrator, IT."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import quote, urlencode, urlsplit

from aiohttp import web

from routing.models import AbsenceReason, Directory
from routing.numbers import national_format
from switchboard.web import api, board
from switchboard.web.auth import Role
from switchboard.web.call_display import outcome_text, party, party_html
from switchboard.web.core import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    account,
    csrf_token,
    services,
    state,
)
from switchboard.web.errors import (
    BodyTooLarge,
    CsrfFailed,
    LoginFailed,
    TooManyAttempts,
    WebError,
)
from switchboard.web.html import e, hidden_csrf, page
from switchboard.web.http import record_ref, text_problem
from switchboard.web.middleware import same_token
from switchboard.web.oidc import (
    STATE_COOKIE,
    STATE_TTL,
    OidcClient,
    OidcError,
    OidcNotConfigured,
    StateCodec,
)
from voicemail.errors import VoicemailError
from voicemail.models import Classification

log = logging.getLogger("switchboard.web")
OIDC_PATH = "/login/oidc"
REASON_CHOICES = (
    (AbsenceReason.MEETING, "Möte"),
    (AbsenceReason.LUNCH, "Lunch"),
    (AbsenceReason.VACATION, "Semester"),
    (AbsenceReason.TRAVEL, "Tjänsteresa"),
    (AbsenceReason.TRAINING, "Utbildning"),
    (AbsenceReason.AWAY, "Inte på plats"),
    (AbsenceReason.BUSY, "Upptagen"),
)
CLASSIFICATION_TEXT = {
    Classification.PUBLIC_REGISTERED: "Allmän handling – diarieförs (ange ärendenummer)",
    Classification.PUBLIC_MINOR: "Allmän handling av ringa betydelse",
    Classification.NOT_PUBLIC_INTERNAL: "Inte allmän handling – internt arbetsmaterial",
    Classification.NOT_PUBLIC_PRIVATE: "Inte allmän handling – privat",
    Classification.NOT_PUBLIC_OTHER_CAPACITY: "Inte allmän handling – i annan egenskap",
}
AUDIT_TEXT = {
    "record.registered": "Registrerad",
    "record.received": "Mottagen och registrerad",
    "record.played": "Uppspelad",
    "record.play_refused": "Uppspelning nekad",
    "record.classified": "Klassificerad",
    "record.hidden_by_owner": "Dold av ägaren",
    "record.disposed": "Gallrad",
    "record.heard_on_phone": "Hörd i telefonen",
    "record.deleted_on_phone": "Raderad i telefonen (dold för ägaren, finns kvar)",
    "record.phone_copy_withdrawn": "Borttagen ur telefonen (numret har ny innehavare)",
    "record.marked_heard": "Markerad som hörd på webben",
}
STATUS_TEXT = {
    "awaiting_classification": "Väntar på klassificering",
    "classified": "Klassificerad",
    "disposed": "Gallrad",
}


def _links(request: web.Request) -> list[tuple[str, str]]:
    roles = account(request).roles
    links = [("/", "Tavlan"), ("/min-tillganglighet", "Min tillgänglighet")]
    links.append(("/rostmeddelanden", "Mina röstmeddelanden"))  # ALV-23 (issue 17)
    if Role.REGISTRAR in roles:
        links.append(("/registrator", "Registrator"))
    if Role.ADMIN in roles:
        links.append(("/admin", "Administration"))
    if Role.IT in roles:
        links.append(("/it", "Samtalslogg"))
    links.append(("/mina-samtal", "Mina samtal"))  # issue 19: ALV-20 and the reports below
    if roles & {Role.ADMIN, Role.IT}:
        links.append(("/rapporter", "Servicenivå"))
    me = account(request).user_id
    directory = services(request).config.directory
    if Role.ADMIN in roles or any(u.manager == me for u in directory.users):
        links.append(("/chef", "Chefens översikt"))
    if roles & {Role.ADMIN, Role.CONTACT_CENTRE}:
        links.append(("/kontaktcenter", "Medborgarservice"))
    return links


def _render(
    request: web.Request, title: str, body: str, current: str, script: str = ""
) -> web.Response:
    acct = account(request)
    user = services(request).config.directory.user(acct.user_id)
    html = page(
        title,
        body,
        links=_links(request),
        current=current,
        who=user.name if user else acct.user_id,
        csrf=csrf_token(request),
        script=script,
    )
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})


def _flash(request: web.Request) -> str:
    ok = request.query.get("ok")
    err = request.query.get("fel")
    out = ""
    if ok:
        out += f'<div class="notice" role="status">{e(ok[:200])}</div>'
    if err:
        out += f'<div class="notice error" role="alert">{e(err[:300])}</div>'
    return out


def see_other(location: str) -> web.Response:
    """A 303 redirect returned (not raised), so cookies set on it are kept."""
    return web.Response(status=303, headers={"Location": location})


def _back(path: str, *, ok: str | None = None, err: str | None = None) -> web.Response:
    params = {k: v for k, v in (("ok", ok), ("fel", err)) if v}
    joiner = "&" if "?" in path else "?"
    return see_other(path + (joiner + urlencode(params) if params else ""))


def _name_of(directory: Directory, user_id: str) -> str:
    """A user's name for a page (the id when the directory no longer has them)."""
    user = directory.user(user_id)
    return user.name if user is not None else user_id


async def _form(request: web.Request) -> Mapping[str, str]:
    limit = services(request).max_body
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(f"the body is larger than {limit} bytes")
    form = await request.post()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _local(moment: datetime | None, request: web.Request) -> str:
    if moment is None:
        return ""
    return moment.astimezone(services(request).config.org.timezone).strftime("%Y-%m-%d %H.%M")


def _local_s(moment: datetime | None, request: web.Request) -> str:
    if moment is None:
        return ""
    tz = services(request).config.org.timezone
    return moment.astimezone(tz).strftime("%Y-%m-%d %H.%M.%S")


def _iso_local(text: object) -> str:
    if not isinstance(text, str) or not text:
        return ""
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H.%M")
    except ValueError:
        return text


# ---------------------------------------------------------------- login


LOGIN_MESSAGES = {
    "session-expired": "Din session har gått ut. Logga in igen.",
    "not-authenticated": "Logga in för att fortsätta.",
    "login-failed": "Fel användar-id eller lösenord.",
    "too-many-attempts": "För många försök. Vänta en stund och försök igen.",
    "csrf-failed": "Formuläret hade gått ut. Försök igen.",
    "oidc-failed": "Inloggningen med kommunens konto gick inte igenom. Försök igen.",
    "oidc-unavailable": "Kommunens inloggningstjänst svarar inte just nu. Försök igen om en stund.",
    "oidc-unknown-user": "Ditt konto finns inte i växelns katalog. Kontakta IT-avdelningen.",
}


def _login_html(request: web.Request, nonce: str, error: str | None) -> str:
    token = state(request).codec.login_csrf(nonce)
    nxt = safe_next(request.query.get("next", "/"))
    notice = ""
    if error:
        text = LOGIN_MESSAGES.get(error, "Inloggningen misslyckades.")
        notice = f'<div class="notice error" role="alert">{e(text)}</div>'
    body = notice
    oidc = state(request).oidc
    if oidc is not None:
        # staff sign in through the municipality's identity provider; the form below is for
        # the few local (break-glass) accounts
        body += (
            f'<p><a id="oidc" class="button" href="/login/oidc?next={e(quote(nxt, safe=""))}">'
            f"{e(oidc.settings.label)}</a></p><h2>Reservinloggning med lokalt konto</h2>"
        )
    body += (
        f'<form method="post" action="/login?next={e(quote(nxt, safe=""))}">'
        f"{hidden_csrf(token)}"
        '<label for="user">Användar-id</label>'
        '<input type="text" id="user" name="user" autocomplete="username" required '
        'autocapitalize="none" spellcheck="false">'
        '<label for="password">Lösenord</label>'
        '<input type="password" id="password" name="password" '
        'autocomplete="current-password" required>'
        '<button type="submit">Logga in</button></form>'
    )
    return page("Logga in", body)


def _login_response(request: web.Request, error: str | None, status: int = 200) -> web.Response:
    """The login page (a new login-form nonce cookie unless the browser has one)."""
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(16)
    resp = web.Response(
        text=_login_html(request, nonce, error),
        content_type="text/html",
        status=status,
        headers={"Cache-Control": "no-store"},
    )
    resp.set_cookie(
        LOGIN_COOKIE,
        nonce,
        httponly=True,
        samesite="Strict",
        secure=services(request).secure_cookies,
        path="/login",
    )
    return resp


async def login_page(request: web.Request) -> web.StreamResponse:
    """GET /login."""
    error = request.query.get("error")
    return _login_response(request, error if error in LOGIN_MESSAGES else None)


# What may follow a local path in a Location header once it is percent-encoded.
_PATH_SAFE = "/?&=#%:@!$'()*+,;~-._"


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site, never another one.

    Browsers drop tabs and line breaks from a URL and read a backslash as a slash, so
    `/\t/evil.example` and `/\\evil.example` lead off-site: any of them (and any control
    character, which could not go in a header anyway) gives "/".
    """
    if not target or len(target) > 2000 or not target.startswith("/"):
        return "/"
    if any(ord(c) <= 0x20 or ord(c) == 0x7F or c == "\\" for c in target):
        return "/"
    try:
        parts = urlsplit(target)
    except ValueError:
        return "/"
    if parts.scheme or parts.netloc or target.startswith("//"):
        return "/"
    try:
        return quote(target, safe=_PATH_SAFE)  # ASCII only: a header can always carry it
    except UnicodeEncodeError:  # a lone surrogate
        return "/"


async def login_post(request: web.Request) -> web.StreamResponse:
    """POST /login: sign in from the form (CSRF bound to the login cookie, rate-limited)."""
    form = await _form(request)
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not same_token(form.get("csrf"), state(request).codec.login_csrf(nonce)):
        raise CsrfFailed("the login form has expired; reload it")
    try:
        token, _ = await api.authenticate(
            request, form.get("user", "").strip()[:100], form.get("password", "")[:200]
        )
    except (LoginFailed, TooManyAttempts) as exc:
        resp = _login_response(request, exc.error_id, exc.status)
        if isinstance(exc, TooManyAttempts):
            resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    resp = see_other(safe_next(request.query.get("next", "/")))
    api.set_session_cookie(resp, request, token)
    return resp


def _oidc(request: web.Request) -> tuple[OidcClient, StateCodec]:
    st = state(request)
    if st.oidc is None or st.oidc_states is None:
        raise OidcNotConfigured("sign-in through an identity provider is not configured")
    return st.oidc, st.oidc_states


def _oidc_refused(request: web.Request, exc: OidcError) -> web.Response:
    """Back to the login page with a Swedish notice; the reason goes to the log only."""
    log.warning("sign-in through the identity provider refused: %s", exc.reason)
    resp = _login_response(request, exc.error_id, exc.status)
    resp.del_cookie(STATE_COOKIE, path=OIDC_PATH)
    return resp


async def oidc_start(request: web.Request) -> web.StreamResponse:
    """GET /login/oidc: off to the identity provider (code flow with PKCE); state, nonce and
    code verifier wait in a signed cookie only this browser sends back."""
    client, codec = _oidc(request)
    svc = services(request)
    try:
        url, login = await client.begin(safe_next(request.query.get("next")), svc.now())
    except OidcError as exc:
        return _oidc_refused(request, exc)
    resp = see_other(url)
    resp.headers["Cache-Control"] = "no-store"
    resp.set_cookie(
        STATE_COOKIE,
        codec.dump(login),
        httponly=True,
        samesite="Lax",  # sent on the provider's redirect back (a top-level GET)
        secure=svc.secure_cookies,
        max_age=int(STATE_TTL.total_seconds()),
        path=OIDC_PATH,
    )
    return resp


async def oidc_callback(request: web.Request) -> web.StreamResponse:
    """GET /login/oidc/callback: the state checked and used once, the code redeemed, the ID
    token verified; the directory user signed in with the roles the token gives."""
    client, codec = _oidc(request)
    svc = services(request)
    now = svc.now()
    try:
        login = codec.load(request.cookies.get(STATE_COOKIE), now)
        who = await client.finish(login, request.query, svc.config.directory, now)
    except OidcError as exc:
        return _oidc_refused(request, exc)
    token, _ = state(request).codec.issue(who.user_id, now, roles=who.roles)
    log.info(
        "signed in through the identity provider",
        extra={"user": who.user_id, "roles": sorted(who.roles)},
    )
    target = safe_next(login.next)
    # A page, not a redirect: after the provider's cross-site redirect a browser would not
    # send the SameSite=Strict session cookie on a redirect, but does on this page's refresh.
    resp = web.Response(
        text=page(
            "Inloggad",
            f'<p>Du är inloggad. <a id="continue" href="{e(target)}">Fortsätt</a></p>',
        ),
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Refresh": f"0; url={target}"},
    )
    api.set_session_cookie(resp, request, token)
    resp.del_cookie(STATE_COOKIE, path=OIDC_PATH)
    return resp


async def logout_post(request: web.Request) -> web.StreamResponse:
    """POST /logout."""
    await api.end_session(request)
    resp = see_other("/login")
    resp.del_cookie(SESSION_COOKIE, path="/")
    return resp


# ---------------------------------------------------------------- board

BOARD_JS = """
(function(){
  var q=document.getElementById('q');
  var rows=[].slice.call(document.querySelectorAll('#board tbody tr'));
  var live=document.getElementById('live'),count=document.getElementById('count');
  function filter(){var w=q.value.toLowerCase().split(/\\s+/).filter(Boolean),n=0;
    rows.forEach(function(r){var hit=w.every(function(x){return r.dataset.search.indexOf(x)>=0});
      r.hidden=!hit;if(hit)n++;});count.textContent=n+' träffar';}
  q.addEventListener('input',filter);
  document.getElementById('search').addEventListener('submit',function(ev){ev.preventDefault();filter();});
  var es=new EventSource('/api/presence/events');
  es.addEventListener('presence',function(ev){var u=JSON.parse(ev.data);
    var row=document.getElementById('u-'+u.id);if(!row)return;
    var changed=row.dataset.state!==u.state;row.dataset.state=u.state;
    var b=row.querySelector('.badge');b.className='badge '+u.state;b.textContent=u.state_text;
    var d=row.querySelector('.detail');
    var end=u.returns_text?', åter '+u.returns_text:(u.until_further_notice?', tills vidare':'');
    d.textContent=(u.reason_text||'')+end;
    row.querySelector('.message').textContent=u.message||'';
    if(changed){live.textContent=u.name+': '+u.state_text;}});
  document.body.dataset.live='1';
})();
"""


def _row(r: Mapping[str, object]) -> str:
    keywords = r.get("keywords")
    words = " ".join(str(k) for k in keywords) if isinstance(keywords, list) else ""
    search = " ".join(str(r.get(k) or "") for k in ("name", "title", "unit")) + " " + words
    number = str(r.get("public_number") or "")
    detail = str(r.get("reason_text") or "")
    if r.get("returns_text"):
        detail += f", åter {r['returns_text']}"
    elif r.get("until_further_notice"):
        detail += ", tills vidare"
    # tel: keeps E.164 for phones; people read the national form (026-830 12)
    tel = f'<a href="tel:{e(number)}">{e(national_format(number))}</a>' if number else "–"
    return (
        f'<tr id="u-{e(r["id"])}" data-state="{e(r["state"])}" data-search="{e(search.lower())}">'
        f'<td data-label="Namn">{e(r["name"])}<br>'
        f'<span class="muted">{e(r.get("title"))}</span></td>'
        f'<td data-label="Enhet">{e(r.get("unit"))}</td>'
        f'<td data-label="Nummer">{tel}</td>'
        f'<td data-label="Status"><span class="badge {e(r["state"])}">{e(r["state_text"])}</span> '
        f'<span class="detail">{e(detail)}</span></td>'
        f'<td data-label="Den som ringer hör" class="message">{e(r.get("message"))}</td></tr>'
    )


async def board_page(request: web.Request) -> web.StreamResponse:
    """GET /: everyone's availability, updated live; search by name, title, unit, keyword."""
    svc = services(request)
    now = svc.now()
    st = await svc.effective(now)
    q = request.query.get("q", "")[:100]
    users = board.search(st.directory.users, q)
    rows = board.board(st, now, users)
    body = (
        '<form id="search" role="search" method="get" action="/">'
        '<label for="q">Sök på namn, titel, enhet eller nyckelord</label>'
        f'<input type="search" id="q" name="q" value="{e(q)}" autocomplete="off">'
        '<button type="submit">Sök</button></form>'
        f'<p id="count" class="muted" aria-live="polite">{len(rows)} träffar</p>'
        '<p id="live" class="sr-only" aria-live="polite"></p>'
        '<table id="board"><caption class="sr-only">Tillgänglighet</caption><thead><tr>'
        '<th scope="col">Namn</th><th scope="col">Enhet</th><th scope="col">Nummer</th>'
        '<th scope="col">Status</th><th scope="col">Den som ringer hör</th></tr></thead><tbody>'
        + "".join(_row(r) for r in rows)
        + "</tbody></table>"
    )
    return _render(request, "Tillgänglighet", body, "/", BOARD_JS)


# ---------------------------------------------------------------- my availability


async def my_page(request: web.Request) -> web.StreamResponse:
    """GET /min-tillganglighet: my calendar state, what callers hear now, manual redirect."""
    svc = services(request)
    me = account(request)
    info = await api.availability_json(svc, me.user_id, me.user_id)
    cal = info["calendar_redirect"]
    cal_text = "Ingen hänvisning från kalendern just nu."
    if isinstance(cal, dict):
        cal_text = f"Kalendern säger: {board.REASON_TEXT.get(str(cal['reason']), cal['reason'])}"
        if cal.get("returns"):
            cal_text += f", åter {_iso_local(cal['returns'])}"
        cal_text += "."
    if info["calendar"] == "unavailable":
        cal_text = "Kalendern kunde inte läsas just nu."
    elif info["calendar"] == "none":
        cal_text = "Ingen kalender är kopplad."
    message = info.get("message") or "Ingen hänvisning – samtalet kopplas fram."
    manual = info["manual"]
    csrf = csrf_token(request)
    manual_html = "<p>Ingen manuell hänvisning.</p>"
    if isinstance(manual, dict):
        until = _iso_local(manual.get("until")) or "tills vidare"
        if manual.get("until_further_notice"):
            until = f"tills vidare (upphör senast {until})"
        manual_html = (
            f'<p id="manual-now">Manuell hänvisning: '
            f"{e(board.REASON_TEXT.get(str(manual['reason']), manual['reason']))}, till {e(until)}."
            f'</p><form method="post" action="/min-tillganglighet/rensa">{hidden_csrf(csrf)}'
            '<button type="submit" class="secondary">Ta bort manuell hänvisning</button></form>'
        )
    options = "".join(f'<option value="{r.value}">{e(t)}</option>' for r, t in REASON_CHOICES)
    body = (
        _flash(request) + f'<p>Status: <span class="badge {e(info["state"])}" id="my-state">'
        f"{e(info['state_text'])}</span></p>"
        f"<p>{e(cal_text)}</p>"
        "<h2>Det här hör den som ringer dig nu</h2>"
        f'<p class="message" id="caller-hears">{e(message)}</p>'
        "<h2>Manuell hänvisning</h2>"
        f"{manual_html}"
        '<p class="muted">En manuell hänvisning gäller före kalendern och upphör av sig själv '
        "vid sluttiden.</p>"
        f'<form method="post" action="/min-tillganglighet">{hidden_csrf(csrf)}'
        f'<label for="reason">Orsak</label><select id="reason" name="reason">{options}</select>'
        '<label for="until">Åter (sluttid)</label>'
        '<input type="datetime-local" id="until" name="until">'
        '<label style="font-weight:400"><input type="checkbox" name="tills_vidare"> '
        "Tills vidare (upphör ändå efter organisationens längsta tid)</label>"
        '<label for="text">Egen text (valfri)</label>'
        '<input type="text" id="text" name="text" maxlength="200">'
        '<button type="submit">Spara hänvisning</button></form>'
    )
    return _render(request, "Min tillgänglighet", body, "/min-tillganglighet")


def _problem(exc: Exception) -> str:
    return str(getattr(exc, "message", None) or exc)


async def my_set(request: web.Request) -> web.StreamResponse:
    """POST /min-tillganglighet: set my manual redirect."""
    form = await _form(request)
    me = account(request)
    data: dict[str, object] = {k: form.get(k, "") for k in ("reason", "until", "text")}
    if "tills_vidare" in form:  # ALV-02: "until further notice" is an explicit choice
        data["until_further_notice"] = True
    try:
        await api.set_manual_redirect(services(request), me.user_id, me.user_id, data)
    except WebError as exc:
        if exc.status >= 500:
            raise
        return _back("/min-tillganglighet", err=f"Kunde inte spara: {_problem(exc)}")
    return _back("/min-tillganglighet", ok="Hänvisningen är sparad.")


async def my_clear(request: web.Request) -> web.StreamResponse:
    """POST /min-tillganglighet/rensa: clear my manual redirect."""
    svc = services(request)
    me = account(request)
    await svc.store.clear_manual(me.user_id, me.user_id, svc.now())
    return _back("/min-tillganglighet", ok="Den manuella hänvisningen är borttagen.")


# ---------------------------------------------------------------- registrar


def _waiting(seconds: object) -> str:
    s = int(seconds) if isinstance(seconds, int | float) else 0
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


async def registrar_page(request: web.Request) -> web.StreamResponse:
    """GET /registrator: the queue, longest-waiting first, searched and paged (REC-02)."""
    svc = services(request)
    p = await api.queue_page(request)
    directory = svc.config.directory
    memo: dict[str, str] = {}

    def caller(i: Mapping[str, object]) -> str:
        name = str(i.get("caller_name") or "")
        number = str(i.get("caller_number") or "")
        shown = party_html(number, directory, memo) if number else ""
        if name and shown and name not in party(number, directory, memo):
            return f"{e(name)}, {shown}"
        return shown or e(name) or "Okänd"

    def mailbox(i: Mapping[str, object]) -> str:
        owner = i.get("mailbox")
        return _name_of(directory, str(owner)) if owner else str(i.get("mailbox_number") or "")

    rows = "".join(
        f'<tr><td data-label="Registreringsnummer"><a href="/registrator/{e(i["id"])}">'
        f"{e(i['registration_number'])}</a></td>"
        f'<td data-label="Inkom">{e(i["arrived_local"])}</td>'
        f'<td data-label="Väntat" class="waiting">{e(_waiting(i["waiting_s"]))}</td>'
        f'<td data-label="Från">{caller(i)}</td>'
        f'<td data-label="Brevlåda">{e(mailbox(i))}</td>'
        f'<td data-label="Längd">{e(i.get("duration_s"))} s</td></tr>'
        for i in p.items
    )
    first = (p.page - 1) * p.per_page + 1
    last = first + len(p.items) - 1
    waiting = "meddelande väntar" if p.total == 1 else "meddelanden väntar"
    summary = (
        f"{p.total} {'träff' if p.total == 1 else 'träffar'} för ”{e(p.query)}” i kön"
        if p.query
        else f"{p.total} {waiting} på klassificering"
    )
    shown = f" Visar {first}–{last}." if p.items and p.total > len(p.items) else ""

    def page_link(n: int, text: str, rel: str) -> str:
        params = {"page": str(n)} | ({"q": p.query} if p.query else {})
        return f'<a href="/registrator?{e(urlencode(params))}" rel="{rel}">{text}</a>'

    pages = (p.total + p.per_page - 1) // p.per_page
    nav = " · ".join(
        link
        for link in (
            page_link(p.page - 1, "← Föregående", "prev") if p.page > 1 else "",
            f"Sida {p.page} av {pages}" if pages > 1 else "",
            page_link(p.page + 1, "Nästa →", "next") if p.page < pages else "",
        )
        if link
    )
    body = _flash(request) + (
        '<form method="get" action="/registrator" role="search">'
        '<label for="q">Sök i kön (diarienummer, uppringare, brevlåda, sammanfattning)</label>'
        f'<input type="search" id="q" name="q" value="{e(p.query)}" maxlength="100">'
        '<button type="submit">Sök</button>'
        + (' <a href="/registrator">Visa alla</a>' if p.query else "")
        + "</form>"
        f'<p id="queue-summary" aria-live="polite">{summary}.{shown}</p>'
        '<table id="queue"><thead><tr><th scope="col">Registreringsnummer</th>'
        '<th scope="col">Inkom</th><th scope="col">Väntat</th><th scope="col">Från</th>'
        '<th scope="col">Brevlåda</th><th scope="col">Längd</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
        + (f'<nav aria-label="Sidor i kön" class="pages"><p>{nav}</p></nav>' if nav else "")
        + ""
        "<h2>Export</h2>"
        '<form method="get" action="/api/registry/export" class="export">'
        '<label for="export-from">Inkom från och med</label>'
        '<input type="date" id="export-from" name="from">'
        '<label for="export-to">till och med</label>'
        '<input type="date" id="export-to" name="to">'
        '<label for="export-format">Format</label><select id="export-format" name="format">'
        '<option value="xlsx">Excel (XLSX)</option>'
        '<option value="excel">Excel (CSV med semikolon)</option>'
        '<option value="csv">CSV för system (kommatecken)</option>'
        '<option value="json">JSON</option>'
        '<option value="xml">XML (ERMS, för ärendesystemet)</option></select>'
        '<button type="submit">Exportera</button></form>'
        "<p>Utan datum exporteras hela registret.</p>"
    )
    return _render(request, "Registrator", body, "/registrator")


async def record_page(request: web.Request) -> web.StreamResponse:
    """GET /registrator/{ref}: one record: listen, classify, audit trail."""
    return await _record_view(request, record_ref(request.match_info["ref"]))


def _field_error(name: str, problem: tuple[str | None, str] | None) -> tuple[str, str]:
    """(attributes for the input, the error paragraph) when `problem` concerns `name`."""
    if problem is None or problem[0] != name:
        return "", ""
    return (
        f' aria-invalid="true" aria-describedby="{name}-error"',
        f'<p class="field-error" id="{name}-error">{e(problem[1])}</p>',
    )


async def _record_view(
    request: web.Request,
    ref: str,
    typed: Mapping[str, str] | None = None,
    problem: tuple[str | None, str] | None = None,
) -> web.Response:
    """The record page; after a refused classification it keeps what was typed, names the
    problem at the top and marks the field (WCAG 3.3.1, 3.3.3)."""
    svc = services(request)
    reg = api.register_of(svc)
    rec = await reg.get(ref)
    events = await api.audit_json(svc, str(rec.id))
    csrf = csrf_token(request)
    chosen = typed.get("classification") if typed else None
    chosen = chosen or (rec.classification.value if rec.classification else "")
    options = "".join(
        f'<option value="{c.value}"{" selected" if chosen == c.value else ""}>{e(t)}</option>'
        for c, t in CLASSIFICATION_TEXT.items()
    )
    summary = typed.get("summary", "") if typed else (rec.summary or "")
    case = typed.get("case_reference", "") if typed else (rec.case_reference or "")
    summary_attrs, summary_error = _field_error("summary", problem)
    case_attrs, case_error = _field_error("case_reference", problem)
    class_attrs, class_error = _field_error("classification", problem)
    audit_rows = "".join(
        f'<tr><td data-label="Tid">{e(_iso_local(ev["at"]))}</td>'
        f'<td data-label="Vem">{e(ev["actor"])}</td>'
        f'<td data-label="Händelse">{e(AUDIT_TEXT.get(str(ev["action"]), ev["action"]))}</td></tr>'
        for ev in events
    )
    audio = (
        "<p>Ljudet är gallrat; bara uppgifterna finns kvar.</p>"
        if rec.status.value == "disposed"
        else (
            f'<audio id="player" controls preload="none" '
            f'src="/api/registry/records/{rec.id}/audio">'
            "Din webbläsare kan inte spela upp ljudet.</audio>"
            '<p class="muted">Varje uppspelning loggas.</p>'
        )
    )
    alert = (
        f'<div class="notice error" role="alert">Kunde inte klassificera: {e(problem[1])}</div>'
        if problem is not None
        else _flash(request)
    )
    body = alert + (
        "<dl>"
        f"<dt>Registreringsnummer</dt><dd>{e(rec.registration_number)}</dd>"
        f"<dt>Inkom</dt><dd>{e(_local(rec.arrived_at, request))}</dd>"
        f"<dt>Från</dt><dd>{e(rec.caller_name or '')} {e(rec.caller_number or '')}</dd>"
        f"<dt>Brevlåda</dt><dd>{e(rec.owner_id or rec.mailbox)}</dd>"
        f'<dt>Status</dt><dd id="status">{e(STATUS_TEXT.get(rec.status.value, rec.status))}</dd>'
        "</dl>"
        f"<h2>Lyssna</h2>{audio}"
        f'<h2>Klassificera</h2><form method="post" action="/registrator/{rec.id}">'
        f"{hidden_csrf(csrf)}"
        f'<label for="classification">Klassificering</label>'
        f'<select id="classification" name="classification"{class_attrs}>{options}</select>'
        f"{class_error}"
        '<label for="summary">Kort sammanfattning</label>'
        f'<textarea id="summary" name="summary" rows="3" maxlength="500" required{summary_attrs}>'
        f"{e(summary)}</textarea>{summary_error}"
        '<label for="case_reference">Ärendenummer (bara vid diarieföring)</label>'
        f'<input type="text" id="case_reference" name="case_reference" maxlength="100" '
        f'value="{e(case)}"{case_attrs}>{case_error}'
        '<button type="submit">Spara klassificering</button></form>'
        '<h2>Händelselogg</h2><table id="audit"><thead><tr><th scope="col">Tid</th>'
        '<th scope="col">Vem</th><th scope="col">Händelse</th></tr></thead>'
        f"<tbody>{audit_rows}</tbody></table>"
        '<p><a href="/registrator">Tillbaka till kön</a></p>'
    )
    response = _render(request, rec.registration_number, body, "/registrator")
    if problem is not None:
        response.set_status(422)
    return response


async def record_classify(request: web.Request) -> web.StreamResponse:
    """POST /registrator/{ref}: classify from the form; a refusal keeps what was typed."""
    svc = services(request)
    ref = record_ref(request.match_info["ref"])
    form = await _form(request)
    typed = {k: str(form.get(k, "")) for k in ("classification", "summary", "case_reference")}
    data: dict[str, object] = dict(typed)
    path = f"/registrator/{ref}"
    try:
        await api.classify_record(svc, ref, account(request).user_id, data)
    except (WebError, VoicemailError) as exc:
        if isinstance(exc, WebError) and exc.status >= 500:
            raise
        if getattr(exc, "error_id", "") in ("unknown-record", "storage-error"):
            raise
        field = getattr(exc, "field", None)
        problem = getattr(exc, "problem", None) or _problem(exc)
        return await _record_view(request, ref, typed, (field, problem))
    return _back(path, ok="Klassificeringen är sparad.")


# ---------------------------------------------------------------- administrator


def _check(name: str, label: str, on: bool, ident: str) -> str:
    checked = " checked" if on else ""
    return (
        f'<label style="font-weight:400;display:inline-block;margin-right:1rem">'
        f'<input type="checkbox" name="{name}" id="{e(ident)}"{checked}> {e(label)}</label>'
    )


async def admin_page(request: web.Request) -> web.StreamResponse:
    """GET /admin: the voicemail switch and per-user switches."""
    svc = services(request)
    sw = api.switches_json(svc)
    csrf = csrf_token(request)
    users = sw["users"]
    assert isinstance(users, list)
    rows = "".join(
        f'<tr><td data-label="Namn">{e(u["name"])}</td><td data-label="Inställningar">'
        f'<form method="post" action="/admin/anvandare/{e(u["id"])}">{hidden_csrf(csrf)}'
        + _check("voicemail", "Röstbrevlåda", bool(u["voicemail"]), f"vm-{u['id']}")
        + _check(
            "mobile_follows_calendar",
            "Mobilen följer kalendern",
            bool(u["mobile_follows_calendar"]),
            f"mfc-{u['id']}",
        )
        + _check(
            "international_unlocked",
            "Utlandssamtal upplåsta",
            bool(u["international_unlocked"]),
            f"intl-{u['id']}",
        )
        + f'<button type="submit" aria-label="Spara för {e(u["name"])}">Spara</button>'
        "</form></td></tr>"
        for u in users
    )
    on = bool(sw["voicemail_extension_users"])
    body = _flash(request) + (
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
    return _render(request, "Administration", body, "/admin")


async def admin_voicemail(request: web.Request) -> web.StreamResponse:
    """POST /admin/rostbrevlada: the ALV-12 switch."""
    svc = services(request)
    form = await _form(request)
    enabled = form.get("enabled") == "1"
    if form.get("confirm") != "ja":  # an organisation-wide switch is confirmed first
        return _confirm_voicemail(request, enabled)
    await svc.store.set_override(
        "", "voicemail_extension_users", enabled, account(request).user_id, svc.now()
    )
    for u in svc.config.directory.users:
        svc.store.hub.publish(u.id)
    return _back("/admin", ok="Röstbrevlådan är " + ("påslagen." if enabled else "avstängd."))


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
    return _render(request, "Bekräfta", body, "/admin")


async def admin_user(request: web.Request) -> web.StreamResponse:
    """POST /admin/anvandare/{user_id}: one user's switches."""
    svc = services(request)
    form = await _form(request)
    data: dict[str, object] = {
        name: name in form
        for name in ("voicemail", "mobile_follows_calendar", "international_unlocked")
    }
    from switchboard.web.contact_centre import require_unit_admin

    require_unit_admin(svc, account(request), request.match_info["user_id"])  # HAL-12
    await api.set_user_switches(svc, request.match_info["user_id"], account(request).user_id, data)
    return _back("/admin", ok="Inställningarna är sparade.")


# ---------------------------------------------------------------- IT


async def it_page(request: web.Request) -> web.StreamResponse:
    """GET /it: call log query, CSV export, flag a call as a threat, incidents."""
    svc = services(request)
    calls = await api.query_calls(request)
    incidents = list(reversed(await api.call_log(svc).incidents()))
    csrf = csrf_token(request)
    q = {k: request.query.get(k, "")[:40] for k in ("since", "until", "number")}
    kept = "".join(  # the filter survives flagging a call
        f'<input type="hidden" name="{k}" value="{e(v)}">' for k, v in q.items() if v
    )
    directory = svc.config.directory
    memo: dict[str, str] = {}
    flagged = {i.call_id: i for i in incidents}
    started: dict[str, str] = {}
    rows = []
    for c in calls[:500]:
        cid = c.call_id
        duration = "" if c.duration_s is None else f"{c.duration_s} s"
        started[cid] = f"{_local_s(c.start, request)}, {party(c.caller, directory, memo)}"
        incident = flagged.get(cid)
        threat = (
            f'<strong class="badge blocked">Flaggat: {e(incident.reference)}</strong>'
            if incident is not None
            else (
                f'<form method="post" action="/it/samtal/{e(quote(cid, safe=""))}/hot">'
                f"{hidden_csrf(csrf)}{kept}"
                f'<label class="sr-only" for="note-{e(cid)}">Beskrivning av hotet</label>'
                f'<input type="text" id="note-{e(cid)}" name="note" required maxlength="2000" '
                'placeholder="Beskriv hotet">'
                '<button type="submit">Flagga som hot</button></form>'
            )
        )
        rows.append(
            ("<tr class='flagged'>" if incident else "<tr>")
            + f'<td data-label="Start">{e(_local_s(c.start, request))}</td>'
            f'<td data-label="Slut">{e(_local_s(c.end, request))}</td>'
            f'<td data-label="Längd">{e(duration)}</td>'
            f'<td data-label="Från">{party_html(c.caller, directory, memo)}</td>'
            f'<td data-label="Till">{party_html(c.called, directory, memo)}</td>'
            f'<td data-label="Kopplat till">'
            f"{'; '.join(party_html(d, directory, memo) for d in c.dialled)}</td>"
            f'<td data-label="Utfall">{e(outcome_text(c.outcome))}</td>'
            f'<td data-label="Hot">{threat}</td></tr>'
        )
    inc_rows = "".join(
        f'<tr><td data-label="Referens">{e(i.reference)}</td>'
        f'<td data-label="Samtal">{e(started.get(i.call_id, "utanför urvalet"))}</td>'
        f'<td data-label="Anmält">{e(_local(i.reported_at, request))} av '
        f"{e(_name_of(directory, i.reported_by))}</td>"
        f'<td data-label="Beskrivning">{e(i.note)}</td></tr>'
        for i in incidents
    )
    csv_link = "/api/calls.csv?" + urlencode({k: v for k, v in q.items() if v})
    body = _flash(request) + (
        '<form method="get" action="/it" role="search">'
        f'<label for="since">Från och med</label><input type="datetime-local" id="since" '
        f'name="since" value="{e(q["since"])}">'
        f'<label for="until">Till</label><input type="datetime-local" id="until" name="until" '
        f'value="{e(q["until"])}">'
        f'<label for="number">Nummer</label><input type="text" id="number" name="number" '
        f'value="{e(q["number"])}" inputmode="tel">'
        '<button type="submit">Visa</button></form>'
        f'<p><a href="{e(csv_link)}">Exportera som CSV</a> · {len(calls)} samtal</p>'
        '<table id="calls"><thead><tr><th scope="col">Start</th><th scope="col">Slut</th>'
        '<th scope="col">Längd</th><th scope="col">Från</th><th scope="col">Till</th>'
        '<th scope="col">Kopplat till</th><th scope="col">Utfall</th><th scope="col">Hot</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        '<h2>Incidenter</h2><table id="incidents"><thead><tr><th scope="col">Referens</th>'
        '<th scope="col">Samtal</th><th scope="col">Anmält</th><th scope="col">Beskrivning</th>'
        f"</tr></thead><tbody>{inc_rows}</tbody></table>"
    )
    return _render(request, "Samtalslogg", body, "/it")


async def it_threat(request: web.Request) -> web.StreamResponse:
    """POST /it/samtal/{call_id}/hot: flag a call as a threat (ALV-20)."""
    svc = services(request)
    form = await _form(request)
    note = form.get("note", "").strip()[:2000]
    if not note:
        return _back("/it", err="Beskriv hotet innan du flaggar samtalet.")
    if text_problem(note, multiline=True) is not None:
        return _back("/it", err="Beskrivningen får inte innehålla styrtecken.")
    incident = await api.flag_threat(
        svc, request.match_info["call_id"], note, account(request).user_id
    )
    kept = {k: form[k][:40] for k in ("since", "until", "number") if form.get(k)}
    path = "/it" + ("?" + urlencode(kept) if kept else "")
    return _back(path, ok=f"Incident {incident.reference} är registrerad.")
