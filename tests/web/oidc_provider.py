"""A small OpenID provider on 127.0.0.1 for the sign-in tests (maintained like product code).

It speaks the real protocol: discovery, a JWKS of RSA keys, an authorization endpoint that
signs the configured person in at once and redirects back with a code, and a token endpoint
that checks the client, the redirect URI and the PKCE verifier (S256) before it answers with an
RS256-signed ID token. Knobs let a test make it misbehave (another audience, an expired token,
a signature by a key it never published, an earlier login's nonce, codes redeemable twice).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey


def _key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


@dataclass
class Grant:
    """What an authorization code stands for until it is redeemed."""

    client_id: str
    redirect_uri: str
    challenge: str
    method: str
    nonce: str | None
    claims: dict[str, object]
    redeemed: int = 0


@dataclass
class Tamper:
    """How the next ID tokens are spoiled (all off: a correct provider)."""

    audience: str | None = None  # sign for another client
    expires_in_s: int = 300  # negative: already expired
    foreign_key: bool = False  # sign with a key that is not in the JWKS (same kid)
    nonce: str | None = None  # put this nonce in instead of the request's
    algorithm_none: bool = False  # an unsigned token (alg "none")
    codes_reusable: bool = False  # a code may be redeemed more than once


@dataclass
class OpenIdProvider:
    """The provider; `user` is who signs in at the authorization endpoint."""

    now: Callable[[], datetime]
    client_id: str = "switchboard-test"
    client_secret: str | None = None  # None: a public client (PKCE only)
    redirect_uris: tuple[str, ...] = ()
    user: dict[str, object] = field(default_factory=dict)
    tamper: Tamper = field(default_factory=Tamper)
    issuer: str = ""
    requests: list[dict[str, str]] = field(default_factory=list)  # authorization requests
    token_requests: list[dict[str, str]] = field(default_factory=list)
    jwks_fetches: int = 0
    _grants: dict[str, Grant] = field(default_factory=dict)
    _keys: list[RSAKey] = field(default_factory=lambda: [_key("k1")])
    _runner: web.AppRunner | None = None

    # -- lifecycle

    async def start(self) -> None:
        """Listen on 127.0.0.1 (any free port); `issuer` is then its address."""
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/jwks", self._jwks)
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/token", self._token)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.issuer = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def rotate_key(self) -> None:
        """Sign from now on with a new key (new kid), published beside the old one."""
        self._keys.insert(0, _key(f"k{len(self._keys) + 1}"))

    # -- endpoints

    async def _discovery(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
            }
        )

    async def _jwks(self, request: web.Request) -> web.StreamResponse:
        self.jwks_fetches += 1
        return web.json_response(KeySet(list(self._keys)).as_dict(private=False))

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        q = dict(request.query)
        self.requests.append(q)
        if q.get("client_id") != self.client_id or q.get("redirect_uri") not in self.redirect_uris:
            return web.Response(status=400, text="unknown client or redirect URI")
        if q.get("response_type") != "code" or "openid" not in q.get("scope", "").split():
            return web.Response(status=400, text="only the OpenID code flow")
        if not q.get("code_challenge") or q.get("code_challenge_method") != "S256":
            return web.Response(status=400, text="PKCE with S256 is required")
        code = secrets.token_urlsafe(24)
        self._grants[code] = Grant(
            self.client_id,
            q["redirect_uri"],
            q["code_challenge"],
            q["code_challenge_method"],
            q.get("nonce"),
            dict(self.user),
        )
        back = {"code": code, "state": q.get("state", "")}
        raise web.HTTPFound(f"{q['redirect_uri']}?{urlencode(back)}")

    async def _token(self, request: web.Request) -> web.StreamResponse:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_requests.append(form)
        client_id = form.get("client_id", "")
        if self.client_secret is not None:
            expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            if request.headers.get("Authorization") != f"Basic {expected}":
                return web.json_response({"error": "invalid_client"}, status=401)
        grant = self._grants.get(form.get("code", ""))
        if grant is None or form.get("grant_type") != "authorization_code":
            return web.json_response({"error": "invalid_grant"}, status=400)
        if grant.redeemed and not self.tamper.codes_reusable:
            return web.json_response({"error": "invalid_grant"}, status=400)
        if client_id != grant.client_id or form.get("redirect_uri") != grant.redirect_uri:
            return web.json_response({"error": "invalid_grant"}, status=400)
        digest = hashlib.sha256(form.get("code_verifier", "").encode("ascii")).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.challenge:
            return web.json_response({"error": "invalid_grant", "why": "PKCE"}, status=400)
        grant.redeemed += 1
        access = secrets.token_urlsafe(24)
        return web.json_response(
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": self.id_token(grant),
            }
        )

    # -- the ID token

    def id_token(self, grant: Grant) -> str:
        """The signed ID token for a grant, spoiled as `tamper` says."""
        t = self.tamper
        now = int(self.now().timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": t.audience or grant.client_id,
            "iat": now,
            "exp": now + t.expires_in_s,
            "nonce": t.nonce or grant.nonce,
            **grant.claims,
        }
        key = self._keys[0]
        kid = str(key.kid)
        if t.algorithm_none:
            head = {"alg": "none", "typ": "JWT"}
            return f"{_b64json(head)}.{_b64json(claims)}."
        if t.foreign_key:
            key = _key(kid)  # same kid, never published
        return jwt.encode({"alg": "RS256", "kid": kid, "typ": "JWT"}, claims, key)


def _b64json(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
