"""Sessions: a login checked against the rate limit and the password hash, the session cookie,
who is signed in, a sign-in refused from another site (login CSRF), and signing out."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from aiohttp import web

from switchboard.web.auth import Account, Session, verify_password
from switchboard.web.core import SESSION_COOKIE, services, session, state
from switchboard.web.errors import Forbidden, LoginFailed
from switchboard.web.features.session.schemas import Me


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


def me(request: web.Request, acct: Account, sess: Session) -> Me:
    """Who is signed in, their roles and the CSRF token for cookie-borne changes."""
    user = services(request).config.directory.user(acct.user_id)
    return Me(
        user=acct.user_id,
        name=user.name if user else acct.user_id,
        roles=sorted(acct.roles),
        expires=sess.expires.isoformat(),
        csrf=state(request).codec.csrf(sess),
    )


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
        public = services(request).config.http.public_url
        ours = {(request.host or "").lower(), urlsplit(public).netloc.lower() if public else ""}
        if not host or host.lower() not in ours:
            raise Forbidden("a sign-in from another site is refused")
    elif origin == "null":
        raise Forbidden("a sign-in from another site is refused")
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        raise Forbidden("a sign-in from another site is refused")


async def end_session(request: web.Request) -> None:
    """Log the request's session out on every node (kept in the web store until it expires)."""
    sess, svc = session(request), services(request)
    await svc.store.revoke_session(sess.sid, sess.expires, svc.now())
