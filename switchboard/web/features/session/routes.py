"""The session's endpoints: the JSON login, logout and who am I (API); the login form, the
identity provider's round trip and logout (pages)."""

from __future__ import annotations

from aiohttp import web

from switchboard.web.core import PUBLIC, SESSION_COOKIE, STAFF, Endpoint, account, services, session
from switchboard.web.errors import InvalidField
from switchboard.web.features.session import pages, service
from switchboard.web.features.session.schemas import LOGIN_BODY
from switchboard.web.http import read_json, text_field


async def login(request: web.Request) -> web.StreamResponse:
    """POST /api/login {user, password}: a bearer token (and the session cookie)."""
    service.refuse_cross_site(request)
    data = await read_json(request, services(request).max_body)
    user_id = text_field(data, "user", required=True, max_len=100) or ""
    password = data.get("password")
    if not isinstance(password, str) or not password or len(password) > 200:
        raise InvalidField("password", "is required text")
    token, sess = await service.authenticate(request, user_id, password)
    acct = services(request).accounts.get(sess.user_id)
    assert acct is not None
    body = service.me(request, acct, sess).as_json() | {"token": token}
    resp = web.json_response(body)
    service.set_session_cookie(resp, request, token)
    return resp


async def logout(request: web.Request) -> web.StreamResponse:
    """POST /api/logout: the session stops working."""
    await service.end_session(request)
    resp = web.json_response({"ok": True})
    resp.del_cookie(SESSION_COOKIE, path="/")
    return resp


async def me(request: web.Request) -> web.StreamResponse:
    """GET /api/me."""
    return web.json_response(service.me(request, account(request), session(request)).as_json())


def api_endpoints() -> list[Endpoint]:
    """Sign in, sign out, who am I."""
    return [
        Endpoint(
            "POST",
            "/api/login",
            login,
            PUBLIC,
            "Sign in: a bearer token and the session cookie",
            body=LOGIN_BODY,
        ),
        Endpoint("POST", "/api/logout", logout, STAFF, "Sign out"),
        Endpoint("GET", "/api/me", me, STAFF, "The signed-in account, roles and CSRF token"),
    ]


def page_endpoints() -> list[Endpoint]:
    """The login form, the identity provider's round trip, logout."""
    return [
        Endpoint("GET", "/login", pages.login_page, PUBLIC, "Login", "page"),
        Endpoint("POST", "/login", pages.login_post, PUBLIC, "Login", "page"),
        Endpoint(
            "GET",
            "/login/oidc",
            pages.oidc_start,
            PUBLIC,
            "Sign in through the identity provider (OpenID Connect, code + PKCE)",
            "page",
            query={"next": "a path on this site to return to"},
        ),
        Endpoint(
            "GET",
            "/login/oidc/callback",
            pages.oidc_callback,
            PUBLIC,
            "Where the identity provider returns (code and state)",
            "page",
        ),
        Endpoint("POST", "/logout", pages.logout_post, STAFF, "Logout", "page"),
    ]
