"""The board (Tavlan: everyone's availability, searched, a page at a time, updated live)."""

from __future__ import annotations

import itertools
from urllib.parse import urlencode

from aiohttp import web
from markupsafe import Markup

from switchboard.web import paging
from switchboard.web.core import account, services
from switchboard.web.features.directory import board, service
from switchboard.web.features.directory.access import may_redirect
from switchboard.web.features.directory.board import shown
from switchboard.web.features.directory.schemas import BoardRow
from switchboard.web.templating import render_page

PAGE_SIZE = 50
NO_UNIT = "Utan enhet"
# Constant: the data comes from data-* attributes and the event stream, never from here.
BOARD_JS = """
(function(){
  var table=document.getElementById('board'),live=document.getElementById('live');
  var rows=table?[].slice.call(table.querySelectorAll('tr[data-id]')):[];
  function key(u){return [u.state,u.goes_to||'',u.detail||''].join('|');}
  function text(row,sel,value){var el=row.querySelector(sel);if(el)el.textContent=value||'';}
  function update(u){
    var row=document.getElementById('u-'+u.id);if(!row)return;
    var changed=row.dataset.key!==key(u);row.dataset.key=key(u);
    var b=row.querySelector('.badge');b.className='badge '+u.state;b.textContent=u.state_text;
    text(row,'.detail',u.detail);
    var by=u.set_by_name&&u.source==='manual'&&u.set_by!==u.id;
    text(row,'.set-by',by?'Satt av '+u.set_by_name:'');
    var g=u.goes_to||'Svarar själv';text(row,'.goes-to',g.charAt(0).toUpperCase()+g.slice(1));
    text(row,'.route',u.route&&u.route.length>1?'Via '+u.route.slice(0,-1).join(' → '):'');
    var call=row.querySelector('.call-now');
    if(call){var made=document.createElement(u.call_now?'a':'span');made.className='nr call-now';
      made.textContent=u.call_now_text||'–';
      if(u.call_now){made.setAttribute('href','tel:'+u.call_now);}call.replaceWith(made);}
    text(row,'.message',u.message);
    if(changed&&u.announcement){live.textContent=u.announcement;}
  }
  if(!rows.length){document.body.dataset.live='1';return;}
  var ids=rows.map(function(r){return r.dataset.id;}).join(',');
  var es=new EventSource('/api/presence/events?ids='+encodeURIComponent(ids)+
    '&fp='+encodeURIComponent(table.dataset.fp));
  es.addEventListener('open',function(){document.body.dataset.live='1';});
  es.addEventListener('presence',function(ev){update(JSON.parse(ev.data));});
})();
"""


def _person(r: BoardRow, can_edit: bool) -> dict[str, object]:
    u = r.user
    return {
        "id": u.id,
        "name": u.name,
        "title": u.title,
        "key": "|".join((r.state, r.goes_to or "", r.detail)),
        "extension": u.extension,
        "extension_text": shown(u.extension) if u.extension else "",
        "mobile": r.mobile,
        "mobile_text": shown(r.mobile) if r.mobile else "",
        "state": r.state,
        "state_text": r.state_text,
        "detail": r.detail,
        "set_by_name": r.set_by_name if r.source == "manual" and r.set_by != u.id else None,
        "goes_to": upper_first(r.goes_to) if r.goes_to else "Svarar själv",
        "via": " → ".join(r.route[:-1]) if len(r.route) > 1 else "",
        "call_now": r.call_now,
        "call_now_text": shown(r.call_now) if r.call_now else "–",
        "message": r.message or "",
        "can_edit": can_edit,
    }


def upper_first(text: str) -> str:
    """'Röstbrevlådan' for 'röstbrevlådan' (a name keeps its own capitals)."""
    return text[:1].upper() + text[1:]


def _link(q: str, unit: str, page: int) -> str:
    params = {k: v for k, v in (("q", q), ("enhet", unit)) if v}
    if page > 1:
        params["sida"] = str(page)
    return "/" + ("?" + urlencode(params) if params else "")


async def board_page(request: web.Request) -> web.StreamResponse:
    """GET /?q=&enhet=&sida=: availability a page at a time, grouped by unit; search by name,
    unit, title, keyword or number; where each call ends up now and the number to call."""
    svc = services(request)
    me = account(request)
    now = svc.now()
    st = await svc.effective(now)
    q = request.query.get("q", "")[:100].strip()
    unit = request.query.get("enhet", "")[:100].strip()
    users = service.search(st.directory.users, q)
    if unit:
        users = [u for u in users if u.unit.casefold() == unit.casefold()]
    users.sort(key=lambda u: (u.unit.casefold() or "\uffff", u.name.casefold()))
    pg = paging.page_of(len(users), paging.loose_page(request.query.get("sida")), PAGE_SIZE)
    page = pg.number
    rows = service.board(st, now, pg.of(users), svc.store.set_by)
    directory = svc.config.directory
    editable = {r.user.id for r in rows if may_redirect(me, r.user.id, directory)}
    groups = [
        {"unit": name or NO_UNIT, "rows": [_person(r, r.user.id in editable) for r in part]}
        for name, part in itertools.groupby(rows, key=lambda r: r.user.unit)
    ]
    others = board.others(st, now, q, unit) if page == 1 else []
    context = {
        "q": q,
        "unit": unit,
        "units": sorted({u.unit for u in st.directory.users if u.unit}, key=str.casefold),
        "total": len(users),
        "page": page,
        "pages": pg.pages,
        "pager": paging.pager(pg, lambda n: _link(q, unit, n)),
        "groups": groups,
        "any_editable": bool(editable),
        "fp": service.fingerprint(rows),
        "others": others,
        "script": Markup(BOARD_JS),
    }
    return render_page(request, "directory/board.html", context, title="Tavlan", current="/")
