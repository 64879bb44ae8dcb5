"""The registrar's pages (Registrator): the lists (the queue, the classified records by outcome,
the ones owners deleted, the disposed ones; a date range, a search, the order, pages), a record
heard, classified and its audit trail told in words; a refused classification keeps what was
typed. Templates: `templates/registry/`."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from aiohttp import web

from switchboard.web import paging
from switchboard.web.core import account, services
from switchboard.web.errors import WebError
from switchboard.web.features.registry import service
from switchboard.web.features.registry.schemas import QueuePage
from switchboard.web.features.registry.words import (
    CLASSIFICATION_TEXT,
    OUTCOME_WORDS,
    STATUS_TEXT,
    actor_name,
    audit_line,
    caller_of,
    local_text,
    mailbox_of,
    record_state,
    waiting_text,
)
from switchboard.web.http import record_ref
from switchboard.web.layout import back, problem_text, read_form
from switchboard.web.templating import render_page
from voicemail.errors import VoicemailError
from voicemail.models import RecordStatus
from voicemail.register import RecordFilter

PATH = "/registrator"
VIEW_TEXT = {
    "waiting": "Väntar på klassificering",
    "classified": "Klassificerade",
    "hidden": "Raderade av ägaren",
    "disposed": "Gallrade",
    "all": "Alla meddelanden",
}
# (one, many) for the count: "130 meddelanden väntar på klassificering"
VIEW_COUNT = {
    "waiting": ("meddelande väntar på klassificering", "meddelanden väntar på klassificering"),
    "classified": ("klassificerat meddelande", "klassificerade meddelanden"),
    "hidden": ("meddelande som ägaren har raderat", "meddelanden som ägaren har raderat"),
    "disposed": ("gallrat meddelande", "gallrade meddelanden"),
    "all": ("meddelande", "meddelanden"),
}
VIEW_SEARCHED = {
    "waiting": "i kön",
    "classified": "bland de klassificerade",
    "hidden": "bland dem som ägaren har raderat",
    "disposed": "bland de gallrade",
    "all": "i registret",
}
SORT_TEXT = {"oldest": "Längst väntan först (äldst först)", "newest": "Senast inkomna först"}
STATUS_VIEW = {
    RecordStatus.AWAITING_CLASSIFICATION: "waiting",
    RecordStatus.CLASSIFIED: "classified",
    RecordStatus.DISPOSED: "disposed",
}


def _href(params: Mapping[str, str]) -> str:
    return PATH + ("?" + urlencode(params) if params else "")


def _summary(p: QueuePage) -> str:
    """The true count and what it counts: '130 meddelanden väntar på klassificering. Visar
    1–50.', '1 träff för ”Örjan” bland de klassificerade.'"""
    lst = p.listing
    if lst.query:
        hits = "träff" if p.total == 1 else "träffar"
        text = f"{p.total} {hits} för ”{lst.query}” {VIEW_SEARCHED[lst.view]}"
    else:
        one, many = VIEW_COUNT[lst.view]
        text = f"{p.total} {one if p.total == 1 else many}"
    if lst.outcome is not None:
        text += f" med utfallet ”{OUTCOME_WORDS[lst.outcome]}”"
    if lst.first and lst.last:
        text += f", inkomna {lst.first.isoformat()}–{lst.last.isoformat()}"
    elif lst.first:
        text += f", inkomna från och med {lst.first.isoformat()}"
    elif lst.last:
        text += f", inkomna till och med {lst.last.isoformat()}"
    pg = p.paging
    if p.items and p.total > len(p.items):
        text += f". Visar {pg.first}–{pg.last}"
    elif not p.items and p.total:
        text += f". Sidan {p.page} är tom: gå till sidan 1"
    return text + "."


def list_context(
    request: web.Request, p: QueuePage, problems: Mapping[str, str]
) -> dict[str, object]:
    """What templates/registry/list.html shows."""
    directory = services(request).config.directory
    tz = services(request).config.org.timezone
    memo: dict[str, str] = {}
    lst = p.listing
    rows = [
        {
            "id": i.record.id,
            "number": i.record.registration_number,
            "arrived": i.arrived_local,
            "waited": waiting_text(i.waiting_s),
            "caller": caller_of(i.record, directory, memo),
            "mailbox": mailbox_of(i.record, directory, memo),
            "duration": i.record.duration_s,
            "state": record_state(i.record),
            "by": (
                f"{actor_name(i.record.classified_by, directory)}"
                f" {local_text(i.record.classified_at, tz)}"
                if i.record.classified_by and i.record.classified_at
                else ""
            ),
        }
        for i in p.items
    ]
    pg = p.paging
    typed = {k: request.query.get(k, "") for k in ("view", "outcome", "from", "to", "sort", "q")}
    values = lst.params() | {"view": lst.view, "sort": lst.sort}
    # what was typed stays in a field that was refused; the rest shows the list's own values
    form = {k: (typed[k] if k in problems else values.get(k, "")) for k in typed}
    return {
        "rows": rows,
        "summary": _summary(p),
        "listing": lst,
        "waiting_view": lst.view == "waiting",
        "views": [
            (_href({"view": v} if v != "waiting" else {}), text, v == lst.view)
            for v, text in VIEW_TEXT.items()
        ],
        "view_options": list(VIEW_TEXT.items()),
        "outcome_options": [(c.value, t[:1].upper() + t[1:]) for c, t in OUTCOME_WORDS.items()],
        "sort_options": list(SORT_TEXT.items()),
        "form": form,
        "problems": problems,
        "pager": paging.pager(pg, lambda n: _href(lst.params(n))),
        "clear": PATH if lst.params() else "",
    }


async def registrar_page(request: web.Request) -> web.StreamResponse:
    """GET /registrator: a list (the queue by default, longest-waiting first), filtered,
    searched and paged, with the true count (REC-02); a refused filter is marked at its field
    and the rest of the list still shows."""
    listing, problems = service.read_listing(request.query)
    p = await service.list_page(services(request), listing)
    return render_page(
        request,
        "registry/list.html",
        list_context(request, p, problems),
        title="Registrator"
        if listing.view == "waiting"
        else f"Registrator – {VIEW_TEXT[listing.view]}",
        current=PATH,
        status=422 if problems else 200,
    )


async def record_page(request: web.Request) -> web.StreamResponse:
    """GET /registrator/{ref}: one record: listen, classify, the audit trail in words."""
    return await _record_view(request, record_ref(request.match_info["ref"]))


async def _record_view(
    request: web.Request,
    ref: str,
    typed: Mapping[str, str] | None = None,
    problem: tuple[str | None, str] | None = None,
) -> web.Response:
    """The record page; after a refused classification it keeps what was typed, names the
    problem at the top and marks the field (WCAG 3.3.1, 3.3.3)."""
    svc = services(request)
    reg = service.register_of(svc)
    rec = await reg.get(ref)
    events = await reg.store.events(rec.id)
    directory, tz = svc.config.directory, svc.config.org.timezone
    memo: dict[str, str] = {}
    chosen = typed.get("classification") if typed else None
    chosen = chosen or (rec.classification.value if rec.classification else "")
    errors = {problem[0] or "classification": problem[1]} if problem is not None else {}
    after_save = "ok" in request.query and problem is None
    following = None
    if after_save:  # the next in the queue, for the keyboard's way on
        nxt = await reg.store.records(
            RecordFilter(status=RecordStatus.AWAITING_CLASSIFICATION, limit=1)
        )
        following = nxt[0] if nxt else None
    view = "hidden" if rec.hidden_from_owner else STATUS_VIEW[rec.status]
    context = {
        "rec": rec,
        "arrived": local_text(rec.arrived_at, tz),
        "caller": caller_of(rec, directory, memo),
        "mailbox": mailbox_of(rec, directory, memo),
        "status": STATUS_TEXT[rec.status],
        "state": "" if rec.status is RecordStatus.AWAITING_CLASSIFICATION else record_state(rec),
        "classified": (
            f"{actor_name(rec.classified_by, directory)} {local_text(rec.classified_at, tz)}"
            if rec.classified_by and rec.classified_at
            else ""
        ),
        "disposed": rec.status is RecordStatus.DISPOSED,
        "options": [(c.value, t, c.value == chosen) for c, t in CLASSIFICATION_TEXT.items()],
        "summary": typed.get("summary", "") if typed else (rec.summary or ""),
        "case": typed.get("case_reference", "") if typed else (rec.case_reference or ""),
        "problem": problem[1] if problem is not None else "",
        "errors": errors,
        "audit": [
            audit_line(ev.action, ev.actor, ev.at, ev.before, ev.after, directory, tz)
            for ev in events
        ],
        "following": following,
        "back": _href({"view": view} if view != "waiting" else {}),
        "back_text": (
            "Tillbaka till kön" if view == "waiting" else f"Till listan: {VIEW_TEXT[view]}"
        ),
    }
    if problem is not None:  # the layout's notice would repeat it: the page names it once
        context |= {"notice_ok": "", "notice_error": ""}
    return render_page(
        request,
        "registry/record.html",
        context,
        title=rec.registration_number,
        current=PATH,
        status=422 if problem is not None else 200,
    )


async def record_classify(request: web.Request) -> web.StreamResponse:
    """POST /registrator/{ref}: classify from the form; a refusal keeps what was typed."""
    svc = services(request)
    ref = record_ref(request.match_info["ref"])
    form = await read_form(request)
    typed = {k: str(form.get(k, "")) for k in ("classification", "summary", "case_reference")}
    data: dict[str, object] = dict(typed)
    path = f"{PATH}/{ref}"
    try:
        await service.classify_record(svc, ref, account(request).user_id, data)
    except (WebError, VoicemailError) as exc:
        if isinstance(exc, WebError) and exc.status >= 500:
            raise
        if getattr(exc, "error_id", "") in ("unknown-record", "storage-error"):
            raise
        field = getattr(exc, "field", None)
        problem = getattr(exc, "problem", None) or problem_text(exc)
        return await _record_view(request, ref, typed, (field, problem))
    return back(path, ok="Klassificeringen är sparad.")
