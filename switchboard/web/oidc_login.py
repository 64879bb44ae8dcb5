"""What a sign-in through the identity provider carries between the two requests and after:
the refusals (`OidcError` and its kinds), the login state in a signed, HttpOnly cookie bound to
the browser that started it (so any node can finish the login), and the mapping of the ID
token's claims to a directory user and roles."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from routing.models import Directory
from switchboard.config.http_settings import OidcSettings
from switchboard.web.auth import FailureLog, Role
from switchboard.web.errors import WebError

STATE_COOKIE = "sb_oidc"
STATE_TTL = timedelta(minutes=10)  # from leaving for the provider to coming back


class OidcError(WebError):
    """A sign-in through the identity provider that is refused; `reason` is for the log."""

    error_id = "oidc-failed"
    status = 401

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


class OidcUnavailable(OidcError):
    """The identity provider could not be reached or answered nonsense."""

    error_id = "oidc-unavailable"
    status = 502


class OidcUnknownUser(OidcError):
    """The identity provider vouched for someone this service's directory does not hold."""

    error_id = "oidc-unknown-user"
    status = 403


class OidcNotConfigured(WebError):
    """No identity provider is configured (`http.oidc`)."""

    error_id = "not-found"
    status = 404


class UsedStates(FailureLog, Protocol):
    """Where a login's state is marked used, on every node (`WebStore` satisfies it)."""

    async def revoke_session(self, sid: str, expires: datetime, now: datetime) -> None:
        """Record `sid` as used until `expires`."""
        ...

    async def session_revoked(self, sid: str, expires: datetime, now: datetime) -> bool:
        """Whether `sid` was recorded."""
        ...


@dataclass(frozen=True, slots=True)
class LoginState:
    """One login under way: what only the browser that started it may finish it with."""

    state: str
    nonce: str
    verifier: str
    next: str
    expires: int  # epoch seconds


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Who the identity provider says signed in, mapped to the directory and to roles."""

    user_id: str
    roles: frozenset[Role]
    subject: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class StateCodec:
    """The login-state cookie: JSON, HMAC-SHA256-signed with the session secret."""

    def __init__(self, secret: bytes) -> None:
        self.secret = hashlib.sha256(b"switchboard-oidc-state:" + secret).digest()

    def _sign(self, data: bytes) -> str:
        return _b64(hmac.new(self.secret, data, hashlib.sha256).digest())

    def dump(self, st: LoginState) -> str:
        """The cookie value."""
        payload = json.dumps(
            {"s": st.state, "n": st.nonce, "v": st.verifier, "x": st.next, "e": st.expires}
        ).encode()
        return f"{_b64(payload)}.{self._sign(payload)}"

    def load(self, value: str | None, now: datetime) -> LoginState:
        """The state in a cookie; OidcError when missing, forged or expired."""
        expired = OidcError("the sign-in took too long or was started elsewhere; start again")
        if not value:
            raise OidcError(expired.message, "no state cookie")
        try:
            body, sig = value.split(".", 1)
            payload = _unb64(body)
            if not hmac.compare_digest(sig.encode(), self._sign(payload).encode()):
                raise OidcError(expired.message, "state cookie with a wrong signature")
            data = json.loads(payload)
            st = LoginState(
                str(data["s"]), str(data["n"]), str(data["v"]), str(data["x"]), int(data["e"])
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise OidcError(expired.message, "unreadable state cookie") from exc
        if now.timestamp() >= st.expires:
            raise OidcError(expired.message, "state cookie expired")
        return st


def _claim_values(value: object) -> list[str]:
    """A claim's values: a list, or one string (space-separated values allowed)."""
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def map_roles(settings: OidcSettings, claims: Mapping[str, object]) -> frozenset[Role]:
    """Staff, plus the roles the configured claim gives (through `role_map`, or by name)."""
    roles = {Role.STAFF}
    if settings.roles_claim is None:
        return frozenset(roles)
    for value in _claim_values(claims.get(settings.roles_claim)):
        if settings.role_map:
            roles.update(Role(r) for r in settings.role_map.get(value, ()))
        elif value in {r.value for r in Role}:
            roles.add(Role(value))
    return frozenset(roles)


def directory_user(directory: Directory, value: object) -> str | None:
    """The directory user id a claim names (exactly, else the one equal ignoring case)."""
    if not isinstance(value, str) or not value or len(value) > 200:
        return None
    if directory.user(value) is not None:
        return value
    folded = [u.id for u in directory.users if u.id.casefold() == value.casefold()]
    return folded[0] if len(folded) == 1 else None
