"""The registrar's pages (Registrator): the queue searched and paged, a record heard,
classified and its audit trail shown; a refused classification keeps what was typed."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from aiohttp import web

from switchboard.web.call_display import party, party_html
from switchboard.web.core import account, csrf_token, services
from switchboard.web.errors import WebError
from switchboard.web.features.registry import service
from switchboard.web.features.registry.schemas import QueueRow
from switchboard.web.html import e, hidden_csrf
from switchboard.web.http import record_ref
from switchboard.web.layout import (
    back,
    flash,
    local_minutes,
    name_of,
    problem_text,
    read_form,
    render,
)
from voicemail.errors import VoicemailError
from voicemail.models import Classification

CLASSIFICATION_TEXT = {
    Classification.PUBLIC_REGISTERED: "Allmän handling – diarieförs (ange ärendenummer)",
    Classification.PUBLIC_MINOR: "Allmän handling av ringa betydelse",
    Classification.NOT_PUBLIC_INTERNAL: "Inte allmän handling – internt arbetsmaterial",
    Classification.NOT_PUBLIC_PRIVATE: "Inte allmän handling – privat",
    Classification.NOT_PUBLIC_OTHER_CAPACITY: "Inte allmän handling – i annan egenskap",
}
AUDIT_TEXT = {
    "record.registered": "Registrerad",
    "record.received": "Mottagen och registrerad",
    "record.played": "Uppspelad",
    "record.play_refused": "Uppspelning nekad",
    "record.classified": "Klassificerad",
    "record.hidden_by_owner": "Dold av ägaren",
    "record.disposed": "Gallrad",
    "record.heard_on_phone": "Hörd i telefonen",
    "record.deleted_on_phone": "Raderad i telefonen (dold för ägaren, finns kvar)",
    "record.phone_copy_withdrawn": "Borttagen ur telefonen (numret har ny innehavare)",
    "record.marked_heard": "Markerad som hörd på webben",
}
STATUS_TEXT = {
    "awaiting_classification": "Väntar på klassificering",
    "classified": "Klassificerad",
    "disposed": "Gallrad",
}


def _waiting(s: int) -> str:
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


async def registrar_page(request: web.Request) -> web.StreamResponse:
    """GET /registrator: the queue, longest-waiting first, searched and paged (REC-02)."""
    svc = services(request)
    p = await service.queue_page(request)
    directory = svc.config.directory
    memo: dict[str, str] = {}

    def caller(i: QueueRow) -> str:
        name = i.record.caller_name or ""
        number = i.record.caller_number or ""
        shown = party_html(number, directory, memo) if number else ""
        if name and shown and name not in party(number, directory, memo):
            return f"{e(name)}, {shown}"
        return shown or e(name) or "Okänd"

    def mailbox(i: QueueRow) -> str:
        owner = i.record.owner_id
        return name_of(directory, owner) if owner else (i.record.mailbox or "")

    rows = "".join(
        f'<tr><td data-label="Registreringsnummer"><a href="/registrator/{e(i.record.id)}">'
        f"{e(i.record.registration_number)}</a></td>"
        f'<td data-label="Inkom">{e(i.arrived_local)}</td>'
        f'<td data-label="Väntat" class="waiting">{e(_waiting(i.waiting_s))}</td>'
        f'<td data-label="Från">{caller(i)}</td>'
        f'<td data-label="Brevlåda">{e(mailbox(i))}</td>'
        f'<td data-label="Längd">{e(i.record.duration_s)} s</td></tr>'
        for i in p.items
    )
    first = (p.page - 1) * p.per_page + 1
    last = first + len(p.items) - 1
    waiting = "meddelande väntar" if p.total == 1 else "meddelanden väntar"
    summary = (
        f"{p.total} {'träff' if p.total == 1 else 'träffar'} för ”{e(p.query)}” i kön"
        if p.query
        else f"{p.total} {waiting} på klassificering"
    )
    shown = f" Visar {first}–{last}." if p.items and p.total > len(p.items) else ""

    def page_link(n: int, text: str, rel: str) -> str:
        params = {"page": str(n)} | ({"q": p.query} if p.query else {})
        return f'<a href="/registrator?{e(urlencode(params))}" rel="{rel}">{text}</a>'

    pages = (p.total + p.per_page - 1) // p.per_page
    nav = " · ".join(
        link
        for link in (
            page_link(p.page - 1, "← Föregående", "prev") if p.page > 1 else "",
            f"Sida {p.page} av {pages}" if pages > 1 else "",
            page_link(p.page + 1, "Nästa →", "next") if p.page < pages else "",
        )
        if link
    )
    body = flash(request) + (
        '<form method="get" action="/registrator" role="search">'
        '<label for="q">Sök i kön (diarienummer, uppringare, brevlåda, sammanfattning)</label>'
        f'<input type="search" id="q" name="q" value="{e(p.query)}" maxlength="100">'
        '<button type="submit">Sök</button>'
        + (' <a href="/registrator">Visa alla</a>' if p.query else "")
        + "</form>"
        f'<p id="queue-summary" aria-live="polite">{summary}.{shown}</p>'
        '<table id="queue"><thead><tr><th scope="col">Registreringsnummer</th>'
        '<th scope="col">Inkom</th><th scope="col">Väntat</th><th scope="col">Från</th>'
        '<th scope="col">Brevlåda</th><th scope="col">Längd</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
        + (f'<nav aria-label="Sidor i kön" class="pages"><p>{nav}</p></nav>' if nav else "")
        + ""
        "<h2>Export</h2>"
        '<form method="get" action="/api/registry/export" class="export">'
        '<label for="export-from">Inkom från och med</label>'
        '<input type="date" id="export-from" name="from">'
        '<label for="export-to">till och med</label>'
        '<input type="date" id="export-to" name="to">'
        '<label for="export-format">Format</label><select id="export-format" name="format">'
        '<option value="xlsx">Excel (XLSX)</option>'
        '<option value="excel">Excel (CSV med semikolon)</option>'
        '<option value="csv">CSV för system (kommatecken)</option>'
        '<option value="json">JSON</option>'
        '<option value="xml">XML (ERMS, för ärendesystemet)</option></select>'
        '<button type="submit">Exportera</button></form>'
        "<p>Utan datum exporteras hela registret.</p>"
    )
    return render(request, "Registrator", body, "/registrator")


async def record_page(request: web.Request) -> web.StreamResponse:
    """GET /registrator/{ref}: one record: listen, classify, audit trail."""
    return await _record_view(request, record_ref(request.match_info["ref"]))


def _field_error(name: str, problem: tuple[str | None, str] | None) -> tuple[str, str]:
    """(attributes for the input, the error paragraph) when `problem` concerns `name`."""
    if problem is None or problem[0] != name:
        return "", ""
    return (
        f' aria-invalid="true" aria-describedby="{name}-error"',
        f'<p class="field-error" id="{name}-error">{e(problem[1])}</p>',
    )


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
    events = await service.audit_trail(svc, str(rec.id))
    csrf = csrf_token(request)
    chosen = typed.get("classification") if typed else None
    chosen = chosen or (rec.classification.value if rec.classification else "")
    options = "".join(
        f'<option value="{c.value}"{" selected" if chosen == c.value else ""}>{e(t)}</option>'
        for c, t in CLASSIFICATION_TEXT.items()
    )
    summary = typed.get("summary", "") if typed else (rec.summary or "")
    case = typed.get("case_reference", "") if typed else (rec.case_reference or "")
    summary_attrs, summary_error = _field_error("summary", problem)
    case_attrs, case_error = _field_error("case_reference", problem)
    class_attrs, class_error = _field_error("classification", problem)
    audit_rows = "".join(
        f'<tr><td data-label="Tid">{e(ev.at.strftime("%Y-%m-%d %H.%M"))}</td>'
        f'<td data-label="Vem">{e(ev.event.actor)}</td>'
        f'<td data-label="Händelse">{e(AUDIT_TEXT.get(ev.event.action, ev.event.action))}</td></tr>'
        for ev in events
    )
    audio = (
        "<p>Ljudet är gallrat; bara uppgifterna finns kvar.</p>"
        if rec.status.value == "disposed"
        else (
            f'<audio id="player" controls preload="none" '
            f'src="/api/registry/records/{rec.id}/audio">'
            "Din webbläsare kan inte spela upp ljudet.</audio>"
            '<p class="muted">Varje uppspelning loggas.</p>'
        )
    )
    alert = (
        f'<div class="notice error" role="alert">Kunde inte klassificera: {e(problem[1])}</div>'
        if problem is not None
        else flash(request)
    )
    body = alert + (
        "<dl>"
        f"<dt>Registreringsnummer</dt><dd>{e(rec.registration_number)}</dd>"
        f"<dt>Inkom</dt><dd>{e(local_minutes(rec.arrived_at, request))}</dd>"
        f"<dt>Från</dt><dd>{e(rec.caller_name or '')} {e(rec.caller_number or '')}</dd>"
        f"<dt>Brevlåda</dt><dd>{e(rec.owner_id or rec.mailbox)}</dd>"
        f'<dt>Status</dt><dd id="status">{e(STATUS_TEXT.get(rec.status.value, rec.status))}</dd>'
        "</dl>"
        f"<h2>Lyssna</h2>{audio}"
        f'<h2>Klassificera</h2><form method="post" action="/registrator/{rec.id}">'
        f"{hidden_csrf(csrf)}"
        f'<label for="classification">Klassificering</label>'
        f'<select id="classification" name="classification"{class_attrs}>{options}</select>'
        f"{class_error}"
        '<label for="summary">Kort sammanfattning</label>'
        f'<textarea id="summary" name="summary" rows="3" maxlength="500" required{summary_attrs}>'
        f"{e(summary)}</textarea>{summary_error}"
        '<label for="case_reference">Ärendenummer (bara vid diarieföring)</label>'
        f'<input type="text" id="case_reference" name="case_reference" maxlength="100" '
        f'value="{e(case)}"{case_attrs}>{case_error}'
        '<button type="submit">Spara klassificering</button></form>'
        '<h2>Händelselogg</h2><table id="audit"><thead><tr><th scope="col">Tid</th>'
        '<th scope="col">Vem</th><th scope="col">Händelse</th></tr></thead>'
        f"<tbody>{audit_rows}</tbody></table>"
        '<p><a href="/registrator">Tillbaka till kön</a></p>'
    )
    response = render(request, rec.registration_number, body, "/registrator")
    if problem is not None:
        response.set_status(422)
    return response


async def record_classify(request: web.Request) -> web.StreamResponse:
    """POST /registrator/{ref}: classify from the form; a refusal keeps what was typed."""
    svc = services(request)
    ref = record_ref(request.match_info["ref"])
    form = await read_form(request)
    typed = {k: str(form.get(k, "")) for k in ("classification", "summary", "case_reference")}
    data: dict[str, object] = dict(typed)
    path = f"/registrator/{ref}"
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
