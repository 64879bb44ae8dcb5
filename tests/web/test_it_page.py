"""The IT call log as a person reads it (issue 20): names and one national number format,
outcomes in words, a flagged call marked, the filter kept after flagging."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from aiohttp import web
from aiohttp.test_utils import TestClient
from webkit import ROLE_USERS

from switchboard.web import WebServices
from switchboard.web.auth import Role
from switchboard.web.core import STATE

Client = TestClient[web.Request, web.Application]


async def test_alv18_alv20_call_log_in_words_and_a_flagged_call_marked(
    client: Client, services: WebServices
) -> None:
    """ALV-18/ALV-20: no platform values (PJSIP/…, completed, Asterisk's call id) on the page;
    flagging keeps the number filter, marks the call and names it in the incident list."""
    token, sess = client.app[STATE].codec.issue(ROLE_USERS[Role.IT], services.now())
    client.session.cookie_jar.update_cookies({"sb_session": token})
    csrf = client.app[STATE].codec.csrf(sess)
    page = await (await client.get("/it")).text()
    # what a person reads: the text, not the form targets
    table = re.sub(r"<[^>]+>", "", page.split('<table id="calls">')[1].split("</table>")[0])
    assert "Anna Andersson, 070-123 45 67" in table  # the caller, known by her mobile
    assert "Anna Andersson, 026-830 12" in table and "Besvarat" in table
    assert "Den som ringde lade på" in table and "073-111 22 33" in table
    for raw in ("PJSIP/", "completed", "caller_hung_up", "1764000000.", "+4673"):
        assert raw not in table, raw
    resp = await client.post(
        "/it/samtal/1764000000.1/hot",
        data={"csrf": csrf, "note": "Hotade handläggaren", "number": "0701234567"},
        allow_redirects=False,
    )
    assert resp.status == 303
    location = urlsplit(resp.headers["Location"])
    assert location.path == "/it" and parse_qs(location.query)["number"] == ["0701234567"]
    page = await (await client.get(resp.headers["Location"])).text()
    assert re.search(r"Flaggat: ALV-HOT-\d{4}-\d{4}", page)
    incidents = re.sub(r"<[^>]+>", "", page.split('<table id="incidents">')[1])
    assert "Anna Andersson, 070-123 45 67" in incidents and "1764000000.1" not in incidents
