"""The pages' templates (issue 20): Jinja2 through aiohttp-jinja2 with autoescape on, so a value
reaches the HTML escaped unless a template explicitly says otherwise; error pages in Swedish
with the menu and a way out."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
from aiohttp import web
from aiohttp.test_utils import TestClient
from test_roles_and_bad_input import bearer
from webkit import ROLE_USERS

from switchboard.web import WebServices
from switchboard.web.auth import Role
from switchboard.web.templating import TEMPLATE_PACKAGE, environment, render_text

Client = TestClient[web.Request, web.Application]
TEMPLATES = Path(__file__).resolve().parents[2] / "switchboard" / "web" / "templates"
# Templates allowed to output a value unescaped with `|safe` (none: the style sheet and a page's
# script constant reach the layout as Markup made in Python from constants, never from data).
SAFE_ALLOWED: frozenset[str] = frozenset()


def test_every_template_compiles_with_autoescape_on() -> None:
    env = environment()
    assert env.autoescape is True
    assert isinstance(env.undefined, type) and issubclass(env.undefined, jinja2.StrictUndefined)
    names = env.list_templates()
    assert "layout.html" in names and "error.html" in names
    for name in names:
        env.get_template(name)  # a syntax error fails here, naming the template
    assert TEMPLATE_PACKAGE == ("switchboard.web", "templates")


def test_no_template_switches_escaping_off() -> None:
    """`|safe` and `{% autoescape false %}` are refused outside the list above."""
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(TEMPLATES).as_posix()
        if rel in SAFE_ALLOWED:
            continue
        assert not re.search(r"\|\s*safe\b", text), rel
        assert "autoescape false" not in text, rel


def test_a_value_is_escaped_by_default() -> None:
    html = render_text(
        "error.html",
        {
            "title": "<b>x</b>",
            "heading": "Fel",
            "advice": '"><script>alert(1)</script>',
            "error_id": "e&1",
            "message": "\r\nSet-Cookie: x=1",
            "links": [("/", "Tavlan")],
            "current": "",
            "way_out": "/",
            "way_out_text": "Tillbaka",
        },
    )
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;x&lt;/b&gt;" in html and "e&amp;1" in html


async def test_a_directory_change_with_markup_is_shown_as_text(
    client: Client, services: WebServices
) -> None:
    """A value from the data (here a notice's subject) never becomes markup on a page."""
    assert services.call_log is not None
    await services.call_log.add_notice(
        "contact_centre", "test", "<img src=x onerror=alert(1)>", "rad 1\r\nrad 2", services.now()
    )
    admin = ROLE_USERS[Role.ADMIN]
    page = await (
        await client.get("/kontaktcenter", headers=bearer(client, admin, services))
    ).text()
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


async def test_an_error_page_is_swedish_keeps_the_menu_and_says_what_to_do(
    client: Client, services: WebServices
) -> None:
    staff = ROLE_USERS[Role.STAFF]
    resp = await client.get("/admin", headers=bearer(client, staff, services))
    assert resp.status == 403
    page = await resp.text()
    assert "Du saknar behörighet" in page
    assert "Be din administratör" in page
    assert 'aria-label="Huvudmeny"' in page and 'href="/min-tillganglighet"' in page
    assert "Logga ut" in page
    missing = await client.get(
        "/rostmeddelanden/finns-inte", headers=bearer(client, staff, services)
    )
    assert missing.status in (400, 404)
    assert "Gå tillbaka" in await missing.text()
