"""The directory's endpoints: search, live presence events, a user's availability and the
manual redirect (API), the board and my availability (pages)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from routing.effective import EffectiveState
from routing.models import User
from switchboard import phonebook
from switchboard.web.core import STAFF, Endpoint, account, services, state
from switchboard.web.errors import UnknownUser
from switchboard.web.features.directory import mine, pages, service
from switchboard.web.features.directory.access import require_may_redirect
from switchboard.web.features.directory.schemas import DIRECTORY_QUERY, MANUAL_BODY
from switchboard.web.http import read_json


async def directory(request: web.Request) -> web.StreamResponse:
    """GET /api/directory?q=&unit=&title=&keyword=: public numbers and live availability."""
    svc = services(request)
    now = svc.now()
    q = {k: request.query.get(k, "")[:100] for k in ("q", "unit", "title", "keyword")}
    st = await svc.effective(now)
    users = service.search(st.directory.users, **q)
    rows = [r.as_json() for r in service.board(st, now, users, svc.store.set_by)]
    others = phonebook.search(st.directory, **q)  # HAL-06: groups and shared phones too
    return web.json_response({"at": now.isoformat(), "users": rows, "non_personal": others})


async def availability(request: web.Request) -> web.StreamResponse:
    """GET /api/users/{user_id}/availability."""
    found = await service.availability(
        services(request), request.match_info["user_id"], account(request).user_id
    )
    return web.json_response(found.as_json())


async def put_manual(request: web.Request) -> web.StreamResponse:
    """PUT /api/users/{user_id}/manual-redirect {reason, until?, text?}."""
    svc = services(request)
    user_id = request.match_info["user_id"]
    me_ = require_may_redirect(request, user_id)
    data = await read_json(request, svc.max_body)
    await service.set_manual_redirect(svc, user_id, me_.user_id, data)
    return web.json_response((await service.availability(svc, user_id, me_.user_id)).as_json())


async def delete_manual(request: web.Request) -> web.StreamResponse:
    """DELETE /api/users/{user_id}/manual-redirect."""
    svc = services(request)
    user_id = request.match_info["user_id"]
    me_ = require_may_redirect(request, user_id)
    if svc.config.directory.user(user_id) is None:
        raise UnknownUser(user_id)
    await service.clear_manual_redirect(svc, user_id, me_.user_id)
    return web.json_response((await service.availability(svc, user_id, me_.user_id)).as_json())


MAX_WATCHED = 500  # ids a board page may ask for (it shows 50)


def _watched(request: web.Request, st: EffectiveState) -> list[User] | None:
    """The users of `?ids=a,b,c` (a board page's rows), None without it: everyone."""
    raw = request.query.get("ids")
    if raw is None:
        return None
    ids = [i for i in raw.split(",")[:MAX_WATCHED] if i]
    found = (st.directory.user(i[:100]) for i in dict.fromkeys(ids))
    return [u for u in found if u is not None]


async def presence_events(request: web.Request) -> web.StreamResponse:
    """GET /api/presence/events[?ids=&fp=]: server-sent events, one `presence` event per
    changed row, nothing for the rest (issue 20).

    Without `ids` every user is watched and the first pass sends every row. With `ids` (a board
    page's rows) only those are, and the first pass sends them only if they differ from `fp`
    (the page's `fingerprint`). After that a change notice for a user recomputes that user's
    row and the rows whose call passes through them (a covering point, a forward); every
    `sse_refresh_s` the watched rows are looked at again for what only time changes (a meeting
    starts, a redirect ends). A client that stops reading for `sse_write_timeout_s` is dropped
    rather than buffered for.
    """
    svc = services(request)
    hub = state(request).hub
    sub = hub.subscribe()
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )

    async def write(data: bytes) -> None:
        await asyncio.wait_for(resp.write(data), svc.sse_write_timeout_s)

    last: dict[str, str] = {}
    depends: dict[str, set[str]] = {}  # id → watched users whose row it can change
    try:
        await resp.prepare(request)
        await write(b"retry: 3000\n\n")
        now = svc.now()
        st = await svc.effective(now)
        chosen = _watched(request, st)
        users = {u.id: u for u in (st.directory.users if chosen is None else chosen)}
        rows = service.board(st, now, users.values(), svc.store.set_by)
        quiet = chosen is not None and request.query.get("fp") == service.fingerprint(rows)
        todo: set[str] | None = set()
        while True:
            sent = False
            for row in rows:
                text = service.row_text(row)
                uid = row.user.id
                for other in row.involves:
                    depends.setdefault(other, set()).add(uid)
                if last.get(uid) != text:
                    last[uid] = text
                    if not quiet:
                        await write(f"event: presence\ndata: {text}\n\n".encode())
                        sent = True
            quiet = False
            if not sent and todo is None:
                await write(b": keep-alive\n\n")
            try:
                first = await asyncio.wait_for(sub.get(), svc.sse_refresh_s)
                changed = {first, *sub.pending()}  # a burst of changes is one pass
                todo = set()
                for uid in changed:
                    todo.update(depends.get(uid, ()))
                    if uid in users:
                        todo.add(uid)
            except TimeoutError:
                todo = None  # time alone may have changed any watched row
            except StopAsyncIteration:
                break
            now = svc.now()
            st = await svc.effective(now)
            if chosen is None:  # everyone: a user added since is watched too
                users = {u.id: u for u in st.directory.users}
            current = {u.id: u for u in st.directory.users if u.id in users}
            pick = users.keys() if todo is None else todo
            rows = service.board(
                st, now, (current[i] for i in pick if i in current), svc.store.set_by
            )
    except (ConnectionResetError, TimeoutError):
        pass
    finally:
        sub.close()
    return resp


def api_endpoints() -> list[Endpoint]:
    """The directory's API."""
    return [
        Endpoint(
            "GET",
            "/api/directory",
            directory,
            STAFF,
            "Directory search: public number (extension) and live availability",
            query=DIRECTORY_QUERY,
        ),
        Endpoint(
            "GET",
            "/api/presence/events",
            presence_events,
            STAFF,
            "Server-sent events: one `presence` event per changed directory row (`ids`: only"
            " these users; `fp`: the page's fingerprint, nothing sent until a row differs)",
            produces="text/event-stream",
            query={"ids": "user ids, comma-separated (a board page's rows)", "fp": "fingerprint"},
        ),
        Endpoint(
            "GET",
            "/api/users/{user_id}/availability",
            availability,
            STAFF,
            "A user's availability",
        ),
        Endpoint(
            "PUT",
            "/api/users/{user_id}/manual-redirect",
            put_manual,
            STAFF,
            "Set a manual redirect (oneself; a manager for their staff; administrators for anyone)",
            body=MANUAL_BODY,
        ),
        Endpoint(
            "DELETE",
            "/api/users/{user_id}/manual-redirect",
            delete_manual,
            STAFF,
            "Clear a manual redirect (oneself; a manager for their staff; an administrator for"
            " anyone)",
        ),
    ]


def page_endpoints() -> list[Endpoint]:
    """The board and my availability."""
    return [
        Endpoint("GET", "/", pages.board_page, STAFF, "Availability board", "page"),
        Endpoint("GET", "/min-tillganglighet", mine.my_page, STAFF, "My availability", "page"),
        Endpoint("POST", "/min-tillganglighet", mine.my_set, STAFF, "Set my redirect", "page"),
        Endpoint(
            "POST", "/min-tillganglighet/rensa", mine.my_clear, STAFF, "Clear my redirect", "page"
        ),
    ]
