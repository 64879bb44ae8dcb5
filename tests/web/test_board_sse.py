"""Issue 20: the board's event stream sends only what changed, per person — and the rows whose
calls pass through the person who changed (Anna's row when her covering point Bertil leaves).

SQLite only: the stream, not storage, is under test here.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient
from storekit import Storage, make_storage
from webkit import OWNER, ROLE_USERS

from routing.absence import AbsenceReason
from routing.presence import manual_redirect
from switchboard.web import WebServices
from switchboard.web.auth import Role
from switchboard.web.core import STATE
from switchboard.web.features.directory import service

Client = TestClient[web.Request, web.Application]
STAFF = ROLE_USERS[Role.STAFF]  # bertil.berg, Anna's covering point
OTHER = "frida.falk"  # neither Anna nor Bertil nor on their way


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    """SQLite files only (see the module docstring)."""
    return make_storage("sqlite", tmp_path / "vm")


def bearer(client: Client, user: str, services: WebServices) -> dict[str, str]:
    token, _ = client.app[STATE].codec.issue(user, services.now())
    return {"Authorization": f"Bearer {token}"}


async def events(resp: ClientResponse, wait: float, want: int = 0) -> list[dict[str, Any]]:
    """The `presence` events that arrive within `wait` seconds (or until `want` have)."""
    out: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + wait
    while (left := end - loop.time()) > 0:
        try:
            line = await asyncio.wait_for(resp.content.readline(), left)
        except TimeoutError:
            break
        if line.startswith(b"data: "):
            out.append(json.loads(line[6:]))
            if len(out) == want:
                break
    return out


async def away(services: WebServices, uid: str) -> None:
    now = services.now()
    rules = services.config.rules
    m = manual_redirect(uid, AbsenceReason.LUNCH, now + timedelta(hours=1), rules, now)
    await services.store.set_manual(m, uid, now)


async def fingerprint(services: WebServices, ids: tuple[str, ...]) -> str:
    """The fingerprint of a page showing exactly these rows, in this order."""
    now = services.now()
    st = await services.effective(now)
    users = [st.directory.user(uid) for uid in ids]
    rows = service.board(st, now, [u for u in users if u is not None], services.store.set_by)
    return service.fingerprint(rows)


async def test_a_page_stream_is_quiet_then_sends_only_the_changed_people(
    client: Client, services: WebServices
) -> None:
    """The page's rows as rendered (same fingerprint): nothing sent. Bertil leaves: his row and
    Anna's (her calls went to him), with the polite sentence; Frida's row is never sent."""
    h = bearer(client, STAFF, services)
    ids = (OWNER, STAFF, OTHER)
    url = f"/api/presence/events?ids={','.join(ids)}&fp="
    stale = await client.get(url + "0000", headers=h)  # a page out of date: its rows again
    assert {e["id"] for e in await events(stale, 10, 3)} == set(ids)
    stale.close()

    resp = await client.get(url + await fingerprint(services, ids), headers=h)
    assert resp.status == 200
    assert await events(resp, 1.5) == []  # the page is current: nothing to send
    await away(services, STAFF)
    by_id = {e["id"]: e for e in await events(resp, 3.0)}
    assert set(by_id) == {OWNER, STAFF}
    assert (
        by_id[STAFF]["announcement"] == "Bertil Berg är nu hänvisad till röstbrevlådan till 11.15."
    )
    assert "Bertil" not in (by_id[OWNER]["goes_to"] or "")
    resp.close()


async def test_the_stream_without_ids_sends_everyone_first(
    client: Client, services: WebServices
) -> None:
    """An API client (no `ids`) gets every row first, then only changes."""
    h = bearer(client, STAFF, services)
    resp = await client.get("/api/presence/events", headers=h)
    everyone = len(services.config.directory.users)
    got = await events(resp, 10, everyone)
    assert len({e["id"] for e in got}) == everyone
    await away(services, OTHER)
    got = await events(resp, 3.0)
    assert [e["id"] for e in got] == [OTHER]
    resp.close()
