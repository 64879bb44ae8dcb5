"""Sign-in through the municipality's identity provider: OpenID Connect, authorization code
with PKCE (RFC 7636), as a confidential client (client secret) or a public one.

authlib builds the authorization request and checks the ID token's claims (`CodeIDToken`:
iss, aud, exp, iat, nonce, azp); joserfc (authlib's JOSE library) verifies its signature
against the provider's JWKS; aiohttp is the transport, as everywhere in the service.

The login's state, nonce and code verifier travel in a signed, HttpOnly cookie bound to the
browser that started it (`switchboard.web.oidc_login`), so any node can finish the login; each
state is used once on every node (the web store records it), so a replayed callback is
refused.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus

import aiohttp
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from routing.models import Directory
from switchboard.config.http_settings import OidcSettings, url_problem
from switchboard.web.oidc_login import (
    STATE_TTL,
    LoginState,
    OidcError,
    OidcUnavailable,
    OidcUnknownUser,
    SignedIn,
    UsedStates,
    directory_user,
    map_roles,
)

log = logging.getLogger("switchboard.web.oidc")

# Asymmetric signatures only: "none" and HS256 (keyed with a secret the client also holds)
# are never accepted for an ID token.
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
CLOCK_SKEW_S = 60
DISCOVERY_TTL_S = 3600.0
JWKS_REFRESH_MIN_S = 60.0  # an unknown key id fetches the JWKS again at most this often
HTTP_TIMEOUT_S = 10.0
MAX_DOCUMENT = 512 * 1024


class OidcClient:
    """The relying party for one provider: discovery, JWKS, the code exchange, the ID token."""

    def __init__(
        self,
        settings: OidcSettings,
        *,
        used: UsedStates,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.used = used  # where each state is claimed once, on every node
        self.monotonic = monotonic  # when discovery and keys were read (injectable)
        self._session: aiohttp.ClientSession | None = None
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = -JWKS_REFRESH_MIN_S
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S),
                headers={"Accept": "application/json"},
            )
        return self._session

    async def _json(self, method: str, url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        """(status, JSON object) of one request to the provider; OidcUnavailable otherwise."""
        try:
            async with self._http().request(method, url, allow_redirects=False, **kwargs) as r:
                body = await r.content.read(MAX_DOCUMENT + 1)
                status = r.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise OidcUnavailable(
                "the identity provider could not be reached; try again later",
                f"{method} {url}: {type(exc).__name__}: {exc}",
            ) from exc
        if len(body) > MAX_DOCUMENT:
            raise OidcUnavailable("the identity provider answered nonsense", f"{url}: too large")
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise OidcUnavailable(
                "the identity provider answered nonsense", f"{url}: HTTP {status}, not JSON"
            )
        return status, data

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (cached), checked against the configuration."""
        now = self.monotonic()
        if self._metadata is not None and now - self._metadata_at < DISCOVERY_TTL_S:
            return self._metadata
        issuer = self.settings.issuer
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        status, doc = await self._json("GET", url)
        bad = OidcUnavailable("the identity provider's configuration is not usable")
        if status != 200:
            raise OidcUnavailable(bad.message, f"{url}: HTTP {status}")
        if doc.get("issuer") != issuer:  # OpenID Connect Discovery 4.3
            raise OidcUnavailable(bad.message, f"{url}: issuer {doc.get('issuer')!r} differs")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if (problem := url_problem(doc.get(key))) is not None:
                raise OidcUnavailable(bad.message, f"{url}: {key} {problem}")
        if "code" not in doc.get("response_types_supported", ["code"]):
            raise OidcUnavailable(bad.message, f"{url}: no authorization code flow")
        self._metadata, self._metadata_at = doc, now
        return doc

    async def _key_set(self, refresh: bool) -> KeySet:
        async with self._lock:
            now = self.monotonic()
            stale = self._keys is None or (refresh and now - self._keys_at >= JWKS_REFRESH_MIN_S)
            if stale:
                meta = await self.metadata()
                status, doc = await self._json("GET", meta["jwks_uri"])
                if status != 200:
                    raise OidcUnavailable(
                        "the identity provider's keys could not be read",
                        f"JWKS: HTTP {status}",
                    )
                try:
                    self._keys = KeySet.import_key_set(doc)  # type: ignore[arg-type]
                except (JoseError, ValueError, TypeError, KeyError) as exc:
                    raise OidcUnavailable(
                        "the identity provider's keys could not be read", f"JWKS: {exc}"
                    ) from exc
                self._keys_at = now
            assert self._keys is not None
            return self._keys

    async def begin(self, next_path: str, now: datetime) -> tuple[str, LoginState]:
        """The provider's authorization URL for a new login, and the state to keep."""
        meta = await self.metadata()
        st = LoginState(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(64),  # 86 characters of the 43–128 RFC 7636 allows
            next=next_path,
            expires=int((now + STATE_TTL).timestamp()),
        )
        s = self.settings
        url: str = prepare_grant_uri(
            meta["authorization_endpoint"],
            s.client_id,
            "code",
            redirect_uri=s.redirect_uri,
            scope=list(s.scopes),
            state=st.state,
            nonce=st.nonce,
            code_challenge=create_s256_code_challenge(st.verifier),
            code_challenge_method="S256",
        )
        return url, st

    async def claim_state(self, st: LoginState, now: datetime) -> None:
        """Use the login's state once, on every node; OidcError for a replayed callback.

        Two records: the login-attempt table decides atomically between callbacks racing
        each other (a limit of one), and the revoked-session table keeps the state used until
        it expires (the login limiter purges its table after its own, shorter window).
        """
        subject = "oidc-state:" + hashlib.sha256(st.state.encode()).hexdigest()[:40]
        expires = datetime.fromtimestamp(st.expires, now.tzinfo)
        replayed = OidcError("this sign-in has already been used; start again", "replayed state")
        if await self.used.session_revoked(subject, expires, now):
            raise replayed
        if await self.used.claim_login_attempt({subject: 1}, now, now - STATE_TTL):
            raise replayed
        await self.used.revoke_session(subject, expires, now)

    async def finish(
        self, st: LoginState, query: Mapping[str, str], directory: Directory, now: datetime
    ) -> SignedIn:
        """Check the callback against the state, redeem the code, verify the ID token and map
        its subject to a directory user with roles."""
        sent = query.get("state", "")
        if not hmac.compare_digest(sent.encode("utf-8", "surrogateescape"), st.state.encode()):
            raise OidcError("the sign-in did not match; start again", "state differs")
        await self.claim_state(st, now)
        if "error" in query:
            code = "".join(c for c in query.get("error", "")[:60] if c.isalnum() or c in "_-")
            raise OidcError("the identity provider refused the sign-in", f"provider: {code}")
        code = query.get("code", "")
        if not code or len(code) > 4096:
            raise OidcError("the sign-in did not match; start again", "no code")
        tokens = await self._redeem(code, st)
        claims = await self._verify(tokens, st, now)
        user = directory_user(directory, claims.get(self.settings.user_claim))
        if user is None:
            raise OidcUnknownUser(
                "your account is not in the directory of this service",
                f"claim {self.settings.user_claim} names no directory user",
            )
        return SignedIn(user, map_roles(self.settings, claims), str(claims.get("sub", "")))

    async def _redeem(self, code: str, st: LoginState) -> dict[str, Any]:
        meta = await self.metadata()
        s = self.settings
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": s.redirect_uri,
            "client_id": s.client_id,
            "code_verifier": st.verifier,
        }
        headers = {}
        if s.client_secret:  # client_secret_basic: both form-encoded first (RFC 6749 2.3.1)
            pair = f"{quote_plus(s.client_id)}:{quote_plus(s.client_secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        status, tokens = await self._json(
            "POST", meta["token_endpoint"], data=form, headers=headers
        )
        if status != 200 or not isinstance(tokens.get("id_token"), str):
            error = str(tokens.get("error", ""))[:60]
            raise OidcError(
                "the identity provider did not accept the sign-in; start again",
                f"token endpoint: HTTP {status} {error}",
            )
        return tokens

    async def _verify(self, tokens: Mapping[str, Any], st: LoginState, now: datetime) -> Any:
        """The ID token's claims once its signature, issuer, audience, times and nonce hold."""
        id_token = str(tokens["id_token"])
        refused = OidcError("the sign-in could not be verified; start again")
        algorithms = self._algorithms(await self.metadata())
        try:
            try:
                token = jwt.decode(id_token, await self._key_set(False), algorithms=algorithms)
            except (JoseError, ValueError) as exc:
                # a new signing key (rotation) is looked up once, then it is a bad signature
                if not self._rotated(exc):
                    raise
                token = jwt.decode(id_token, await self._key_set(True), algorithms=algorithms)
            s = self.settings
            claims = CodeIDToken(
                token.claims,
                token.header,
                options={
                    "iss": {"essential": True, "value": s.issuer},
                    "aud": {"essential": True, "value": s.client_id},
                    "sub": {"essential": True},
                },
                params={
                    "nonce": st.nonce,
                    "client_id": s.client_id,
                    "access_token": tokens.get("access_token"),
                },
            )
            claims.validate(now=int(now.timestamp()), leeway=CLOCK_SKEW_S)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise OidcError(refused.message, f"ID token: {type(exc).__name__}: {exc}") from exc
        return claims

    @staticmethod
    def _rotated(exc: Exception) -> bool:
        name = type(exc).__name__
        return name in ("InvalidKeyIdError", "MissingKeyError", "BadSignatureError")

    @staticmethod
    def _algorithms(meta: Mapping[str, Any]) -> list[str]:
        offered = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
        allowed = [a for a in SIGNING_ALGORITHMS if isinstance(offered, list) and a in offered]
        return allowed or ["RS256"]
