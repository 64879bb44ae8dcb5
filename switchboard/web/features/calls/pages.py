"""IT's page (Samtalslogg): the call log searched, exported and a call flagged as a threat;
my calls (Mina samtal): the calls I received, each one to report as a threat (ALV-20)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from aiohttp import web

from switchboard.telephony.calllog import UnknownCall
from switchboard.web.call_display import outcome_text, party, party_html
from switchboard.web.core import account, csrf_token, services
from switchboard.web.errors import WebError
from switchboard.web.features.calls import service
from switchboard.web.html import e, hidden_csrf
from switchboard.web.http import text_problem
from switchboard.web.layout import (
    back,
    flash,
    local_minutes,
    local_seconds,
    name_of,
    read_form,
    render,
)


async def it_page(request: web.Request) -> web.StreamResponse:
    """GET /it: call log query, CSV export, flag a call as a threat, incidents."""
    svc = services(request)
    calls = await service.query_calls(request)
    incidents = await service.incidents(svc)
    csrf = csrf_token(request)
    q = {k: request.query.get(k, "")[:40] for k in ("since", "until", "number")}
    kept = "".join(  # the filter survives flagging a call
        f'<input type="hidden" name="{k}" value="{e(v)}">' for k, v in q.items() if v
    )
    directory = svc.config.directory
    memo: dict[str, str] = {}
    flagged = {i.call_id: i for i in incidents}
    started: dict[str, str] = {}
    rows = []
    for c in calls[:500]:
        cid = c.call_id
        duration = "" if c.duration_s is None else f"{c.duration_s} s"
        started[cid] = f"{local_seconds(c.start, request)}, {party(c.caller, directory, memo)}"
        incident = flagged.get(cid)
        threat = (
            f'<strong class="badge blocked">Flaggat: {e(incident.reference)}</strong>'
            if incident is not None
            else (
                f'<form method="post" action="/it/samtal/{e(quote(cid, safe=""))}/hot">'
                f"{hidden_csrf(csrf)}{kept}"
                f'<label class="sr-only" for="note-{e(cid)}">Beskrivning av hotet</label>'
                f'<input type="text" id="note-{e(cid)}" name="note" required maxlength="2000" '
                'placeholder="Beskriv hotet">'
                '<button type="submit">Flagga som hot</button></form>'
            )
        )
        rows.append(
            ("<tr class='flagged'>" if incident else "<tr>")
            + f'<td data-label="Start">{e(local_seconds(c.start, request))}</td>'
            f'<td data-label="Slut">{e(local_seconds(c.end, request))}</td>'
            f'<td data-label="Längd">{e(duration)}</td>'
            f'<td data-label="Från">{party_html(c.caller, directory, memo)}</td>'
            f'<td data-label="Till">{party_html(c.called, directory, memo)}</td>'
            f'<td data-label="Kopplat till">'
            f"{'; '.join(party_html(d, directory, memo) for d in c.dialled)}</td>"
            f'<td data-label="Utfall">{e(outcome_text(c.outcome))}</td>'
            f'<td data-label="Hot">{threat}</td></tr>'
        )
    inc_rows = "".join(
        f'<tr><td data-label="Referens">{e(i.reference)}</td>'
        f'<td data-label="Samtal">{e(started.get(i.call_id, "utanför urvalet"))}</td>'
        f'<td data-label="Anmält">{e(local_minutes(i.reported_at, request))} av '
        f"{e(name_of(directory, i.reported_by))}</td>"
        f'<td data-label="Beskrivning">{e(i.note)}</td></tr>'
        for i in incidents
    )
    csv_link = "/api/calls.csv?" + urlencode({k: v for k, v in q.items() if v})
    body = flash(request) + (
        '<form method="get" action="/it" role="search">'
        f'<label for="since">Från och med</label><input type="datetime-local" id="since" '
        f'name="since" value="{e(q["since"])}">'
        f'<label for="until">Till</label><input type="datetime-local" id="until" name="until" '
        f'value="{e(q["until"])}">'
        f'<label for="number">Nummer</label><input type="text" id="number" name="number" '
        f'value="{e(q["number"])}" inputmode="tel">'
        '<button type="submit">Visa</button></form>'
        f'<p><a href="{e(csv_link)}">Exportera som CSV</a> · {len(calls)} samtal</p>'
        '<table id="calls"><thead><tr><th scope="col">Start</th><th scope="col">Slut</th>'
        '<th scope="col">Längd</th><th scope="col">Från</th><th scope="col">Till</th>'
        '<th scope="col">Kopplat till</th><th scope="col">Utfall</th><th scope="col">Hot</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        '<h2>Incidenter</h2><table id="incidents"><thead><tr><th scope="col">Referens</th>'
        '<th scope="col">Samtal</th><th scope="col">Anmält</th><th scope="col">Beskrivning</th>'
        f"</tr></thead><tbody>{inc_rows}</tbody></table>"
    )
    return render(request, "Samtalslogg", body, "/it")


async def it_threat(request: web.Request) -> web.StreamResponse:
    """POST /it/samtal/{call_id}/hot: flag a call as a threat (ALV-20)."""
    svc = services(request)
    form = await read_form(request)
    note = form.get("note", "").strip()[:2000]
    if not note:
        return back("/it", err="Beskriv hotet innan du flaggar samtalet.")
    if text_problem(note, multiline=True) is not None:
        return back("/it", err="Beskrivningen får inte innehålla styrtecken.")
    incident = await service.flag_threat(
        svc, request.match_info["call_id"], note, account(request).user_id
    )
    kept = {k: form[k][:40] for k in ("since", "until", "number") if form.get(k)}
    path = "/it" + ("?" + urlencode(kept) if kept else "")
    return back(path, ok=f"Incident {incident.reference} är registrerad.")


# ---------------------------------------------------------------- my calls (ALV-20)


async def my_calls_page(request: web.Request) -> web.StreamResponse:
    """GET /mina-samtal: calls to my numbers, each with a threat form (ALV-20)."""
    calls = await service.calls_to(services(request), account(request))
    csrf = csrf_token(request)
    rows = "".join(
        f"<tr><td>{e(str(c['start'] or '')[:16].replace('T', ' '))}</td><td>{e(c['caller'])}</td>"
        f'<td><form method="post" action="/mina-samtal/{e(quote(str(c["call_id"]), safe=""))}/hot">'
        f"{hidden_csrf(csrf)}"
        f'<label class="sr-only" for="note-{e(c["call_id"])}">Beskriv hotet</label>'
        f'<input type="text" id="note-{e(c["call_id"])}" name="note" required maxlength="2000">'
        '<button type="submit">Anmäl hot</button></form></td></tr>'
        for c in calls
    )
    body = flash(request) + (
        "<p>Samtal till dina nummer. Blev du hotad? Anmäl samtalet, så skapas en incident hos IT."
        '</p><table id="my-calls"><thead><tr><th scope="col">När (UTC)</th>'
        '<th scope="col">Från</th><th scope="col">Hot</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )
    return render(request, "Mina samtal", body, "/mina-samtal")


async def my_threat(request: web.Request) -> web.StreamResponse:
    """POST /mina-samtal/{call_id}/hot: ALV-20 from the page."""
    form = await read_form(request)
    note = form.get("note", "").strip()[:2000]
    if not note or text_problem(note, multiline=True) is not None:
        return back("/mina-samtal", err="Beskriv hotet (utan styrtecken) och försök igen.")
    try:
        incident = await service.flag(
            services(request), account(request), request.match_info["call_id"], note
        )
    except (WebError, UnknownCall) as exc:
        if isinstance(exc, WebError) and exc.status >= 500:
            raise
        return back("/mina-samtal", err=exc.message)
    return back("/mina-samtal", ok=f"Incident {incident.reference} är registrerad hos IT.")
