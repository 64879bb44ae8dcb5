"""The IT call log's and my calls' forms (issue 20): a refused threat report keeps what was
typed and marks the field; a bad time in the filter is marked, not an error page; my calls by
name, national number and local time (ALV-18, ALV-20)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from webkit import OWNER, ROLE_USERS

from switchboard.web import WebServices
from switchboard.web.auth import Role
from switchboard.web.core import STATE
from switchboard.web.features.calls import pages as calls_pages

Client = TestClient[web.Request, web.Application]


def sign_in(client: Client, services: WebServices, user: str) -> str:
    """A session cookie for `user`; its CSRF token."""
    token, sess = client.app[STATE].codec.issue(user, services.now())
    client.session.cookie_jar.update_cookies({"sb_session": token})
    return client.app[STATE].codec.csrf(sess)


async def test_alv20_a_refused_flagging_keeps_the_text_the_filter_and_marks_the_field(
    client: Client, services: WebServices
) -> None:
    """ALV-20: a description with a control character is refused in Swedish with the page
    shown again: the typed text in the field, aria-invalid and the error tied to it, the
    number filter still applied."""
    csrf = sign_in(client, services, ROLE_USERS[Role.IT])
    resp = await client.post(
        "/it/samtal/1764000000.1/hot",
        data={"csrf": csrf, "note": "Hotade\x07 mig", "number": "0701234567"},
    )
    page = await resp.text()
    assert resp.status == 422
    assert "Ta bort styrtecknen" in page and 'role="alert"' in page
    field = re.search(r'<input type="text" id="note-1764000000\.1"[^>]*>', page)
    assert field is not None
    assert (
        'aria-invalid="true"' in field[0] and 'aria-describedby="note-1764000000.1-fel"' in field[0]
    )
    assert 'value="Hotade&#7; mig"' in field[0] or "Hotade" in field[0]
    assert 'id="note-1764000000.1-fel"' in page
    assert 'id="number" name="number" value="0701234567"' in page
    assert 'name="number" value="0701234567"' in page.split('id="calls"')[1]  # kept on re-post


async def test_alv18_a_bad_time_in_the_filter_is_marked_and_kept(
    client: Client, services: WebServices
) -> None:
    """ALV-18: 'igår' as a start time: the page, the field marked with what to type, the text
    kept; no error page."""
    sign_in(client, services, ROLE_USERS[Role.IT])
    resp = await client.get("/it", params={"since": "igår"})
    page = await resp.text()
    assert resp.status == 422 and 'id="calls"' in page
    field = re.search(r'<input type="datetime-local" id="since"[^>]*>', page)
    assert field is not None and 'value="igår"' in field[0]
    assert 'aria-invalid="true"' in field[0] and 'aria-describedby="since-fel"' in field[0]
    assert "Från och med: ange en tid som 2026-11-24T14:30" in page


async def test_alv20_my_calls_by_name_national_number_and_local_time(
    client: Client, services: WebServices
) -> None:
    """ALV-20: Anna's calls: the caller by name and national number, the time in Stockholm,
    the outcome in words; an empty report keeps the field marked."""
    csrf = sign_in(client, services, OWNER)
    page = await (await client.get("/mina-samtal")).text()
    table = re.sub(r"<[^>]+>", "", page.split('id="my-calls"')[1].split("</table>")[0])
    assert "2026-11-24 09.01" in table and "Besvarat" in table
    assert "+46" not in table and "UTC" not in page and "T08:01" not in table
    resp = await client.post("/mina-samtal/1764000000.1/hot", data={"csrf": csrf, "note": "  "})
    again = await resp.text()
    assert resp.status == 422 and "Beskriv hotet" in again
    assert 'aria-describedby="note-1764000000.1-fel"' in again


async def test_alv18_the_log_a_page_at_a_time_the_filter_and_page_kept(
    client: Client, services: WebServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ALV-18: two calls a page (for the test): the next page keeps the filter; flagging on
    page 2 comes back to page 2; a page number that is none is refused in Swedish."""
    monkeypatch.setattr(calls_pages, "PAGE_SIZE", 2)
    csrf = sign_in(client, services, ROLE_USERS[Role.IT])
    first = await (await client.get("/it", params={"until": "2026-11-24T23:00"})).text()
    assert first.count('<tr class="flagged">') + first.count("Flagga som hot") == 2
    assert 'href="/it?until=2026-11-24T23%3A00&amp;page=2"' in first
    second = await (await client.get("/it?until=2026-11-24T23%3A00&page=2")).text()
    assert "visar 3–3" in second and "Föregående sida" in second
    assert 'name="page" value="2"' in second
    resp = await client.post(
        "/it/samtal/1764000000.1/hot",
        data={"csrf": csrf, "note": "Hot", "until": "2026-11-24T23:00", "page": "2"},
        allow_redirects=False,
    )
    assert parse_qs(urlsplit(resp.headers["Location"]).query)["page"] == ["2"]
    bad = await client.get("/it?page=noll")
    assert bad.status == 422 and "ange ett sidnummer" in await bad.text()
