"""The pages' shared frame: navigation by role, the layout response, notices, redirects back,
form reading and local times as the Swedish pages show them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlencode

from aiohttp import web

from routing.models import Directory
from switchboard.web.auth import Role
from switchboard.web.core import account, csrf_token, services
from switchboard.web.errors import BodyTooLarge
from switchboard.web.html import e, page


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


def render(
    request: web.Request, title: str, body: str, current: str, script: str = ""
) -> web.Response:
    """A signed-in page in the layout (never cached)."""
    acct = account(request)
    user = services(request).config.directory.user(acct.user_id)
    html = page(
        title,
        body,
        links=links(request),
        current=current,
        who=user.name if user else acct.user_id,
        csrf=csrf_token(request),
        script=script,
    )
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})


def flash(request: web.Request) -> str:
    """The notice (`?ok=`) or error (`?fel=`) a redirect back brought."""
    ok = request.query.get("ok")
    err = request.query.get("fel")
    out = ""
    if ok:
        out += f'<div class="notice" role="status">{e(ok[:200])}</div>'
    if err:
        out += f'<div class="notice error" role="alert">{e(err[:300])}</div>'
    return out


def see_other(location: str) -> web.Response:
    """A 303 redirect returned (not raised), so cookies set on it are kept."""
    return web.Response(status=303, headers={"Location": location})


def back(path: str, *, ok: str | None = None, err: str | None = None) -> web.Response:
    """Back to `path` with a notice or an error to show there."""
    params = {k: v for k, v in (("ok", ok), ("fel", err)) if v}
    joiner = "&" if "?" in path else "?"
    return see_other(path + (joiner + urlencode(params) if params else ""))


def name_of(directory: Directory, user_id: str) -> str:
    """A user's name for a page (the id when the directory no longer has them)."""
    user = directory.user(user_id)
    return user.name if user is not None else user_id


async def read_form(request: web.Request) -> Mapping[str, str]:
    """The posted form's text fields (BodyTooLarge past the body limit)."""
    limit = services(request).max_body
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(f"the body is larger than {limit} bytes")
    form = await request.post()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def local_minutes(moment: datetime | None, request: web.Request) -> str:
    """'2026-11-24 13.05' in the organisation's zone ('' for none)."""
    if moment is None:
        return ""
    return moment.astimezone(services(request).config.org.timezone).strftime("%Y-%m-%d %H.%M")


def local_seconds(moment: datetime | None, request: web.Request) -> str:
    """'2026-11-24 13.05.09' in the organisation's zone ('' for none)."""
    if moment is None:
        return ""
    tz = services(request).config.org.timezone
    return moment.astimezone(tz).strftime("%Y-%m-%d %H.%M.%S")


def iso_local(text: object) -> str:
    """An ISO 8601 time (as the API gives it) as '2026-11-24 13.05'."""
    if not isinstance(text, str) or not text:
        return ""
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H.%M")
    except ValueError:
        return text


def problem_text(exc: Exception) -> str:
    """What a refused change says, for a notice."""
    return str(getattr(exc, "message", None) or exc)
