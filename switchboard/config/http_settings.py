"""The `http:` section: how the web layer is reached, its cookies, and sign-in through the
municipality's identity provider (OpenID Connect).

```yaml
http:
  public_url: https://vaxel.alvkarleby.se   # the address staff use (the OIDC redirect URI's base)
  secure_cookies: true                      # default: true when public_url is https
  oidc:
    issuer: https://login.microsoftonline.com/<tenant>/v2.0
    client_id: 2f0c…                        # the app registration
    client_secret_env: SWITCHBOARD_OIDC_SECRET   # optional: without it a public client (PKCE)
    user_claim: preferred_username          # the claim holding the directory's user id
    roles_claim: groups                     # the claim whose values give roles
    role_map:                               # claim value → roles (without it: role names)
      5f1c…: [registrar]
      9a7d…: [admin, it]
```

The client secret only ever comes from the environment. Unknown keys are errors.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from storage.problems import ConfigProblem

ROLE_NAMES = ("staff", "registrar", "admin", "it")
CALLBACK_PATH = "/login/oidc/callback"
DEFAULT_LABEL = "Logga in med kommunens konto"
_HTTP_KEYS = ("public_url", "secure_cookies", "oidc")
_OIDC_KEYS = (
    "issuer",
    "client_id",
    "client_secret_env",
    "scopes",
    "user_claim",
    "roles_claim",
    "role_map",
    "label",
)


@dataclass(frozen=True, slots=True)
class OidcSettings:
    """One OpenID provider and how its ID tokens map to the directory and to roles."""

    issuer: str
    client_id: str
    redirect_uri: str
    client_secret_env: str | None = None
    client_secret: str | None = field(default=None, repr=False)  # from the environment
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    user_claim: str = "preferred_username"
    roles_claim: str | None = "roles"
    role_map: Mapping[str, frozenset[str]] = field(default_factory=dict)
    label: str = DEFAULT_LABEL


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """The parsed `http:` section."""

    secure_cookies: bool = False
    public_url: str | None = None
    oidc: OidcSettings | None = None


def is_loopback(host: str | None) -> bool:
    """127.0.0.1, ::1 or localhost: plain http is allowed there (a test or a laptop)."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(value: object, *, path_ok: bool = True) -> str | None:
    """Why `value` is not an https address (http only on loopback), or None."""
    if not isinstance(value, str) or not value:
        return "must be an https:// address"
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return "must be an https:// address"
    if parts.scheme not in ("https", "http") or not host:
        return "must be an https:// address"
    if parts.scheme == "http" and not is_loopback(host):
        return "must be https:// (plain http only on 127.0.0.1 or localhost)"
    if parts.query or parts.fragment or (not path_ok and parts.path not in ("", "/")):
        return "must be an address without a query or fragment"
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
        return "must not contain spaces or control characters"
    return None


def parse_http(
    raw: object, environ: Mapping[str, str] | None = None
) -> tuple[HttpSettings, list[ConfigProblem]]:
    """Parse the section (absent: no secure cookies, no identity provider)."""
    env = os.environ if environ is None else environ
    problems: list[ConfigProblem] = []
    if raw is None:
        return HttpSettings(), problems
    if not isinstance(raw, Mapping):
        return HttpSettings(), [ConfigProblem("", "must be a mapping")]
    _unknown(raw, _HTTP_KEYS, "", problems)
    public_url = raw.get("public_url")
    if public_url is not None:
        problem = url_problem(public_url)
        if problem:
            problems.append(ConfigProblem("public_url", problem))
            public_url = None
        else:
            public_url = str(public_url).rstrip("/")
    secure_default = isinstance(public_url, str) and public_url.startswith("https://")
    secure = raw.get("secure_cookies", secure_default)
    if not isinstance(secure, bool):
        problems.append(ConfigProblem("secure_cookies", "must be true or false"))
        secure = secure_default
    oidc = None
    if raw.get("oidc") is not None:
        oidc = _parse_oidc(raw["oidc"], public_url, env, problems)
    return HttpSettings(secure, public_url, oidc), problems


def _unknown(
    raw: Mapping[object, object], keys: tuple[str, ...], where: str, problems: list[ConfigProblem]
) -> None:
    for key in raw:
        if key not in keys:
            name = str(key) if isinstance(key, str) and key.isidentifier() else "(key)"
            problems.append(
                ConfigProblem(f"{where}{name}", f"unknown key (expected one of {', '.join(keys)})")
            )


def _parse_oidc(
    raw: object, public_url: str | None, env: Mapping[str, str], problems: list[ConfigProblem]
) -> OidcSettings | None:
    if not isinstance(raw, Mapping):
        problems.append(ConfigProblem("oidc", "must be a mapping"))
        return None
    before = len(problems)
    _unknown(raw, _OIDC_KEYS, "oidc.", problems)
    issuer = raw.get("issuer")
    if (problem := url_problem(issuer)) is not None:
        problems.append(ConfigProblem("oidc.issuer", problem))
    client_id = raw.get("client_id")
    if not isinstance(client_id, str) or not client_id.strip():
        problems.append(ConfigProblem("oidc.client_id", "is required (the app registration's id)"))
    if public_url is None:
        problems.append(
            ConfigProblem("public_url", "is required with oidc (the sign-in returns there)")
        )
    secret_env = raw.get("client_secret_env")
    secret: str | None = None
    if secret_env is not None:
        if not isinstance(secret_env, str) or not secret_env:
            problems.append(ConfigProblem("oidc.client_secret_env", "must name a variable"))
            secret_env = None
        elif not env.get(secret_env):
            problems.append(
                ConfigProblem(
                    "oidc.client_secret_env", f"environment variable {secret_env} is not set"
                )
            )
        else:
            secret = env[secret_env]
    scopes = raw.get("scopes", ["openid", "profile", "email"])
    if not isinstance(scopes, list) or not all(isinstance(s, str) and s for s in scopes):
        problems.append(ConfigProblem("oidc.scopes", "must be a list of scope names"))
        scopes = ["openid"]
    if "openid" not in scopes:
        scopes = ["openid", *scopes]
    user_claim = raw.get("user_claim", "preferred_username")
    if not isinstance(user_claim, str) or not user_claim:
        problems.append(ConfigProblem("oidc.user_claim", "must name a claim"))
    roles_claim = raw.get("roles_claim", "roles")
    if roles_claim is not None and (not isinstance(roles_claim, str) or not roles_claim):
        problems.append(ConfigProblem("oidc.roles_claim", "must name a claim"))
    role_map: dict[str, frozenset[str]] = {}
    mapping = raw.get("role_map") or {}
    if not isinstance(mapping, Mapping):
        problems.append(ConfigProblem("oidc.role_map", "must map claim values to lists of roles"))
        mapping = {}
    for value, roles in mapping.items():
        if isinstance(roles, str):
            roles = [roles]
        if not isinstance(roles, list) or not all(r in ROLE_NAMES for r in roles):
            problems.append(
                ConfigProblem("oidc.role_map", f"roles must be from: {', '.join(ROLE_NAMES)}")
            )
            continue
        role_map[str(value)] = frozenset(roles)
    label = raw.get("label", DEFAULT_LABEL)
    if not isinstance(label, str) or not label.strip():
        problems.append(ConfigProblem("oidc.label", "must be text"))
        label = DEFAULT_LABEL
    if len(problems) > before or public_url is None:
        return None
    return OidcSettings(
        issuer=str(issuer),  # compared with `iss` exactly: a trailing slash is kept
        client_id=str(client_id).strip(),
        redirect_uri=public_url + CALLBACK_PATH,
        client_secret_env=secret_env,
        client_secret=secret,
        scopes=tuple(scopes),
        user_claim=str(user_claim),
        roles_claim=roles_claim,
        role_map=role_map,
        label=label.strip(),
    )
