"""Sign-in through the municipality's identity provider (OpenID Connect, code flow + PKCE)
against a provider the test starts on 127.0.0.1 (oidc_provider.py): discovery, JWKS, signed
ID tokens. Roles come from a configured claim (through a mapping, or by name), the directory
user from a configured claim; a wrong audience, an expired token, a bad signature, an unsigned
token, a replayed state and a replayed nonce are refused; local accounts still sign in
(break-glass). SQLite only: the state's single use on every node is the login-attempt table
both engines share (test_login_limits.py runs it on PostgreSQL too).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from oidc_provider import OpenIdProvider
from webkit import PASSWORD, FakeClock
from webkit import test_accounts as local_accounts

from switchboard.config import Config, load_config
from switchboard.config.http_settings import HttpSettings, OidcSettings, parse_http
from switchboard.web import WebServices, setup_web
from switchboard.web.core import STATE
from switchboard.web.services import IcsPresence
from switchboard.web.store import WebStore

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_URL = "https://vaxel.alvkarleby.example"
REDIRECT_URI = PUBLIC_URL + "/login/oidc/callback"
ANNA = "anna.andersson"
Client = TestClient[web.Request, web.Application]


@dataclass
class World:
    """The provider, the service signed in through it, and the browser's cookie jar."""

    idp: OpenIdProvider
    client: Client
    services: WebServices


def settings_for(idp: OpenIdProvider, **changes: object) -> OidcSettings:
    """The `http.oidc` section as the loader would give it for this provider."""
    base = OidcSettings(
        issuer=idp.issuer,
        client_id=idp.client_id,
        redirect_uri=REDIRECT_URI,
        client_secret_env="SWITCHBOARD_OIDC_SECRET" if idp.client_secret else None,
        client_secret=idp.client_secret,
        user_claim="preferred_username",
        roles_claim="groups",
        role_map={"g-registratorer": frozenset({"registrar"}), "g-it": frozenset({"it"})},
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def _world(
    config: Config, clock: FakeClock, tmp_path: Path, idp: OpenIdProvider, oidc: OidcSettings
) -> AsyncIterator[World]:
    http = HttpSettings(secure_cookies=False, public_url=PUBLIC_URL, oidc=oidc)
    config = dataclasses.replace(config, http=http)
    store = WebStore(tmp_path / "web.sqlite3")
    await store.open()
    services = WebServices(
        config=config,
        presence=IcsPresence(config),
        store=store,
        accounts=local_accounts(),
        now=clock.now,
        session_secret=b"0123456789abcdef0123456789abcdef",
    )
    app = web.Application()
    setup_web(app, services)
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            yield World(idp, client, services)
    finally:
        await store.close()


@pytest.fixture
async def idp(clock: FakeClock) -> AsyncIterator[OpenIdProvider]:
    """The provider, with Anna as the person signing in (a registrar by group)."""
    provider = OpenIdProvider(
        now=clock.now,
        client_secret="provider-issued-secret",
        redirect_uris=(REDIRECT_URI,),
        user={"sub": "00u-anna", "preferred_username": ANNA, "groups": ["g-registratorer"]},
    )
    await provider.start()
    try:
        yield provider
    finally:
        await provider.close()


@pytest.fixture
async def world(
    config: Config, clock: FakeClock, tmp_path: Path, idp: OpenIdProvider
) -> AsyncIterator[World]:
    """The web layer configured for the provider."""
    async with _world(config, clock, tmp_path, idp, settings_for(idp)) as w:
        yield w


async def leave_for_the_provider(world: World, next_path: str = "/") -> str:
    """GET /login/oidc: the authorization URL (the state cookie stays in the jar)."""
    resp = await world.client.get("/login/oidc", params={"next": next_path}, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    return resp.headers["Location"]


async def at_the_provider(authorize: str) -> str:
    """The browser at the provider: signed in there, sent back; the callback's path and query."""
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(authorize, allow_redirects=False) as resp,
    ):
        assert resp.status == 302, await resp.text()
        back = urlsplit(resp.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT_URI
    return f"{back.path}?{back.query}"


async def come_back(world: World, callback: str) -> aiohttp.ClientResponse:
    """The browser at our callback."""
    return await world.client.get(callback, allow_redirects=False)


async def sign_in(world: World, next_path: str = "/") -> aiohttp.ClientResponse:
    """The whole round: leave, sign in at the provider, come back."""
    return await come_back(
        world, await at_the_provider(await leave_for_the_provider(world, next_path))
    )


def refused(resp: aiohttp.ClientResponse, text: str, status: int = 401) -> None:
    """Back on the login page with a Swedish notice; no session."""
    assert resp.status == status, text
    assert "Logga in" in text and 'role="alert"' in text
    assert "sb_session" not in resp.cookies


async def me(world: World) -> dict[str, object]:
    """GET /api/me with the browser's cookie."""
    resp = await world.client.get("/api/me")
    assert resp.status == 200, await resp.text()
    body: dict[str, object] = await resp.json()
    return body


# ---------------------------------------------------------------- the good path


async def test_sign_in_with_authorization_code_and_pkce(world: World) -> None:
    """The code flow with PKCE (S256) and a confidential client: Anna is signed in as the
    directory's anna.andersson with the roles her groups map to (registrar) and staff."""
    authorize = await leave_for_the_provider(world, "/registrator")
    request = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    assert request["response_type"] == "code" and request["code_challenge_method"] == "S256"
    assert request["redirect_uri"] == REDIRECT_URI and "openid" in request["scope"].split()
    assert request["state"] and request["nonce"] and request["code_challenge"]
    resp = await come_back(world, await at_the_provider(authorize))
    text = await resp.text()
    assert resp.status == 200, text
    assert resp.headers["Refresh"] == "0; url=/registrator" and 'href="/registrator"' in text
    assert "HttpOnly" in resp.headers.getall("Set-Cookie")[0]
    token = world.idp.token_requests[-1]
    assert token["code_verifier"] and token["redirect_uri"] == REDIRECT_URI
    body = await me(world)
    assert body["user"] == ANNA and body["roles"] == ["registrar", "staff"]
    assert (await world.client.get("/", allow_redirects=False)).status == 200


async def test_roles_by_name_from_a_roles_claim(
    config: Config, clock: FakeClock, tmp_path: Path, idp: OpenIdProvider
) -> None:
    """Without a role map the claim's values name the roles; unknown values are ignored."""
    idp.user = {"sub": "x", "upn": "Lena.Lund", "roles": ["admin", "it", "domain-admins"]}
    oidc = settings_for(idp, user_claim="upn", roles_claim="roles", role_map={})
    async with _world(config, clock, tmp_path, idp, oidc) as w:
        resp = await sign_in(w)
        assert resp.status == 200, await resp.text()
        body = await me(w)
        assert body["user"] == "lena.lund"  # the directory's id, matched ignoring case
        assert body["roles"] == ["admin", "it", "staff"]


async def test_a_public_client_signs_in_with_pkce_alone(
    config: Config, clock: FakeClock, tmp_path: Path, idp: OpenIdProvider
) -> None:
    """No client secret configured: the code is redeemed with the verifier only."""
    idp.client_secret = None
    async with _world(config, clock, tmp_path, idp, settings_for(idp)) as w:
        assert (await sign_in(w)).status == 200
        assert (await me(w))["user"] == ANNA


async def test_a_rotated_signing_key_is_fetched_once(world: World) -> None:
    """A token signed with a key the cached JWKS lacks makes the service read the JWKS again
    (at most once a minute)."""
    assert (await sign_in(world)).status == 200
    fetches = world.idp.jwks_fetches
    world.idp.rotate_key()
    oidc = world.client.app[STATE].oidc
    assert oidc is not None
    later = oidc.monotonic() + 61
    oidc.monotonic = lambda: later
    world.client.session.cookie_jar.clear()
    assert (await sign_in(world)).status == 200
    assert world.idp.jwks_fetches == fetches + 1


async def test_local_break_glass_accounts_still_sign_in(world: World) -> None:
    """accounts.yaml's accounts keep their password sign-in beside the provider."""
    page = await (await world.client.get("/login")).text()
    assert 'id="oidc"' in page and "Reservinloggning" in page
    resp = await world.client.post("/api/login", json={"user": "lena.lund", "password": PASSWORD})
    assert resp.status == 200 and (await resp.json())["roles"] == ["admin"]


# ---------------------------------------------------------------- refused


async def test_wrong_audience_is_refused(world: World) -> None:
    """An ID token for another client (aud) is refused."""
    world.idp.tamper.audience = "another-app"
    resp = await sign_in(world)
    refused(resp, await resp.text())


async def test_expired_id_token_is_refused(world: World) -> None:
    """An ID token whose exp passed (beyond the allowed clock skew) is refused."""
    world.idp.tamper.expires_in_s = -300
    resp = await sign_in(world)
    refused(resp, await resp.text())


async def test_bad_signature_is_refused(world: World) -> None:
    """An ID token signed by a key the provider never published (same kid) is refused, also
    after the JWKS is read again."""
    world.idp.tamper.foreign_key = True
    resp = await sign_in(world)
    refused(resp, await resp.text())


async def test_unsigned_id_token_is_refused(world: World) -> None:
    """alg "none" is never accepted."""
    world.idp.tamper.algorithm_none = True
    resp = await sign_in(world)
    refused(resp, await resp.text())


async def test_replayed_state_is_refused(world: World) -> None:
    """The same callback (state, its cookie and a code the provider would redeem again) is
    refused the second time: each state is used once."""
    world.idp.tamper.codes_reusable = True
    authorize = await leave_for_the_provider(world)
    state_cookie = world.client.session.cookie_jar.filter_cookies(
        world.client.make_url("/login/oidc/callback")
    )["sb_oidc"].value
    callback = await at_the_provider(authorize)
    assert (await come_back(world, callback)).status == 200
    world.client.session.cookie_jar.clear()
    world.client.session.cookie_jar.update_cookies(
        {"sb_oidc": state_cookie}, world.client.make_url("/login/oidc/callback")
    )
    resp = await come_back(world, callback)
    refused(resp, await resp.text())
    assert len(world.idp.token_requests) == 1  # refused before the code went anywhere


async def test_a_state_replayed_after_the_login_limiter_purged_stays_refused(
    world: World, clock: FakeClock
) -> None:
    """Six minutes on (past the login limiter's window, whose purge also runs), the state is
    still valid but already used: refused."""
    world.idp.tamper.codes_reusable = True
    authorize = await leave_for_the_provider(world)
    url = world.client.make_url("/login/oidc/callback")
    state_cookie = world.client.session.cookie_jar.filter_cookies(url)["sb_oidc"].value
    callback = await at_the_provider(authorize)
    assert (await come_back(world, callback)).status == 200
    clock.advance(timedelta(minutes=6))
    fail = await world.client.post("/api/login", json={"user": "lena.lund", "password": "fel"})
    assert fail.status == 401  # a login attempt: the limiter purges what is older than 5 min
    world.client.session.cookie_jar.clear()
    world.client.session.cookie_jar.update_cookies({"sb_oidc": state_cookie}, url)
    resp = await come_back(world, callback)
    refused(resp, await resp.text())


async def test_replayed_nonce_is_refused(world: World) -> None:
    """An ID token carrying an earlier sign-in's nonce, returned for a new one, is refused."""
    first = await leave_for_the_provider(world)
    old_nonce = parse_qs(urlsplit(first).query)["nonce"][0]
    assert (await come_back(world, await at_the_provider(first))).status == 200
    world.client.session.cookie_jar.clear()
    world.idp.tamper.nonce = old_nonce
    resp = await sign_in(world)
    refused(resp, await resp.text())


async def test_a_callback_without_its_state_cookie_or_with_another_state_is_refused(
    world: World,
) -> None:
    """Login CSRF through the provider: someone else's code cannot be planted in a browser
    that did not start the sign-in, nor matched to another sign-in's state."""
    callback = await at_the_provider(await leave_for_the_provider(world))
    forged = re.sub(r"state=[^&]+", "state=someone-elses-state", callback)
    resp = await come_back(world, forged)
    refused(resp, await resp.text())
    world.client.session.cookie_jar.clear()
    resp = await come_back(world, callback)
    refused(resp, await resp.text())


async def test_a_user_outside_the_directory_is_refused(world: World) -> None:
    """The provider vouches for someone the switchboard's directory does not hold: 403."""
    world.idp.user = {"sub": "x", "preferred_username": "mallory", "groups": ["g-it"]}
    resp = await sign_in(world)
    text = await resp.text()
    refused(resp, text, status=403)
    assert "finns inte i växelns katalog" in text


async def test_the_provider_refusing_is_a_clear_page(world: World) -> None:
    """error=access_denied from the provider (the person said no): back to the login page."""
    authorize = await leave_for_the_provider(world)
    state = parse_qs(urlsplit(authorize).query)["state"][0]
    resp = await come_back(world, f"/login/oidc/callback?error=access_denied&state={state}")
    refused(resp, await resp.text())


async def test_an_unreachable_provider_is_a_clear_page(world: World) -> None:
    """The provider does not answer: 502 and the login page says so (local sign-in stays)."""
    await world.idp.close()
    resp = await world.client.get("/login/oidc", allow_redirects=False)
    text = await resp.text()
    assert resp.status == 502 and "svarar inte" in text and 'name="password"' in text


def test_the_oidc_section_is_parsed_with_the_secret_from_the_environment() -> None:
    """`http.oidc`: the redirect URI from public_url, the secret from its variable only."""
    raw = {
        "public_url": "https://vaxel.alvkarleby.se/",
        "oidc": {
            "issuer": "https://login.example/tenant/v2.0",
            "client_id": "abc",
            "client_secret_env": "OIDC_SECRET",
            "roles_claim": "groups",
            "role_map": {"g1": ["registrar"], "g2": "admin"},
        },
    }
    settings, problems = parse_http(raw, {"OIDC_SECRET": "s3"})
    assert problems == [] and settings.oidc is not None and settings.secure_cookies
    assert settings.oidc.redirect_uri == "https://vaxel.alvkarleby.se/login/oidc/callback"
    assert settings.oidc.client_secret == "s3" and "s3" not in repr(settings)
    assert settings.oidc.role_map == {"g1": {"registrar"}, "g2": {"admin"}}
    _, problems = parse_http(raw, {})
    assert [p.path for p in problems] == ["oidc.client_secret_env"]
    bad = {
        "public_url": "https://v.example",
        "oidc": {"issuer": "http://idp.example", "client_id": "a", "role_map": {"g": ["root"]}},
    }
    _, problems = parse_http(bad, {})
    assert {p.path for p in problems} == {"oidc.issuer", "oidc.role_map"}


def test_the_sample_organisations_need_no_provider() -> None:
    """Without `http.oidc` nothing changes: local accounts only."""
    settings = load_config(ROOT / "config" / "alvkarleby").http
    assert isinstance(settings, HttpSettings) and settings.oidc is None
