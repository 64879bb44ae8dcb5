"""Jinja2 templates for the pages (aiohttp-jinja2), with autoescape on: a value reaches the
HTML escaped unless a template says otherwise, so escaping is the default, not a discipline.

One environment per process (templates compiled once, shared by every app), registered on
each app under aiohttp-jinja2's key. Templates live in `switchboard/web/templates/`: the
layout and the error page at the top, a folder per feature (`admin/`, `registry/` …).
A page renders through `render_page`: the layout's menu, the signed-in name, the CSRF token,
and the notice a redirect back brought are filled in here, once.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup

from switchboard.web.auth import Role
from switchboard.web.core import account, csrf_token, services
from switchboard.web.style import CSS

TEMPLATE_PACKAGE = ("switchboard.web", "templates")


@functools.cache
def environment() -> jinja2.Environment:
    """The process's template environment: autoescape on for every template, unknown names
    an error (StrictUndefined), no reload checks."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(*TEMPLATE_PACKAGE),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.globals["CSS"] = Markup(CSS)  # the layout's own style sheet, a constant of this package
    return env


def setup(app: web.Application) -> None:
    """Register the shared environment on `app` (aiohttp-jinja2's key)."""
    app[aiohttp_jinja2.APP_KEY] = environment()


def links(request: web.Request) -> list[tuple[str, str]]:
    """The navigation for the signed-in account's roles."""
    roles = account(request).roles
    out = [("/", "Tavlan"), ("/min-tillganglighet", "Min tillgänglighet")]
    out.append(("/rostmeddelanden", "Mina röstmeddelanden"))  # ALV-23 (issue 17)
    if Role.REGISTRAR in roles:
        out.append(("/registrator", "Registrator"))
    if Role.ADMIN in roles:
        out.append(("/admin", "Administration"))
    if Role.IT in roles:
        out.append(("/it", "Samtalslogg"))
    out.append(("/mina-samtal", "Mina samtal"))  # issue 19: ALV-20 and the reports below
    if roles & {Role.ADMIN, Role.IT}:
        out.append(("/rapporter", "Servicenivå"))
    me = account(request).user_id
    directory = services(request).config.directory
    if Role.ADMIN in roles or any(u.manager == me for u in directory.users):
        out.append(("/chef", "Chefens översikt"))
    if roles & {Role.ADMIN, Role.CONTACT_CENTRE}:
        out.append(("/kontaktcenter", "Medborgarservice"))
    return out


def page_context(request: web.Request, title: str, current: str) -> dict[str, Any]:
    """What the layout needs on a signed-in page: title, menu, name, CSRF token, notices."""
    acct = account(request)
    user = services(request).config.directory.user(acct.user_id)
    return {
        "title": title,
        "links": links(request),
        "current": current,
        "who": user.name if user else acct.user_id,
        "csrf": csrf_token(request),
        "notice_ok": request.query.get("ok", "")[:200],
        "notice_error": request.query.get("fel", "")[:300],
        "script": "",
    }


def render_page(
    request: web.Request,
    template: str,
    context: Mapping[str, Any],
    *,
    title: str,
    current: str,
    status: int = 200,
) -> web.Response:
    """A signed-in page from `template` (which extends `layout.html`), never cached."""
    full = page_context(request, title, current)
    full.update(context)
    text = aiohttp_jinja2.render_string(template, request, full)
    return web.Response(
        text=text,
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store"},
    )


def render_text(template: str, context: Mapping[str, Any]) -> str:
    """A template rendered outside a request (the error page, the sign-in page)."""
    return environment().get_template(template).render(context)
