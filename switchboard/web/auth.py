"""Accounts, roles, password hashing (scrypt), signed session tokens, CSRF and login limits."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from routing.models import Directory
from storage.yamlfile import is_name, load_yaml
from switchboard.web.errors import NotAuthenticated, SessionExpired, TooManyAttempts

ACCOUNTS_FILE = "accounts.yaml"
DEV_PASSWORD_ENV = "SWITCHBOARD_DEV_PASSWORD"
SESSION_SECRET_ENV = "SWITCHBOARD_SESSION_SECRET"
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


class Role(StrEnum):
    """What an account may do: every employee is staff; the others add duties."""

    STAFF = "staff"
    REGISTRAR = "registrar"
    ADMIN = "admin"
    IT = "it"
    CONTACT_CENTRE = "contact_centre"  # Medborgarservice: assisted calls, notices (ALV-26, HAL-12)


ALL_ROLES = frozenset(Role)
ROLE_SV: dict[str, str] = {  # the roles as people read them
    Role.STAFF: "medarbetare",
    Role.REGISTRAR: "registrator",
    Role.ADMIN: "telefoniadministratör",
    Role.IT: "IT",
    Role.CONTACT_CENTRE: "Medborgarservice",
}


def hash_password(password: str, salt: bytes | None = None) -> str:
    """A scrypt hash as `scrypt$N$r$p$salt$hash` (base64)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches the stored scrypt hash (constant-time compare)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=64 * 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


class AccountsError(Exception):
    """accounts.yaml has problems; `problems` are one line each."""

    error_id = "invalid-accounts"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Account:
    """A directory user who may sign in, with their roles and password hash."""

    user_id: str
    roles: frozenset[Role]
    password_hash: str = field(repr=False)
    units: frozenset[str] = frozenset()  # HAL-12: an admin's scope; empty = every unit

    def administers(self, unit: str) -> bool:
        """An administrator for this unit (all units unless the account is scoped)."""
        return Role.ADMIN in self.roles and (not self.units or unit in self.units)


@dataclass(frozen=True)
class Accounts:
    """Every account by user id."""

    by_user: Mapping[str, Account]

    def get(self, user_id: str) -> Account | None:
        """The account, or None."""
        return self.by_user.get(user_id)

    def with_role(self, role: Role) -> tuple[str, ...]:
        """User ids holding `role`, sorted."""
        return tuple(sorted(a.user_id for a in self.by_user.values() if role in a.roles))

    @classmethod
    def of(cls, accounts: Iterable[Account]) -> Accounts:
        """Build from a list."""
        return cls({a.user_id: a for a in accounts})


def load_accounts(
    path: str | Path, directory: Directory, dev_password: str | None
) -> tuple[Accounts, bool]:
    """Read accounts.yaml: (accounts, whether any uses the development password).

    An entry without `password_hash` takes `dev_password`; if there is none that is an error.
    """
    path = Path(path)
    doc = load_yaml(path)  # bounded like every YAML the service reads; values never echoed
    if doc.problems:
        raise AccountsError(
            [
                f"{path}:{line}: {where or '(file)'}: {message}"
                for where, line, message in doc.problems
            ]
        )
    raw = doc.data or {}
    problems: list[str] = []
    entries = raw.get("accounts") if isinstance(raw, dict) else None
    if not isinstance(entries, dict):
        raise AccountsError([f"{path}: accounts: must be a mapping of user id to settings"])
    dev_hash: str | None = None
    used_dev = False
    out: list[Account] = []
    for user_id, settings in entries.items():
        where = f"{path}: accounts.{user_id if is_name(user_id) else '(key)'}"
        if directory.user(str(user_id)) is None:
            problems.append(f"{where}: not a user in the directory")
            continue
        if not isinstance(settings, dict):
            problems.append(f"{where}: must be a mapping with roles")
            continue
        roles_raw = settings.get("roles", ["staff"])
        if not isinstance(roles_raw, list) or not all(r in ALL_ROLES for r in roles_raw):
            problems.append(f"{where}.roles: must be a list of {', '.join(sorted(ALL_ROLES))}")
            continue
        roles = frozenset(Role(r) for r in roles_raw) | {Role.STAFF}
        pw_hash = settings.get("password_hash")
        if pw_hash is None:
            if dev_password is None:
                problems.append(f"{where}: no password_hash and no {DEV_PASSWORD_ENV} set")
                continue
            dev_hash = dev_hash or hash_password(dev_password)
            pw_hash = dev_hash
            used_dev = True
        elif not isinstance(pw_hash, str) or not pw_hash.startswith("scrypt$"):
            problems.append(f"{where}.password_hash: must be a scrypt hash (never a password)")
            continue
        units_raw = settings.get("units", [])
        if not isinstance(units_raw, list) or not all(isinstance(u, str) for u in units_raw):
            problems.append(f"{where}.units: must be a list of unit names")
            continue
        out.append(Account(str(user_id), roles, pw_hash, frozenset(units_raw)))
    if problems:
        raise AccountsError(problems)
    return Accounts.of(out), used_dev


@dataclass(frozen=True, slots=True)
class Session:
    """A verified session: who, until when, and its id (the CSRF token is derived from it).

    `roles` is set for a sign-in through the identity provider (OpenID Connect): the roles its
    ID token gave, signed into the token; None for a local account (roles from accounts.yaml).
    """

    user_id: str
    sid: str
    expires: datetime
    roles: frozenset[Role] | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionCodec:
    """Stateless signed session tokens (HMAC-SHA256 with a secret from the environment)."""

    def __init__(self, secret: bytes, ttl: timedelta) -> None:
        if len(secret) < 16:
            raise ValueError("the session secret must be at least 16 bytes")
        self.secret = secret
        self.ttl = ttl

    def _sign(self, data: bytes) -> str:
        return _b64(hmac.new(self.secret, data, hashlib.sha256).digest())

    def issue(
        self, user_id: str, now: datetime, roles: frozenset[Role] | None = None
    ) -> tuple[str, Session]:
        """A new token and its session; `roles` for a sign-in through the identity provider."""
        session = Session(user_id, secrets.token_urlsafe(16), now + self.ttl, roles)
        body: dict[str, object] = {
            "u": user_id,
            "sid": session.sid,
            "exp": int(session.expires.timestamp()),
        }
        if roles is not None:
            body["r"] = sorted(roles)
        payload = json.dumps(body).encode()
        return f"{_b64(payload)}.{self._sign(payload)}", session

    def verify(self, token: str, now: datetime) -> Session:
        """The session in a token; NotAuthenticated if forged, SessionExpired if too old."""
        try:
            body, sig = token.split(".", 1)
            payload = _unb64(body)
            if not hmac.compare_digest(sig, self._sign(payload)):
                raise NotAuthenticated("invalid session")
            data = json.loads(payload)
            user_id, sid, exp = str(data["u"]), str(data["sid"]), int(data["exp"])
            roles = frozenset(Role(r) for r in data["r"]) if "r" in data else None
            expires = datetime.fromtimestamp(exp, now.tzinfo)
        except (ValueError, KeyError, TypeError, OverflowError, OSError) as exc:
            raise NotAuthenticated("invalid session") from exc
        if now >= expires:
            raise SessionExpired("the session has expired; sign in again")
        return Session(user_id, sid, expires, roles)

    def csrf(self, session: Session) -> str:
        """The CSRF token for pages and cookie-authenticated API calls of this session."""
        return self._sign(b"csrf:" + session.sid.encode())

    def login_csrf(self, nonce: str) -> str:
        """The CSRF token of the login form, bound to a pre-session cookie nonce."""
        return self._sign(b"login:" + nonce.encode())


ACCOUNT_FAILURES = 5  # failed logins in the window that lock one account
# One address is often a whole office behind a proxy or NAT: one person's typos must not lock
# out the colleagues, so only a password sprayer reaches this many.
ADDRESS_FAILURES = 50
FAILURE_WINDOW = timedelta(minutes=5)


class FailureLog(Protocol):
    """Where login attempts are decided and counted for every node (`WebStore` satisfies it)."""

    async def claim_login_attempt(
        self, limits: Mapping[str, int], now: datetime, since: datetime
    ) -> Mapping[str, datetime | None]:
        """Atomically: the subjects at their limit of failures after `since` (with the oldest
        failure of each), or, when none is, count this attempt as a failure of each subject."""
        ...

    async def release_login_attempt(
        self, clear: str, take_back: Sequence[str], at: datetime
    ) -> None:
        """A good login: forget `clear`'s failures; take back the attempt at `at` of the others."""
        ...


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """A login the limiter let through: it counts as a failure until `succeeded` says otherwise."""

    account: str  # subject `user:<id>`
    address: str  # subject `addr:<address>`
    at: datetime


class LoginLimiter:
    """At most `account_limit` failed logins per account and `address_limit` per address in
    `window`, on every node.

    An attempt is counted before its password is checked, in the same transaction that lets it
    through, so a burst of parallel guesses gets exactly as many tries as a slow one.
    """

    def __init__(
        self,
        log: FailureLog,
        account_limit: int = ACCOUNT_FAILURES,
        address_limit: int = ADDRESS_FAILURES,
        window: timedelta = FAILURE_WINDOW,
    ) -> None:
        if account_limit < 1 or address_limit < 1 or window <= timedelta(0):
            raise ValueError("login limits must be at least 1 in a positive window")
        self.log = log
        self.account_limit = account_limit
        self.address_limit = address_limit
        self.window = window

    async def attempt(self, user_id: str, address: str, now: datetime) -> LoginAttempt:
        """Let one login attempt go ahead, counted as a failure; TooManyAttempts if locked."""
        attempt = LoginAttempt(f"user:{user_id.casefold()}", f"addr:{address}", now)
        limits = {attempt.account: self.account_limit, attempt.address: self.address_limit}
        full = await self.log.claim_login_attempt(limits, now, now - self.window)
        if full:
            # free again once the oldest counted failure leaves the window
            wait = max(
                self.window - (now - oldest) if oldest is not None else self.window
                for oldest in full.values()
            )
            raise TooManyAttempts(max(1, int(wait.total_seconds()) + 1))
        return attempt

    async def succeeded(self, attempt: LoginAttempt) -> None:
        """The password was right: the account starts afresh and the address is not charged."""
        await self.log.release_login_attempt(attempt.account, [attempt.address], attempt.at)
