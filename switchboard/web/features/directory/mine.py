"""My availability (Min tillgänglighet: what callers hear now, my manual redirect) and, for a
manager or an administrator, a colleague's (`?for=<user id>`, ALV-02).

A refused save comes back (303, so a reload never posts again) with what was typed and the
field at fault in the address: the form shows them again and marks the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from aiohttp import web

from routing.absence import AbsenceReason
from switchboard.web.auth import Role
from switchboard.web.core import account, services
from switchboard.web.errors import InvalidField, WebError
from switchboard.web.features.directory import service
from switchboard.web.features.directory.access import require_may_redirect, staff_of
from switchboard.web.features.directory.schemas import Availability
from switchboard.web.layout import back, iso_local, problem_text, read_form, see_other
from switchboard.web.templating import render_page

PATH = "/min-tillganglighet"
REASON_CHOICES = (
    (AbsenceReason.MEETING, "Möte"),
    (AbsenceReason.LUNCH, "Lunch"),
    (AbsenceReason.VACATION, "Semester"),
    (AbsenceReason.TRAVEL, "Tjänsteresa"),
    (AbsenceReason.TRAINING, "Utbildning"),
    (AbsenceReason.AWAY, "Inte på plats"),
    (AbsenceReason.BUSY, "Upptagen"),
)
FIELDS = ("reason", "until", "text")
FIELD_LABEL = {"reason": "Orsak", "until": "Åter (sluttid)", "text": "Egen text"}
MAX_STAFF_LISTED = 200


def _target(request: web.Request, raw: str) -> str:
    """Whose redirect this is: `for`, or oneself."""
    me = account(request)
    uid = raw.strip()[:100] or me.user_id
    require_may_redirect(request, uid)
    return uid


def _page_path(uid: str, me: str) -> str:
    return PATH if uid == me else f"{PATH}?{urlencode({'for': uid})}"


def _calendar_text(info: Availability) -> str:
    if info.calendar == "unavailable":
        return "Kalendern kunde inte läsas just nu."
    if info.calendar == "none":
        return "Ingen kalender är kopplad."
    cal = info.calendar_redirect
    if cal is None:
        return "Ingen hänvisning från kalendern just nu."
    text = f"Kalendern säger: {service.REASON_TEXT.get(cal.reason, cal.reason)}"
    if cal.returns:
        text += f", åter {iso_local(cal.returns)}"
    return text + "."


async def my_page(request: web.Request) -> web.StreamResponse:
    """GET /min-tillganglighet[?for=]: the state, what callers hear, the manual redirect form."""
    svc = services(request)
    me = account(request)
    uid = _target(request, request.query.get("for", ""))
    own = uid == me.user_id
    info = await service.availability(svc, uid, me.user_id)
    directory = svc.config.directory
    person = directory.user(uid)
    name = person.name if person else uid
    manual = None
    if info.manual is not None:
        m = info.manual
        until = f"till {iso_local(m.until)}" if m.until else "tills vidare"
        if m.until_further_notice:
            until = f"tills vidare (upphör senast {iso_local(m.until)})"
        setter = directory.user(m.set_by or "")
        manual = {
            "reason": service.REASON_TEXT.get(m.reason, m.reason),
            "until": until,
            "set_by": setter.name if setter else m.set_by,
            "by_other": bool(m.set_by) and m.set_by != uid,
        }
    q = request.query
    field = q.get("falt", "")
    typed = {k: q.get(k, "")[:200] for k in FIELDS}
    staff: list[dict[str, str]] = []
    if own and Role.ADMIN not in me.roles:
        now = svc.now()
        st = await svc.effective(now)
        people = [directory.user(sid) for sid in staff_of(me, directory)[:MAX_STAFF_LISTED]]
        for row in service.board(st, now, [p for p in people if p is not None]):
            staff.append(
                {
                    "id": row.user.id,
                    "name": row.user.name,
                    "state": row.state,
                    "state_text": row.state_text,
                    "detail": row.detail,
                }
            )
    context = {
        "own": own,
        "uid": uid,
        "name": name,
        "row": info.row,
        "calendar_text": _calendar_text(info),
        "message": info.row.message or "Ingen hänvisning – samtalet kopplas fram.",
        "manual": manual,
        "reasons": [(r.value, t) for r, t in REASON_CHOICES],
        "typed": typed,
        "further": q.get("tills_vidare") == "on",
        "field": field if field in FIELDS else "",
        "field_error": q.get("problem", "")[:300],
        "staff": staff,
        "is_admin": Role.ADMIN in me.roles,
    }
    title = "Min tillgänglighet" if own else f"Hänvisning för {name}"
    return render_page(request, "directory/mine.html", context, title=title, current=PATH)


def _refused(uid: str, me: str, form: Mapping[str, str], exc: WebError) -> web.Response:
    """Back to the form with the problem, the field at fault and what was typed."""
    field = exc.field if isinstance(exc, InvalidField) else ""
    problem = exc.problem if isinstance(exc, InvalidField) else problem_text(exc)
    if field == "until" and not form.get("until") and "tills_vidare" not in form:
        problem = "ange när hänvisningen slutar, eller kryssa i Tills vidare"
    elif field == "until" and "framtiden" in problem:
        problem += "; välj en senare tid, eller kryssa i Tills vidare"
    label = FIELD_LABEL.get(field)
    lead = f"{label}: {problem}" if label else problem
    params = {
        "fel": f"Hänvisningen sparades inte. {lead[:1].upper()}{lead[1:]}. Rätta och spara igen.",
        "falt": field,
        "problem": problem[:1].upper() + problem[1:] + ".",
        **{k: form.get(k, "")[:200] for k in FIELDS},
    }
    if "tills_vidare" in form:
        params["tills_vidare"] = "on"
    if uid != me:
        params["for"] = uid
    return see_other(f"{PATH}?{urlencode({k: v for k, v in params.items() if v})}")


async def my_set(request: web.Request) -> web.StreamResponse:
    """POST /min-tillganglighet: set my (or, `for`, a colleague's) manual redirect."""
    form = await read_form(request)
    me = account(request)
    uid = _target(request, form.get("for", ""))
    data: dict[str, object] = {k: form.get(k, "") for k in FIELDS}
    if "tills_vidare" in form:  # ALV-02: "until further notice" is an explicit choice
        data["until_further_notice"] = True
    try:
        await service.set_manual_redirect(services(request), uid, me.user_id, data)
    except WebError as exc:
        if exc.status >= 500:
            raise
        return _refused(uid, me.user_id, form, exc)
    return back(_page_path(uid, me.user_id), ok="Hänvisningen är sparad.")


async def my_clear(request: web.Request) -> web.StreamResponse:
    """POST /min-tillganglighet/rensa: clear my (or, `for`, a colleague's) manual redirect."""
    form = await read_form(request)
    me = account(request)
    uid = _target(request, form.get("for", ""))
    await service.clear_manual_redirect(services(request), uid, me.user_id)
    return back(_page_path(uid, me.user_id), ok="Den manuella hänvisningen är borttagen.")
