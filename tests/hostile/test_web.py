"""Hostile input at the web layer (issue 15, items 4, 8 and 12): control characters and lone
surrogates in texts, impossible times, cross-site logins, off-site `next` targets, cookie
flags and the `http:` section, and a port already in use. Every answer is a clear 4xx (or the
documented redirect), never a 500, a traceback or a dropped connection.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import shutil
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from switchboard.cli import main
from switchboard.config import Config, load_config
from switchboard.config.http_settings import HttpSettings
from switchboard.service_runner import Server
from switchboard.telephony.calllog import CallEntry, CallLogStore
from switchboard.web import WebServices, setup_web
from switchboard.web.auth import Account, Accounts, Role, hash_password
from switchboard.web.core import STATE
from switchboard.web.services import IcsPresence
from switchboard.web.store import WebStore

ROOT = Path(__file__).resolve().parents[2]
ALV = ROOT / "config" / "alvkarleby"
NOW = datetime(2026, 11, 24, 9, 15, tzinfo=UTC)  # 10.15 in Stockholm, a Tuesday
PASSWORD = "korrekt-häst-batteri"
STAFF, IT = "bertil.berg", "ivar.isaksson"
Client = TestClient[web.Request, web.Application]


@pytest.fixture(scope="module")
def accounts() -> Accounts:
    """A staff account and an IT account (one scrypt hash for both)."""
    h = hash_password(PASSWORD)
    return Accounts.of(
        [Account(STAFF, frozenset({Role.STAFF}), h), Account(IT, frozenset({Role.IT}), h)]
    )


@contextlib.asynccontextmanager
async def _client(
    config: Config, accounts: Accounts, tmp_path: Path
) -> AsyncIterator[tuple[Client, WebServices]]:
    store = WebStore(tmp_path / "web.sqlite3")
    calls = CallLogStore(tmp_path / "calllog.sqlite3", org_code="ALV")
    await store.open()
    await calls.open()
    await calls.record(CallEntry(call_id="1764000000.1", start=NOW, caller="0701234567"))
    services = WebServices(
        config=config,
        presence=IcsPresence(config),
        store=store,
        accounts=accounts,
        call_log=calls,
        now=lambda: NOW,
        session_secret=b"0123456789abcdef0123456789abcdef",
    )
    app = web.Application()
    setup_web(app, services)
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            yield client, services
    finally:
        await calls.close()
        await store.close()


@pytest.fixture
async def web_client(
    accounts: Accounts, tmp_path: Path
) -> AsyncIterator[tuple[Client, WebServices]]:
    """The web layer for the Älvkarleby sample (SQLite stores, a pinned clock)."""
    async with _client(load_config(ALV), accounts, tmp_path) as pair:
        yield pair


def bearer(client: Client, user: str) -> dict[str, str]:
    """A token for `user`, signed directly."""
    token, _ = client.app[STATE].codec.issue(user, NOW)
    return {"Authorization": f"Bearer {token}"}


def no_traceback(text: str) -> None:
    """Nothing of Python's insides in an answer."""
    assert "Traceback" not in text and 'File "' not in text


# ---------------------------------------------------------------- texts (items 4 and 12)

REDIRECT = "/api/users/bertil.berg/manual-redirect"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"reason": "lunch", "text": "Ring mig imorgon\\r\\nAction: Originate"}', "text"),
        (b'{"reason": "lunch", "text": "Ring mig imorgon\\nklockan nio"}', "text"),
        (b'{"reason": "lunch", "text": "Ring\\u0000 mig"}', "text"),
        (b'{"reason": "lunch", "text": "Hej \\ud800"}', "text"),
        (b'{"reason": "lunch", "text": "Hej \\udfff\\ud800"}', "text"),
        (b'{"reason": "lunch", "until": "9999-12-31T23:59:59"}', "until"),
        (b'{"reason": "lunch", "until": "9999-12-31T23:59:59+14:00"}', "until"),
        (b'{"reason": "lunch", "until": "0001-01-01T00:00:00-14:00"}', "until"),
        (b'{"reason": "lunch\\ud800"}', "reason"),
    ],
    ids=[
        "crlf_action_injection",
        "lf",
        "nul",
        "lone_surrogate",
        "reversed_surrogate_pair",
        "until_9999",
        "until_9999_plus_14h",
        "until_year_1",
        "surrogate_in_reason",
    ],
)
async def test_redirect_text_and_time_are_refused_with_the_field(
    web_client: tuple[Client, WebServices], body: bytes, field: str
) -> None:
    """Issue 15.4/15.12: 422 `invalid-field` naming the field (it used to be 500, or a text
    that hung the next call)."""
    client, _ = web_client
    headers = bearer(client, STAFF) | {"Content-Type": "application/json"}
    resp = await client.put(REDIRECT, data=body, headers=headers)
    answer = await resp.json()
    assert resp.status == 422, answer
    assert answer["error_id"] == "invalid-field" and answer["message"].startswith(f"{field}:")
    me = await (await client.get("/api/users/bertil.berg/availability", headers=headers)).json()
    assert me["manual"] is None  # nothing stored


async def test_a_redirect_text_of_one_line_is_still_taken(
    web_client: tuple[Client, WebServices],
) -> None:
    """The check refuses control characters only: Swedish text, quotes and tabs' absence pass."""
    client, _ = web_client
    text = 'Ring växeln, "Åsa" svarar – 026-830 00.'
    body = {"reason": "lunch", "until": "further-notice", "text": text}
    resp = await client.put(REDIRECT, json=body, headers=bearer(client, STAFF))
    assert resp.status == 200, await resp.text()


@pytest.mark.parametrize(
    ("path", "body", "user"),
    [
        ("/api/calls/1764000000.1/threat", b'{"note": "Hot \\ud800"}', IT),
        ("/api/calls/1764000000.1/threat", b'{"note": "Hot\\u0000"}', IT),
        ("/api/login", b'{"user": "anna\\ud800", "password": "x"}', None),
        ("/api/login", b'{"user": "anna\\u0000", "password": "x"}', None),
    ],
    ids=["surrogate_in_note", "nul_in_note", "surrogate_in_login_user", "nul_in_login_user"],
)
async def test_lone_surrogates_and_nul_elsewhere_are_422(
    web_client: tuple[Client, WebServices], path: str, body: bytes, user: str | None
) -> None:
    """Issue 15.12: the same check on every text the API takes."""
    client, _ = web_client
    headers = {"Content-Type": "application/json"} | (bearer(client, user) if user else {})
    resp = await client.post(path, data=body, headers=headers)
    text = await resp.text()
    assert resp.status == 422, text
    no_traceback(text)


async def test_multi_line_note_keeps_its_line_breaks(
    web_client: tuple[Client, WebServices],
) -> None:
    """A threat note may have several lines (only other control characters are refused)."""
    client, _ = web_client
    resp = await client.post(
        "/api/calls/1764000000.1/threat",
        json={"note": "Hotade personalen.\nSa att han kommer hit."},
        headers=bearer(client, IT),
    )
    assert resp.status == 201, await resp.text()


async def test_the_redirect_form_with_a_line_break_answers_with_a_notice(
    web_client: tuple[Client, WebServices],
) -> None:
    """The page's form: back to the page with the problem, never a 500."""
    client, services = web_client
    token, sess = client.app[STATE].codec.issue(STAFF, NOW)
    client.session.cookie_jar.update_cookies({"sb_session": token})
    csrf = client.app[STATE].codec.csrf(sess)
    resp = await client.post(
        "/min-tillganglighet",
        data={"csrf": csrf, "reason": "lunch", "text": "rad ett\r\nrad två"},
        allow_redirects=False,
    )
    assert resp.status == 303 and "fel=" in resp.headers["Location"]
    assert services.store.manual_for(STAFF, NOW) is None


# ---------------------------------------------------------------- login (item 8)


async def test_api_login_refuses_text_plain_from_a_foreign_page(
    web_client: tuple[Client, WebServices],
) -> None:
    """Issue 15.8 (login CSRF): a form on evil.example may post text/plain without a CORS
    preflight; it is refused and no session cookie is set."""
    client, _ = web_client
    body = f'{{"user": "{STAFF}", "password": "{PASSWORD}"}}'
    resp = await client.post(
        "/api/login",
        data=body,
        headers={"Content-Type": "text/plain", "Origin": "http://evil.example"},
    )
    assert resp.status == 415 and (await resp.json())["error_id"] == "unsupported-media-type"
    assert "sb_session" not in resp.cookies


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
    ids=["foreign_origin", "null_origin", "cross_site_fetch", "same_site_fetch"],
)
async def test_api_login_refuses_json_from_another_site(
    web_client: tuple[Client, WebServices], headers: dict[str, str]
) -> None:
    """Issue 15.8: even as JSON, a login from another site's page is refused (403)."""
    client, _ = web_client
    resp = await client.post(
        "/api/login", json={"user": STAFF, "password": PASSWORD}, headers=headers
    )
    assert resp.status == 403 and "sb_session" not in resp.cookies


async def test_api_login_from_this_site_or_a_program_still_works(
    web_client: tuple[Client, WebServices],
) -> None:
    """Our own pages (same Origin) and programs (no Origin) sign in as before."""
    client, _ = web_client
    own = f"http://{client.host}:{client.port}"
    for headers in ({"Origin": own, "Sec-Fetch-Site": "same-origin"}, {}):
        resp = await client.post(
            "/api/login", json={"user": STAFF, "password": PASSWORD}, headers=headers
        )
        assert resp.status == 200, await resp.text()


async def _login_form(client: Client, next_raw: str) -> tuple[int, str, str]:
    """Sign in through the form with `?next=` as given (already percent-encoded)."""
    page = await (await client.get("/login")).text()
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token is not None
    resp = await client.post(
        URL(f"/login?next={next_raw}", encoded=True),
        data={"csrf": token.group(1), "user": STAFF, "password": PASSWORD},
        allow_redirects=False,
    )
    return resp.status, resp.headers.get("Location", ""), await resp.text()


@pytest.mark.parametrize(
    "next_raw",
    [
        "%2F%09%2Fevil.example",
        "%2F%5Cevil.example",
        "%2F%5C%5Cevil.example",
        "%5C%5Cevil.example",
        "%2F%2Fevil.example",
        "https%3A%2F%2Fevil.example",
        "%2F%0A%2Fevil.example",
        "%2F%0D%0ASet-Cookie%3A%20x%3Dy",
        "%2F%00",
        "%2F%20%2Fevil.example",
        "%2F%E2%80%A8%2Fevil.example",
        "%2F%ED%A0%80",
    ],
    ids=[
        "tab",
        "backslash",
        "two_backslashes",
        "backslashes_only",
        "double_slash",
        "absolute_url",
        "newline",
        "header_injection",
        "nul",
        "space",
        "line_separator",
        "encoded_surrogate",
    ],
)
async def test_next_never_leads_off_site(
    web_client: tuple[Client, WebServices], next_raw: str
) -> None:
    """Issue 15.8: after signing in, a `next` that a browser would read as another site (tab,
    backslash, //) goes to "/"; a line break or NUL answers cleanly (it used to drop the
    connection with a traceback)."""
    client, _ = web_client
    status, location, text = await _login_form(client, next_raw)
    assert status == 303, text
    target = URL(location)
    assert not target.is_absolute() and location.startswith("/")
    assert not location.startswith("//") and "\\" not in location
    assert all(0x20 < ord(c) < 0x7F for c in location), location


async def test_a_local_next_is_kept(web_client: tuple[Client, WebServices]) -> None:
    """A path on this site (with a query) is where the sign-in leads."""
    client, _ = web_client
    _status, location, _text = await _login_form(client, "%2Fit%3Fsince%3D2026-11-24")
    assert location == "/it?since=2026-11-24"


async def test_cookies_are_secure_when_configured(accounts: Accounts, tmp_path: Path) -> None:
    """Issue 15.8: `http.secure_cookies: true` (the default behind an https public_url) marks
    the session and login cookies Secure."""
    config = load_config(ALV)
    secure = dataclasses.replace(config, http=HttpSettings(secure_cookies=True))
    async with _client(secure, accounts, tmp_path) as (client, _):
        page = await client.get("/login")
        assert "Secure" in page.headers["Set-Cookie"]
        resp = await client.post("/api/login", json={"user": STAFF, "password": PASSWORD})
        assert resp.status == 200
        cookie = resp.headers["Set-Cookie"]
        assert "sb_session=" in cookie and "Secure" in cookie and "HttpOnly" in cookie


def _org_with_http(tmp_path: Path, section: str) -> Path:
    folder = tmp_path / "alvkarleby"
    shutil.copytree(ALV, folder, ignore=shutil.ignore_patterns("data", "scenarios"))
    org = folder / "organisation.yaml"
    org.write_text(org.read_text("utf-8") + section, "utf-8")
    return folder


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ("http: {secure_cookie: true}\n", "http.secure_cookie: unknown key"),
        ("http: {secure_cookies: 'yes please'}\n", "http.secure_cookies: must be true or false"),
        ("http: {public_url: 'http://vaxel.example'}\n", "http.public_url: must be https://"),
        (
            "http: {oidc: {issuer: 'https://idp.example', client_id: x}}\n",
            "http.public_url: is required",
        ),
        (
            "http: {public_url: 'https://v.example', oidc: {client_id: x, secret: y}}\n",
            "http.oidc.secret: unknown key",
        ),
    ],
    ids=["typo", "not_a_boolean", "plain_http", "oidc_without_public_url", "oidc_unknown_key"],
)
def test_the_http_section_refuses_what_it_does_not_know(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], section: str, problem: str
) -> None:
    """Issue 15.8: the `http:` section is checked like every other (it accepted any key)."""
    folder = _org_with_http(tmp_path, section)
    assert main(["check-config", str(folder)]) == 2
    err = capsys.readouterr().err
    assert problem in err, err
    no_traceback(err)


def test_https_public_url_makes_cookies_secure_by_default(tmp_path: Path) -> None:
    """Behind https the cookies are Secure unless the section says otherwise."""
    folder = _org_with_http(tmp_path, "http: {public_url: 'https://vaxel.alvkarleby.se'}\n")
    settings = load_config(folder).http
    assert isinstance(settings, HttpSettings) and settings.secure_cookies


# ---------------------------------------------------------------- the port (item 12)


async def test_a_port_in_use_is_one_clear_line_before_anything_starts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 15.12: `switchboard run --port N` with N taken: exit 1 and one line saying so and
    what to do; no app is started (no platform connection, no intake) and no traceback."""
    started: list[Config] = []

    def factory(config: Config) -> web.Application:
        started.append(config)
        return web.Application()

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        server = Server(ALV, "127.0.0.1", port, app_factory=factory)
        with caplog.at_level(logging.INFO):
            code = await server.serve(load_config(ALV))
    assert code == 1 and not started
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None
    message = errors[0].getMessage()
    assert f"port {port} on 127.0.0.1 is already in use" in message and "--port" in message
