"""The directory's endpoints: search, live presence events, a user's availability and the
manual redirect (API), the board and my availability (pages)."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from switchboard import phonebook
from switchboard.web.core import STAFF, Endpoint, account, require_self_or_admin, services, state
from switchboard.web.errors import UnknownUser
from switchboard.web.features.directory import pages, service
from switchboard.web.features.directory.schemas import DIRECTORY_QUERY, MANUAL_BODY
from switchboard.web.http import read_json


async def directory(request: web.Request) -> web.StreamResponse:
    """GET /api/directory?q=&unit=&title=&keyword=: public numbers and live availability."""
    svc = services(request)
    now = svc.now()
    q = {k: request.query.get(k, "")[:100] for k in ("q", "unit", "title", "keyword")}
    st = await svc.effective(now)
    users = service.search(st.directory.users, **q)
    rows = [r.as_json() for r in service.board(st, now, users)]
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
    me_ = require_self_or_admin(request, user_id)
    data = await read_json(request, svc.max_body)
    await service.set_manual_redirect(svc, user_id, me_.user_id, data)
    return web.json_response((await service.availability(svc, user_id, me_.user_id)).as_json())


async def delete_manual(request: web.Request) -> web.StreamResponse:
    """DELETE /api/users/{user_id}/manual-redirect."""
    svc = services(request)
    user_id = request.match_info["user_id"]
    me_ = require_self_or_admin(request, user_id)
    if svc.config.directory.user(user_id) is None:
        raise UnknownUser(user_id)
    await service.clear_manual_redirect(svc, user_id, me_.user_id)
    return web.json_response((await service.availability(svc, user_id, me_.user_id)).as_json())


async def presence_events(request: web.Request) -> web.StreamResponse:
    """GET /api/presence/events: server-sent events, one `presence` event per changed row.

    The subscription coalesces per user; a client that stops reading for `sse_write_timeout_s`
    is dropped rather than buffered for.
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
    try:
        await resp.prepare(request)
        await write(b"retry: 3000\n\n")
        while True:
            now = svc.now()
            st = await svc.effective(now)
            sent = False
            for row in service.board(st, now, st.directory.users):
                text = json.dumps(row.as_json(), ensure_ascii=False)
                uid = row.user.id
                if last.get(uid) != text:
                    last[uid] = text
                    await write(f"event: presence\ndata: {text}\n\n".encode())
                    sent = True
            if not sent:
                await write(b": keep-alive\n\n")
            try:
                await asyncio.wait_for(sub.get(), svc.sse_refresh_s)
            except TimeoutError:
                continue
            except StopAsyncIteration:
                break
            sub.pending()  # a burst of changes is one pass
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
            "Server-sent events: one `presence` event per changed directory row",
            produces="text/event-stream",
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
            "Set a manual redirect (oneself; administrators for anyone)",
            body=MANUAL_BODY,
        ),
        Endpoint(
            "DELETE",
            "/api/users/{user_id}/manual-redirect",
            delete_manual,
            STAFF,
            "Clear a manual redirect (oneself; administrators for anyone)",
        ),
    ]


def page_endpoints() -> list[Endpoint]:
    """The board and my availability."""
    return [
        Endpoint("GET", "/", pages.board_page, STAFF, "Availability board", "page"),
        Endpoint("GET", "/min-tillganglighet", pages.my_page, STAFF, "My availability", "page"),
        Endpoint("POST", "/min-tillganglighet", pages.my_set, STAFF, "Set my redirect", "page"),
        Endpoint(
            "POST", "/min-tillganglighet/rensa", pages.my_clear, STAFF, "Clear my redirect", "page"
        ),
    ]
