"""HAL-06 / HAL-10 through the API: the phone book lists groups and shared phones too."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient
from webkit import PASSWORD, ROLE_USERS

from switchboard.web.auth import Role

Client = TestClient[web.Request, web.Application]


async def test_hal06_directory_search_returns_groups_and_shared_phones(client: Client) -> None:
    """HAL-06 / HAL-10: `/api/directory?q=hemtjänst` gives the shared phones, marked as such,
    with designation and number and never a name or personal identity number."""
    resp = await client.post(
        "/api/login", json={"user": ROLE_USERS[Role.STAFF], "password": PASSWORD}
    )
    assert resp.status == 200, await resp.text()
    h = {"Authorization": f"Bearer {(await resp.json())['token']}"}
    resp = await client.get("/api/directory", params={"q": "hemtjänst"}, headers=h)
    assert resp.status == 200
    body = await resp.json()
    found = {(e["id"], e["kind"], e["designation"]) for e in body["non_personal"]}
    assert found == {
        ("hemtjanst-nord", "shared_phone", "Hemtjänst Nord"),
        ("hemtjanst-syd", "shared_phone", "Hemtjänst Syd"),
    }
    assert all("name" not in e and "personal_id" not in e for e in body["non_personal"])
    resp = await client.get("/api/directory", params={"q": "bygglov"}, headers=h)
    body = await resp.json()
    assert [(e["id"], e["kind"]) for e in body["non_personal"]] == [("bygglov", "group")]
    assert "anna.andersson" in {u["id"] for u in body["users"]}  # people as before
