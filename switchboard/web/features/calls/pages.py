"""IT's page (Samtalslogg): the call log searched, exported and a call flagged as a threat;
my calls (Mina samtal): the calls I received, each one to report as a threat (ALV-20).

What a person reads: parties by name and national number (`call_display`), outcomes in
Swedish, times local, never the platform's values (`PJSIP/83013`, `completed`, Asterisk's call
id). A refused threat report shows the page again with the typed text kept and the field
marked; the IT page's filter survives flagging a call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from routing.models import Directory
from switchboard.telephony.calllog import CallEntry, Incident, UnknownCall
from switchboard.web import paging
from switchboard.web.call_display import outcome_text, party
from switchboard.web.core import account, services
from switchboard.web.errors import InvalidField, WebError
from switchboard.web.features.calls import service
from switchboard.web.http import text_problem
from switchboard.web.layout import back, local_minutes, local_seconds, name_of, read_form
from switchboard.web.templating import render_page

FILTER = ("since", "until", "number")
FILTER_LABEL = {"since": "Från och med", "until": "Till", "number": "Nummer"}
PAGE_SIZE = 100  # calls a page shows; the CSV export has every call of the filter
MAX_PAGE = 10_000


def party_view(raw: str | None, directory: Directory, memo: dict[str, str]) -> dict[str, str]:
    """A party as the template shows it: 'Anna Andersson, ' and a number that never wraps."""
    text = party(raw, directory, memo)
    name, sep, number = text.rpartition(", ")
    if not number or not any(ch.isdigit() for ch in number):
        return {"head": text, "number": ""}
    return {"head": name + sep if sep else "", "number": number}


def _call_time(value: object, request: web.Request) -> str:
    if not isinstance(value, str) or not value:
        return ""
    try:
        return local_seconds(datetime.fromisoformat(value), request)
    except ValueError:
        return ""


def _threat_error(note: str) -> str | None:
    """Why a threat description cannot be saved, in Swedish (None: it can)."""
    if not note:
        return "Beskriv hotet – vad sades och av vem – och försök igen."
    if text_problem(note, multiline=True) is not None:
        return "Ta bort styrtecknen ur beskrivningen och försök igen."
    return None


async def _it_view(
    request: web.Request, query: Mapping[str, str], refused: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The IT page's context for the filter `query` (a refused flagging: its call id, text
    and error in `refused`)."""
    svc = services(request)
    page = paging.page_param(query, "page", MAX_PAGE)
    q = {k: query.get(k, "")[:40] for k in FILTER}
    field_error: dict[str, str] = {}
    calls: Sequence[CallEntry] = []
    try:
        calls = await service.query_calls_for(svc, q)
    except InvalidField as exc:
        field_error[exc.field] = f"{FILTER_LABEL.get(exc.field, exc.field)}: {exc.problem}."
    incidents = await service.incidents(svc)
    directory = svc.config.directory
    memo: dict[str, str] = {}
    flagged = {i.call_id: i for i in incidents}
    started: dict[str, tuple[str, dict[str, str]]] = {}
    rows = []
    pg = paging.page_of(len(calls), page, PAGE_SIZE)
    for c in [] if pg.beyond else pg.of(calls):
        caller = party_view(c.caller, directory, memo)
        started[c.call_id] = (local_seconds(c.start, request), caller)
        incident = flagged.get(c.call_id)
        rows.append(
            {
                "id": c.call_id,
                "action": f"/it/samtal/{quote(c.call_id, safe='')}/hot",
                "start": local_seconds(c.start, request),
                "end": local_seconds(c.end, request),
                "duration": "" if c.duration_s is None else f"{c.duration_s} s",
                "caller": caller,
                "called": party_view(c.called, directory, memo),
                "dialled": [party_view(d, directory, memo) for d in c.dialled],
                "outcome": outcome_text(c.outcome),
                "incident": incident.reference if incident is not None else "",
            }
        )
    kept = {k: v for k, v in q.items() if v and k not in field_error}
    return {
        "q": q,
        "field_error": field_error,
        "kept": kept | ({"page": str(page)} if page > 1 else {}),
        "rows": rows,
        "total": len(calls),
        "limit": service.PAGE_LIMIT,
        "page": pg,
        "pager": paging.pager(pg, lambda n: "/it?" + urlencode({**kept, "page": str(n)})),
        "csv": "/api/calls.csv" + ("?" + urlencode(kept) if kept else ""),
        "incidents": [_incident_view(i, started, directory, memo, request) for i in incidents],
        "refused": refused or {},
    }


def _incident_view(
    i: Incident,
    started: Mapping[str, tuple[str, dict[str, str]]],
    directory: Directory,
    memo: dict[str, str],
    request: web.Request,
) -> dict[str, object]:
    when, caller = started.get(i.call_id) or (  # outside the filter: the incident's copy
        _call_time(i.call.get("start"), request),
        party_view(str(i.call.get("caller") or ""), directory, memo),
    )
    by = name_of(directory, i.reported_by)
    return {
        "reference": i.reference,
        "when": when,
        "caller": caller,
        "reported": f"{local_minutes(i.reported_at, request)} av {by}",
        "note": i.note,
    }


async def it_page(request: web.Request) -> web.StreamResponse:
    """GET /it: call log query, CSV export, flag a call as a threat, incidents."""
    context = await _it_view(request, request.query)
    status = 422 if context["field_error"] else 200
    return render_page(
        request, "calls/it.html", context, title="Samtalslogg", current="/it", status=status
    )


async def it_threat(request: web.Request) -> web.StreamResponse:
    """POST /it/samtal/{call_id}/hot: flag a call as a threat (ALV-20); the filter kept."""
    svc = services(request)
    form = await read_form(request)
    call_id = request.match_info["call_id"]
    note = form.get("note", "").strip()[:2000]
    kept = {k: form[k][:40] for k in (*FILTER, "page") if form.get(k)}
    problem = _threat_error(note)
    if problem is not None:
        refused = {"call_id": call_id, "note": form.get("note", "")[:2000], "error": problem}
        context = await _it_view(request, kept, refused)
        return render_page(
            request, "calls/it.html", context, title="Samtalslogg", current="/it", status=422
        )
    incident = await service.flag_threat(svc, call_id, note, account(request).user_id)
    path = "/it" + ("?" + urlencode(kept) if kept else "")
    return back(path, ok=f"Incident {incident.reference} är registrerad. Samtalet är markerat.")


# ---------------------------------------------------------------- my calls (ALV-20)


async def _my_view(
    request: web.Request, refused: Mapping[str, str] | None = None
) -> dict[str, Any]:
    svc = services(request)
    calls = await service.calls_to(svc, account(request))
    directory = svc.config.directory
    memo: dict[str, str] = {}
    return {
        "calls": [
            {
                "id": c.call_id,
                "action": f"/mina-samtal/{quote(c.call_id, safe='')}/hot",
                "start": local_minutes(c.start, request),
                "caller": party_view(c.caller, directory, memo),
                "outcome": outcome_text(c.outcome),
            }
            for c in calls
        ],
        "refused": refused or {},
    }


async def my_calls_page(request: web.Request) -> web.StreamResponse:
    """GET /mina-samtal: calls to my numbers, each with a threat form (ALV-20)."""
    context = await _my_view(request)
    return render_page(
        request, "calls/mine.html", context, title="Mina samtal", current="/mina-samtal"
    )


async def my_threat(request: web.Request) -> web.StreamResponse:
    """POST /mina-samtal/{call_id}/hot: ALV-20 from the page."""
    form = await read_form(request)
    call_id = request.match_info["call_id"]
    note = form.get("note", "").strip()[:2000]
    problem = _threat_error(note)
    if problem is None:
        try:
            incident = await service.flag(services(request), account(request), call_id, note)
        except (WebError, UnknownCall) as exc:
            if isinstance(exc, WebError) and exc.status >= 500:
                raise
            return back("/mina-samtal", err=exc.message)
        return back("/mina-samtal", ok=f"Incident {incident.reference} är registrerad hos IT.")
    refused = {"call_id": call_id, "note": form.get("note", "")[:2000], "error": problem}
    context = await _my_view(request, refused)
    return render_page(
        request,
        "calls/mine.html",
        context,
        title="Mina samtal",
        current="/mina-samtal",
        status=422,
    )
