"""The pages' shared pieces beside the templates: the Swedish error page, redirects back with a
notice, form reading and local times as the Swedish pages show them."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlencode

from aiohttp import web

from routing.models import Directory
from switchboard.web.core import maybe_account, services
from switchboard.web.errors import BodyTooLarge
from switchboard.web.templating import page_context, render_text

ERROR_HEADING = {
    400: "Felaktig begäran",
    403: "Du saknar behörighet",
    404: "Hittades inte",
    405: "Metoden är inte tillåten",
    410: "Borttaget",
    413: "För stor begäran",
    415: "Fel format på begäran",
    422: "Uppgifterna kunde inte godtas",
    429: "För många försök",
    500: "Internt fel",
    503: "Tjänsten är inte tillgänglig",
}

ERROR_ADVICE = {
    400: "Gå tillbaka, kontrollera uppgifterna och försök igen.",
    403: "Sidan kräver en behörighet som ditt konto inte har. Be din administratör om den om "
    "du behöver den i ditt arbete.",
    404: "Sidan eller posten finns inte, eller inte längre. Gå tillbaka och försök igen.",
    405: "Gå tillbaka och använd sidans knappar och länkar.",
    410: "Posten är borttagen enligt gallringsreglerna.",
    413: "Det du skickade är för stort. Skicka mindre åt gången.",
    415: "Gå tillbaka och använd sidans formulär.",
    422: "Gå tillbaka, rätta uppgifterna och försök igen.",
    429: "Vänta en stund och försök sedan igen.",
    500: "Något gick fel hos oss. Försök igen om en stund; kvarstår felet, kontakta IT-supporten "
    "och uppge felkoden.",
    503: "Tjänsten är tillfälligt otillgänglig. Försök igen om en stund.",
}


def error_page(request: web.Request, status: int, error_id: str, message: str) -> str:
    """The Swedish error page: what happened, what to do next, the stable error id (what
    support asks for), and, for a signed-in person, the menu and a way back."""
    context: dict[str, object] = {
        "title": ERROR_HEADING.get(status, "Fel"),
        "heading": ERROR_HEADING.get(status, "Fel"),
        "advice": ERROR_ADVICE.get(status, "Gå tillbaka och försök igen."),
        "error_id": error_id,
        "message": message,
        "links": [("/", "Tavlan")],
        "current": "",
        "way_out": "/",
        "way_out_text": "Till tillgänglighetstavlan",
    }
    if maybe_account(request) is not None:
        # the page must render even when the session is half gone
        with contextlib.suppress(Exception):
            context.update(page_context(request, str(context["title"]), ""))
        context["title"] = context["heading"]
    return render_text("error.html", context)


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
