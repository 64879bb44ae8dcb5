"""The CSRF token of a cookie session is compared in constant time, and odd values are refused.

SQLite only (the `storage` fixture below): this is about the middleware, not storage.
"""

from __future__ import annotations

import asyncio
import hmac
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from storekit import Storage, make_storage
from webkit import OWNER, PASSWORD

from switchboard.web import middleware
from switchboard.web.core import SESSION_COOKIE

Client = TestClient[web.Request, web.Application]
PATH = f"/api/users/{OWNER}/manual-redirect"


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    """SQLite files only here, to keep the run short (see the module docstring)."""
    return make_storage("sqlite", tmp_path / "vm")


class CompareSpy:
    """`hmac` as the middleware sees it: records each constant-time comparison it is asked for."""

    def __init__(self) -> None:
        self.compared: list[tuple[bytes | str, bytes | str]] = []

    def compare_digest(self, a: bytes | str, b: bytes | str) -> bool:
        """The real `hmac.compare_digest`, remembered."""
        self.compared.append((a, b))
        return hmac.compare_digest(a, b)  # type: ignore[arg-type]


async def cookie_session(client: Client) -> str:
    """Sign in (the client keeps the session cookie); the session's CSRF token."""
    resp = await client.post("/api/login", json={"user": OWNER, "password": PASSWORD})
    assert resp.status == 200
    return str((await resp.json())["csrf"])


async def test_csrf_token_is_compared_with_compare_digest(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right and wrong tokens both go through hmac.compare_digest (never `!=`, which leaks time)."""
    csrf = await cookie_session(client)
    spy = CompareSpy()
    monkeypatch.setattr(middleware, "hmac", spy, raising=False)
    wrong = ("A" if csrf[0] != "A" else "B") + csrf[1:]  # same length, first character off
    resp = await client.put(PATH, json={"reason": "lunch"}, headers={"X-CSRF-Token": wrong})
    assert resp.status == 403 and (await resp.json())["error_id"] == "csrf-failed"
    body = {"reason": "lunch", "until": "further-notice"}  # ALV-02: an end, or tills vidare
    resp = await client.put(PATH, json=body, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    assert [a for a, _ in spy.compared] == [wrong.encode(), csrf.encode()]
    assert all(b == csrf.encode() for _, b in spy.compared)


async def put_raw(client: Client, csrf_header: bytes) -> bytes:
    """PUT a manual redirect over a bare socket with the session cookie; the status line."""
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE].value
    body = b'{"reason": "lunch"}'
    head = (
        f"PUT {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {SESSION_COOKIE}={cookie}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n"
    ).encode()
    assert client.server.host is not None and client.server.port is not None
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(head + b"X-CSRF-Token: " + csrf_header + b"\r\n\r\n" + body)
        return (await reader.read()).split(b"\r\n", 1)[0]
    finally:
        writer.close()
        await writer.wait_closed()


async def test_odd_csrf_values_are_refused_not_crashing(client: Client) -> None:
    """Non-ASCII, raw-byte, empty and file-upload CSRF values are a 403 csrf-failed, never a 500."""
    await cookie_session(client)
    for header in ("åäö-token", ""):
        resp = await client.put(PATH, json={"reason": "lunch"}, headers={"X-CSRF-Token": header})
        assert resp.status == 403, header
        assert (await resp.json())["error_id"] == "csrf-failed"
    # a byte that is not UTF-8 reaches the handler as a lone surrogate, which str.encode() refuses
    assert await put_raw(client, b"a\xffb") == b"HTTP/1.1 403 Forbidden"
    resp = await client.post("/min-tillganglighet", data={"reason": "lunch"}, allow_redirects=False)
    assert resp.status == 403 and "csrf-failed" in await resp.text()
    form = aiohttp.FormData()
    form.add_field("reason", "lunch")
    form.add_field("csrf", b"not text", filename="csrf.txt")  # a file where text belongs
    resp = await client.post("/min-tillganglighet", data=form, allow_redirects=False)
    assert resp.status == 403 and "csrf-failed" in await resp.text()
