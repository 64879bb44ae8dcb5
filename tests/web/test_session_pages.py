"""The sign-in page as a template (issue 20): the layout without a menu or a name, Swedish,
the user id kept and both fields marked after a wrong password."""

from __future__ import annotations

import importlib.util
import re

from aiohttp import web
from aiohttp.test_utils import TestClient
from webkit import ROLE_USERS

from switchboard.web import layout
from switchboard.web.auth import Role

Client = TestClient[web.Request, web.Application]


async def test_the_sign_in_page_has_no_menu_and_keeps_the_user_id(client: Client) -> None:
    """A refused sign-in: the Swedish notice says what to do, the user id typed is kept, both
    fields marked and tied to the error; no menu, no 'Logga ut'."""
    first = await client.get("/login")
    page = await first.text()
    assert first.status == 200 and "<title>Logga in – Växeln</title>" in page
    assert re.search(r'<nav aria-label="Huvudmeny">\s*</nav>', page)
    assert "Logga ut" not in page and 'class="who"' not in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    user = ROLE_USERS[Role.STAFF]
    resp = await client.post(
        "/login?next=/it", data={"csrf": csrf[1], "user": user, "password": "fel-lösen"}
    )
    again = await resp.text()
    assert resp.status == 401
    assert "Fel användar-id eller lösenord. Kontrollera dem och försök igen." in again
    assert f'value="{user}"' in again and again.count('aria-invalid="true"') == 2
    assert again.count('aria-describedby="login-fel"') == 2 and 'id="login-fel"' in again
    assert 'action="/login?next=%2Fit"' in again


def test_the_python_page_frame_is_gone() -> None:
    """Every page renders through the templates: no HTML is built in Python any more (the
    f-string frame `switchboard.web.html` and the layout's `render`/`flash` are gone)."""
    assert importlib.util.find_spec("switchboard.web.html") is None
    assert not hasattr(layout, "render") and not hasattr(layout, "flash")
