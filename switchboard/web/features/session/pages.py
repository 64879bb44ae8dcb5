"""The login pages in Swedish: the form for local accounts (CSRF bound to a login cookie,
rate-limited), the identity provider's round trip (OpenID Connect, code + PKCE), and logout."""

from __future__ import annotations

import logging
import secrets
from urllib.parse import quote, urlsplit

from aiohttp import web

from switchboard.web.core import LOGIN_COOKIE, SESSION_COOKIE, services, state
from switchboard.web.errors import CsrfFailed, LoginFailed, TooManyAttempts
from switchboard.web.features.session import service
from switchboard.web.html import e, hidden_csrf, page
from switchboard.web.layout import read_form, see_other
from switchboard.web.middleware import same_token
from switchboard.web.oidc import OidcClient
from switchboard.web.oidc_login import (
    STATE_COOKIE,
    STATE_TTL,
    OidcError,
    OidcNotConfigured,
    StateCodec,
)

log = logging.getLogger("switchboard.web")
OIDC_PATH = "/login/oidc"


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
    form = await read_form(request)
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not same_token(form.get("csrf"), state(request).codec.login_csrf(nonce)):
        raise CsrfFailed("the login form has expired; reload it")
    try:
        token, _ = await service.authenticate(
            request, form.get("user", "").strip()[:100], form.get("password", "")[:200]
        )
    except (LoginFailed, TooManyAttempts) as exc:
        resp = _login_response(request, exc.error_id, exc.status)
        if isinstance(exc, TooManyAttempts):
            resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    resp = see_other(safe_next(request.query.get("next", "/")))
    service.set_session_cookie(resp, request, token)
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
    service.set_session_cookie(resp, request, token)
    resp.del_cookie(STATE_COOKIE, path=OIDC_PATH)
    return resp


async def logout_post(request: web.Request) -> web.StreamResponse:
    """POST /logout."""
    await service.end_session(request)
    resp = see_other("/login")
    resp.del_cookie(SESSION_COOKIE, path="/")
    return resp
