"""The board (Tavlan: everyone's availability, searched and updated live) and my availability
(Min tillgänglighet: what callers hear now, my manual redirect)."""

from __future__ import annotations

from aiohttp import web

from routing.absence import AbsenceReason
from routing.numbers import national_format
from switchboard.web.core import account, csrf_token, services
from switchboard.web.errors import WebError
from switchboard.web.features.directory import service
from switchboard.web.features.directory.schemas import BoardRow
from switchboard.web.html import e, hidden_csrf
from switchboard.web.layout import back, flash, iso_local, problem_text, read_form, render

REASON_CHOICES = (
    (AbsenceReason.MEETING, "Möte"),
    (AbsenceReason.LUNCH, "Lunch"),
    (AbsenceReason.VACATION, "Semester"),
    (AbsenceReason.TRAVEL, "Tjänsteresa"),
    (AbsenceReason.TRAINING, "Utbildning"),
    (AbsenceReason.AWAY, "Inte på plats"),
    (AbsenceReason.BUSY, "Upptagen"),
)
BOARD_JS = """
(function(){
  var q=document.getElementById('q');
  var rows=[].slice.call(document.querySelectorAll('#board tbody tr'));
  var live=document.getElementById('live'),count=document.getElementById('count');
  function filter(){var w=q.value.toLowerCase().split(/\\s+/).filter(Boolean),n=0;
    rows.forEach(function(r){var hit=w.every(function(x){return r.dataset.search.indexOf(x)>=0});
      r.hidden=!hit;if(hit)n++;});count.textContent=n+' träffar';}
  q.addEventListener('input',filter);
  document.getElementById('search').addEventListener('submit',function(ev){ev.preventDefault();filter();});
  var es=new EventSource('/api/presence/events');
  es.addEventListener('presence',function(ev){var u=JSON.parse(ev.data);
    var row=document.getElementById('u-'+u.id);if(!row)return;
    var changed=row.dataset.state!==u.state;row.dataset.state=u.state;
    var b=row.querySelector('.badge');b.className='badge '+u.state;b.textContent=u.state_text;
    var d=row.querySelector('.detail');
    var end=u.returns_text?', åter '+u.returns_text:(u.until_further_notice?', tills vidare':'');
    d.textContent=(u.reason_text||'')+end;
    row.querySelector('.message').textContent=u.message||'';
    if(changed){live.textContent=u.name+': '+u.state_text;}});
  document.body.dataset.live='1';
})();
"""


def _row(r: BoardRow) -> str:
    u = r.user
    search = " ".join((u.name or "", u.title or "", u.unit or "")) + " " + " ".join(u.keywords)
    number = r.public_number or ""
    detail = r.reason_text or ""
    if r.returns_text:
        detail += f", åter {r.returns_text}"
    elif r.until_further_notice:
        detail += ", tills vidare"
    # tel: keeps E.164 for phones; people read the national form (026-830 12)
    tel = f'<a href="tel:{e(number)}">{e(national_format(number))}</a>' if number else "–"
    return (
        f'<tr id="u-{e(u.id)}" data-state="{e(r.state)}" data-search="{e(search.lower())}">'
        f'<td data-label="Namn">{e(u.name)}<br>'
        f'<span class="muted">{e(u.title)}</span></td>'
        f'<td data-label="Enhet">{e(u.unit)}</td>'
        f'<td data-label="Nummer">{tel}</td>'
        f'<td data-label="Status"><span class="badge {e(r.state)}">{e(r.state_text)}</span> '
        f'<span class="detail">{e(detail)}</span></td>'
        f'<td data-label="Den som ringer hör" class="message">{e(r.message)}</td></tr>'
    )


async def board_page(request: web.Request) -> web.StreamResponse:
    """GET /: everyone's availability, updated live; search by name, title, unit, keyword."""
    svc = services(request)
    now = svc.now()
    st = await svc.effective(now)
    q = request.query.get("q", "")[:100]
    users = service.search(st.directory.users, q)
    rows = service.board(st, now, users)
    body = (
        '<form id="search" role="search" method="get" action="/">'
        '<label for="q">Sök på namn, titel, enhet eller nyckelord</label>'
        f'<input type="search" id="q" name="q" value="{e(q)}" autocomplete="off">'
        '<button type="submit">Sök</button></form>'
        f'<p id="count" class="muted" aria-live="polite">{len(rows)} träffar</p>'
        '<p id="live" class="sr-only" aria-live="polite"></p>'
        '<table id="board"><caption class="sr-only">Tillgänglighet</caption><thead><tr>'
        '<th scope="col">Namn</th><th scope="col">Enhet</th><th scope="col">Nummer</th>'
        '<th scope="col">Status</th><th scope="col">Den som ringer hör</th></tr></thead><tbody>'
        + "".join(_row(r) for r in rows)
        + "</tbody></table>"
    )
    return render(request, "Tillgänglighet", body, "/", BOARD_JS)


# ---------------------------------------------------------------- my availability


async def my_page(request: web.Request) -> web.StreamResponse:
    """GET /min-tillganglighet: my calendar state, what callers hear now, manual redirect."""
    svc = services(request)
    me = account(request)
    info = await service.availability(svc, me.user_id, me.user_id)
    cal = info.calendar_redirect
    cal_text = "Ingen hänvisning från kalendern just nu."
    if cal is not None:
        cal_text = f"Kalendern säger: {service.REASON_TEXT.get(cal.reason, cal.reason)}"
        if cal.returns:
            cal_text += f", åter {iso_local(cal.returns)}"
        cal_text += "."
    if info.calendar == "unavailable":
        cal_text = "Kalendern kunde inte läsas just nu."
    elif info.calendar == "none":
        cal_text = "Ingen kalender är kopplad."
    message = info.row.message or "Ingen hänvisning – samtalet kopplas fram."
    manual = info.manual
    csrf = csrf_token(request)
    manual_html = "<p>Ingen manuell hänvisning.</p>"
    if manual is not None:
        until = iso_local(manual.until) or "tills vidare"
        if manual.until_further_notice:
            until = f"tills vidare (upphör senast {until})"
        manual_html = (
            f'<p id="manual-now">Manuell hänvisning: '
            f"{e(service.REASON_TEXT.get(manual.reason, manual.reason))}, till {e(until)}."
            f'</p><form method="post" action="/min-tillganglighet/rensa">{hidden_csrf(csrf)}'
            '<button type="submit" class="secondary">Ta bort manuell hänvisning</button></form>'
        )
    options = "".join(f'<option value="{r.value}">{e(t)}</option>' for r, t in REASON_CHOICES)
    body = (
        flash(request) + f'<p>Status: <span class="badge {e(info.row.state)}" id="my-state">'
        f"{e(info.row.state_text)}</span></p>"
        f"<p>{e(cal_text)}</p>"
        "<h2>Det här hör den som ringer dig nu</h2>"
        f'<p class="message" id="caller-hears">{e(message)}</p>'
        "<h2>Manuell hänvisning</h2>"
        f"{manual_html}"
        '<p class="muted">En manuell hänvisning gäller före kalendern och upphör av sig själv '
        "vid sluttiden.</p>"
        f'<form method="post" action="/min-tillganglighet">{hidden_csrf(csrf)}'
        f'<label for="reason">Orsak</label><select id="reason" name="reason">{options}</select>'
        '<label for="until">Åter (sluttid)</label>'
        '<input type="datetime-local" id="until" name="until">'
        '<label style="font-weight:400"><input type="checkbox" name="tills_vidare"> '
        "Tills vidare (upphör ändå efter organisationens längsta tid)</label>"
        '<label for="text">Egen text (valfri)</label>'
        '<input type="text" id="text" name="text" maxlength="200">'
        '<button type="submit">Spara hänvisning</button></form>'
    )
    return render(request, "Min tillgänglighet", body, "/min-tillganglighet")


async def my_set(request: web.Request) -> web.StreamResponse:
    """POST /min-tillganglighet: set my manual redirect."""
    form = await read_form(request)
    me = account(request)
    data: dict[str, object] = {k: form.get(k, "") for k in ("reason", "until", "text")}
    if "tills_vidare" in form:  # ALV-02: "until further notice" is an explicit choice
        data["until_further_notice"] = True
    try:
        await service.set_manual_redirect(services(request), me.user_id, me.user_id, data)
    except WebError as exc:
        if exc.status >= 500:
            raise
        return back("/min-tillganglighet", err=f"Kunde inte spara: {problem_text(exc)}")
    return back("/min-tillganglighet", ok="Hänvisningen är sparad.")


async def my_clear(request: web.Request) -> web.StreamResponse:
    """POST /min-tillganglighet/rensa: clear my manual redirect."""
    me = account(request)
    await service.clear_manual_redirect(services(request), me.user_id, me.user_id)
    return back("/min-tillganglighet", ok="Den manuella hänvisningen är borttagen.")
