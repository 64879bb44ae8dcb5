"""Mina röstmeddelanden (issue 17): the owner's and delegates' web inbox, over real HTTP.

ALV-23 (owner listens on the web), ALV-14 (only owner, delegates, registrars; audited),
ALV-13 (marking heard counts), HAL-08 (the successor of a number never sees old messages).
"""

from __future__ import annotations

import re
from datetime import timedelta

from aiohttp import web
from aiohttp.test_utils import TestClient
from webkit import DELEGATE, OWNER, PASSWORD, ROLE_USERS

from switchboard.web import WebServices
from switchboard.web.auth import Role
from voicemail.models import NewRecord

Client = TestClient[web.Request, web.Application]
STAFF = ROLE_USERS[Role.STAFF]  # Bertil: neither Anna's delegate nor a registrar


async def token(client: Client, user: str) -> dict[str, str]:
    """Bearer header for `user`."""
    resp = await client.post("/api/login", json={"user": user, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    client.session.cookie_jar.clear()
    return {"Authorization": f"Bearer {body['token']}"}


async def inbox(client: Client, h: dict[str, str]) -> list[dict[str, object]]:
    resp = await client.get("/api/inbox", headers=h)
    assert resp.status == 200, await resp.text()
    messages: list[dict[str, object]] = (await resp.json())["messages"]
    return messages


async def test_alv23_owner_sees_plays_and_it_counts(client: Client, services: WebServices) -> None:
    """ALV-23/ALV-14: Anna sees her two messages (newest first, national number, caller name,
    duration, unheard, registration number and state), plays one through the audited path,
    and that playback counts as heard (ALV-13)."""
    h = await token(client, OWNER)
    messages = await inbox(client, h)
    assert [m["caller_name"] for m in messages] == ["Stina Svensson", "Örjan Öst"]
    first = messages[1]
    assert first["caller_number"] == "070-123 45 67"
    assert first["duration_s"] == 4 and first["heard"] is False and first["mine"] is True
    assert str(first["registration_number"]).startswith("ALV-RÖST-2026-")
    assert first["register_state"] == "Väntar på registratorn"
    assert first["phone_folder"] == "INBOX"  # ALV-23: still in her phone mailbox
    audio = await client.get(str(first["audio"]), headers=h)
    assert audio.status == 200 and (await audio.read())[:4] == b"RIFF"
    assert services.register is not None
    events = await services.register.store.events(int(str(first["id"])))
    assert [(e.actor, e.action) for e in events][-1] == (OWNER, "record.played")
    heard = {m["id"]: m["heard"] for m in await inbox(client, h)}
    assert heard[first["id"]] is True and heard[messages[0]["id"]] is False


async def test_alv14_delegate_sees_whose_mailbox_others_see_nothing(client: Client) -> None:
    """ALV-14: Helena (Anna's delegate) sees Anna's messages marked as Anna's; Bertil, staff
    but no delegate, sees none of them and may not play them."""
    helena = await inbox(client, await token(client, DELEGATE))
    annas = [m for m in helena if m["owner_id"] == OWNER]
    assert len(annas) == 2 and all(m["owner_name"] == "Anna Andersson" for m in annas)
    assert not any(m["mine"] for m in annas)
    bertil = await token(client, STAFF)
    assert [m for m in await inbox(client, bertil) if m["owner_id"] == OWNER] == []
    refused = await client.get(str(annas[0]["audio"]), headers=bertil)
    assert refused.status == 403


async def test_alv13_mark_heard_on_the_web_is_audited(
    client: Client, services: WebServices
) -> None:
    """ALV-13/ALV-23: the owner marks a message heard; it is audited and no longer overdue;
    someone else may not mark it."""
    assert services.register is not None
    h = await token(client, OWNER)
    target = (await inbox(client, h))[0]
    ref = target["id"]
    refused = await client.post(f"/api/inbox/{ref}/heard", headers=await token(client, STAFF))
    assert refused.status == 403
    resp = await client.post(f"/api/inbox/{ref}/heard", headers=h)
    assert resp.status == 200 and (await resp.json())["heard"] is True
    events = await services.register.store.events(int(str(ref)))
    assert events[-1].action == "record.marked_heard" and events[-1].actor == OWNER
    later = services.now() + timedelta(days=7)
    overdue = await services.register.overdue(later)
    assert all(int(str(ref)) not in {r.id for r in o.records} for o in overdue)


async def test_hal08_successor_never_sees_the_predecessors_message(
    client: Client, services: WebServices
) -> None:
    """HAL-08: a message left in mailbox 83012 while someone else held the number stays
    theirs: Anna (today's holder) neither sees nor plays it."""
    reg = services.register
    assert reg is not None
    now = services.now()
    old = NewRecord(
        intake_key="default/83012/predecessor-1",
        msg_id="predecessor-1",
        arrived_at=now - timedelta(days=400),
        context="default",
        mailbox="83012",
        owner_id="gustav.foregangare",
        caller_raw="<0701112233>",
        caller_number="+46701112233",
        caller_name=None,
        duration_s=3,
        sha256="0" * 64,
        audio_bytes=0,
        audio_format="wav",
        txt_sha256="1" * 64,
        spool_fields=(),
    )
    [rec] = await reg.store.add_records([(old, 2025)], reg.prefix, "test", now)
    h = await token(client, OWNER)
    assert rec.id not in [m["id"] for m in await inbox(client, h)]
    resp = await client.get(f"/api/registry/records/{rec.id}/audio", headers=h)
    assert resp.status == 403


async def test_alv23_page_lists_plays_and_marks_heard(client: Client) -> None:
    """ALV-23: the page "Mina röstmeddelanden" is in the staff menu, lists the messages with a
    player, and its form marks a message heard (CSRF-protected)."""
    login = await client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', await login.text())
    assert csrf
    data = {"csrf": csrf.group(1), "user": OWNER, "password": PASSWORD}
    assert (await client.post("/login", data=data, allow_redirects=False)).status == 303
    page = await client.get("/rostmeddelanden")
    html = await page.text()
    assert page.status == 200 and 'href="/rostmeddelanden"' in html
    assert "Mina röstmeddelanden" in html and "Örjan Öst" in html and "070-123 45 67" in html
    assert html.count("<audio") == 2 and "2 inte hörda" in html
    ref = re.search(r'action="/rostmeddelanden/(\d+)/hord"', html)
    form_csrf = re.search(r'name="csrf" value="([^"]+)"', html)
    assert ref and form_csrf
    refused = await client.post(f"/rostmeddelanden/{ref.group(1)}/hord", allow_redirects=False)
    assert refused.status == 403
    done = await client.post(
        f"/rostmeddelanden/{ref.group(1)}/hord",
        data={"csrf": form_csrf.group(1)},
        allow_redirects=False,
    )
    assert done.status == 303
    assert "1 inte hörda" in await (await client.get("/rostmeddelanden")).text()
