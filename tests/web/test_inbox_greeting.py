"""ALV-11 on the web: the owner uploads and chooses their greeting; the administrator sees who
still has the generated one. Over real HTTP (aiohttp test client), both engines."""

from __future__ import annotations

import io
import math
import struct

from aiohttp import web
from aiohttp.test_utils import TestClient
from webkit import OWNER, PASSWORD, ROLE_USERS

from switchboard.web.auth import Role

Client = TestClient[web.Request, web.Application]
ADMIN = ROLE_USERS[Role.ADMIN]


async def token(client: Client, user: str) -> dict[str, str]:
    """Bearer header for `user`."""
    resp = await client.post("/api/login", json={"user": user, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    client.session.cookie_jar.clear()
    return {"Authorization": f"Bearer {body['token']}"}


def tone_wav(seconds: float, rate: int = 22050) -> bytes:
    frames = int(seconds * rate)
    pcm = struct.pack(
        f"<{frames}h", *(int(9000 * math.sin(2 * math.pi * 330 * i / rate)) for i in range(frames))
    )
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return header + b"data" + struct.pack("<I", len(pcm)) + pcm


async def admin_view(client: Client) -> dict[str, dict[str, object]]:
    resp = await client.get("/api/admin/greetings", headers=await token(client, ADMIN))
    assert resp.status == 200, await resp.text()
    return {str(u["user_id"]): u for u in (await resp.json())["users"]}


async def test_alv11_owner_uploads_a_greeting_and_the_admin_sees_it(client: Client) -> None:
    """ALV-11: the generated greeting is the default; Anna uploads a recording (larger than
    the app's usual 1 MB body limit), it is her choice and she can listen to it; the
    administrator's list no longer counts her among those with the generated one."""
    before = await admin_view(client)
    assert before[OWNER]["generated"] is True and before[OWNER]["choice"] == "generated"
    h = await token(client, OWNER)
    mine = await (await client.get("/api/me/greeting", headers=h)).json()
    assert mine["choice"] == "generated" and "Anna Andersson" in mine["generated_text"]
    data = tone_wav(30)
    assert len(data) > 1024 * 1024
    resp = await client.put(
        "/api/me/greeting/recording",
        data=io.BytesIO(data),
        headers={**h, "Content-Type": "audio/wav"},
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["choice"] == "uploaded"
    audio = await client.get("/api/me/greeting/audio", headers=h)
    assert audio.status == 200 and (await audio.read())[:4] == b"RIFF"
    after = await admin_view(client)
    assert after[OWNER]["generated"] is False
    assert all(u["generated"] for uid, u in after.items() if uid != OWNER)
    back = await client.put("/api/me/greeting", json={"choice": "generated"}, headers=h)
    assert back.status == 200 and (await back.json())["choice"] == "generated"


async def test_alv11_a_file_that_is_no_greeting_is_refused(client: Client) -> None:
    """ALV-11: not a WAV file: 422 with a Swedish explanation of what to do; nothing changes."""
    h = await token(client, OWNER)
    resp = await client.put("/api/me/greeting/recording", data=b"not audio at all", headers=h)
    assert resp.status == 422
    assert "WAV" in (await resp.json())["message"]
    resp = await client.put("/api/me/greeting", json={"choice": "phone"}, headers=h)
    assert resp.status == 422
    mine = await (await client.get("/api/me/greeting", headers=h)).json()
    assert mine["choice"] == "generated"


async def test_alv11_only_administrators_see_everyones_greeting(client: Client) -> None:
    """ALV-11: the list of greetings is for administrators."""
    resp = await client.get("/api/admin/greetings", headers=await token(client, OWNER))
    assert resp.status == 403
