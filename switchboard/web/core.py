"""App keys, the endpoint table's types, and per-request helpers shared by API and pages."""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web

from switchboard.web.auth import Account, LoginLimiter, Role, Session, SessionCodec
from switchboard.web.errors import NotAuthenticated
from switchboard.web.oidc import OidcClient
from switchboard.web.oidc_login import StateCodec
from switchboard.web.services import WebServices
from switchboard.web.store import ChangeHub

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SESSION_COOKIE = "sb_session"
LOGIN_COOKIE = "sb_login"
PUBLIC: frozenset[Role] = frozenset()
STAFF = frozenset(Role)
REGISTRAR = frozenset({Role.REGISTRAR})
ADMIN = frozenset({Role.ADMIN})
IT = frozenset({Role.IT})


@dataclass(frozen=True)
class Endpoint:
    """One route: method, path, handler, the roles allowed (empty = public) and its API doc."""

    method: str
    path: str
    handler: Handler
    roles: frozenset[Role]
    summary: str
    kind: Literal["api", "page", "ops"] = "api"
    query: Mapping[str, str] = field(default_factory=dict)  # name -> description
    body: Mapping[str, object] | None = None  # JSON schema of the request body
    produces: str = "application/json"
    ok: int = 200


@dataclass
class WebState:
    """Per-app web machinery: the session codec, login limiter and the endpoint table."""

    codec: SessionCodec
    limiter: LoginLimiter
    hub: ChangeHub
    endpoints: dict[web.AbstractRoute, Endpoint] = field(default_factory=dict)
    table: list[Endpoint] = field(default_factory=list)
    oidc: OidcClient | None = None  # sign-in through the identity provider (`http.oidc`)
    oidc_states: StateCodec | None = None


@dataclass(frozen=True, slots=True)
class Identity:
    """The signed-in account of one request, its session, and how the token came."""

    account: Account
    session: Session
    via_cookie: bool


# Who is signed in: set by the auth middleware for the task that runs the handler.
_IDENTITY: contextvars.ContextVar[Identity | None] = contextvars.ContextVar(
    "switchboard_web_identity", default=None
)
SERVICES = web.AppKey("web_services", WebServices)
STATE = web.AppKey("web_state", WebState)


def services(request: web.Request) -> WebServices:
    """The services of this app."""
    return request.app[SERVICES]


def state(request: web.Request) -> WebState:
    """The web machinery of this app."""
    return request.app[STATE]


def clear_identity() -> None:
    """Forget the signed-in account (start of every request)."""
    _IDENTITY.set(None)


def set_identity(
    request: web.Request, account: Account, session: Session, via_cookie: bool
) -> None:
    """Attach the signed-in account to the request (auth middleware)."""
    _IDENTITY.set(Identity(account, session, via_cookie))


def account(request: web.Request) -> Account:
    """The signed-in account; NotAuthenticated when there is none."""
    found = _IDENTITY.get()
    if found is None:
        raise NotAuthenticated("sign in first")
    return found.account


def maybe_account(request: web.Request) -> Account | None:
    """The signed-in account, or None on public routes."""
    found = _IDENTITY.get()
    return found.account if found else None


def session(request: web.Request) -> Session:
    """The verified session."""
    found = _IDENTITY.get()
    if found is None:
        raise NotAuthenticated("sign in first")
    return found.session


def csrf_token(request: web.Request) -> str:
    """The CSRF token for forms on this page."""
    return state(request).codec.csrf(session(request))
