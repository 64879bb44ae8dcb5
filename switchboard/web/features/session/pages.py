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
from switchboard.web.templating import render_text

log = logging.getLogger("switchboard.web")
OIDC_PATH = "/login/oidc"


LOGIN_MESSAGES = {
    "session-expired": "Din session har gått ut. Logga in igen.",
    "not-authenticated": "Logga in för att fortsätta.",
    "login-failed": "Fel användar-id eller lösenord. Kontrollera dem och försök igen.",
    "too-many-attempts": "För många försök. Vänta en stund och försök igen.",
    "csrf-failed": "Formuläret hade gått ut. Försök igen.",
    "oidc-failed": "Inloggningen med kommunens konto gick inte igenom. Försök igen.",
    "oidc-unavailable": "Kommunens inloggningstjänst svarar inte just nu. Försök igen om en stund.",
    "oidc-unknown-user": "Ditt konto finns inte i växelns katalog. Kontakta IT-avdelningen.",
}


PUBLIC_PAGE = {"links": [], "current": "", "notice_ok": "", "notice_error": "", "script": ""}
FIELD_ERRORS = frozenset({"login-failed"})  # the typed user id and password were wrong


def _login_html(request: web.Request, nonce: str, error: str | None, user: str = "") -> str:
    """The sign-in page: the layout without a menu or a signed-in name."""
    nxt = quote(safe_next(request.query.get("next", "/")), safe="")
    oidc = state(request).oidc
    context = {
        **PUBLIC_PAGE,
        "title": "Logga in",
        "error": LOGIN_MESSAGES.get(error, "Inloggningen misslyckades. Försök igen.")
        if error
        else "",
        "error_field": error in FIELD_ERRORS,
        "user": user,
        "action": f"/login?next={nxt}",
        "login_csrf": state(request).codec.login_csrf(nonce),
        # staff sign in through the municipality's identity provider; the form is for the
        # few local (break-glass) accounts
        "oidc_label": oidc.settings.label if oidc is not None else "",
        "oidc_href": f"/login/oidc?next={nxt}",
    }
    return render_text("session/login.html", context)


def _login_response(
    request: web.Request, error: str | None, status: int = 200, user: str = ""
) -> web.Response:
    """The login page (a new login-form nonce cookie unless the browser has one); `user`: the
    user id typed, kept after a refused sign-in."""
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(16)
    resp = web.Response(
        text=_login_html(request, nonce, error, user),
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
    user = form.get("user", "").strip()[:100]
    try:
        token, _ = await service.authenticate(request, user, form.get("password", "")[:200])
    except (LoginFailed, TooManyAttempts) as exc:
        resp = _login_response(request, exc.error_id, exc.status, user)
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
        text=render_text(
            "session/signed_in.html", {**PUBLIC_PAGE, "title": "Inloggad", "target": target}
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
