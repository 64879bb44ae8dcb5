"""The administrator's page at a municipality's size (issue 20): 3,000 users searched and
paged 50 at a time, the page tens of kB, and a bulk change of every match in one step.

SQLite only (the `storage` fixture below): the same statements run on both engines in
test_admin_pages.py and test_admin_store.py.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from storekit import Storage, make_storage
from webkit import ROLE_USERS

from routing.models import Directory, User
from switchboard.config import Config
from switchboard.web import WebServices
from switchboard.web.auth import Role
from switchboard.web.core import STATE

Client = TestClient[web.Request, web.Application]
ADMIN = ROLE_USERS[Role.ADMIN]
UNITS = ("Kultur", "Skola", "Omsorg")
PEOPLE = 3000


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    """SQLite only here (see the module docstring)."""
    return make_storage("sqlite", tmp_path / "vm")


@pytest.fixture
def config(config: Config) -> Config:
    """The sample with 3,000 more people: Person 0000 … 2999 in three units, extensions
    026-84x xx and mobiles 073-xxx xx xx."""
    old = config.org.directory
    people = tuple(
        User(
            f"p{i:04d}",
            f"Person {i:04d}",
            f"+46268{4000 + i}",
            f"+4673{i:07d}",
            unit=UNITS[i % 3],
        )
        for i in range(PEOPLE)
    )
    directory = Directory.build(
        (*old.users, *people), old.groups, old.shared_phones, old.switchboard, old.plan
    )
    return replace(config, org=replace(config.org, directory=directory))


def bearer(client: Client, services: WebServices) -> dict[str, str]:
    """A signed token for the administrator."""
    token, _ = client.app[STATE].codec.issue(ADMIN, services.now())
    return {"Authorization": f"Bearer {token}"}


async def test_3000_users_are_paged_50_at_a_time_and_the_page_stays_small(
    client: Client, services: WebServices
) -> None:
    """Issue 20: "Visar 51–100 av 3 012", 50 rows, page links keeping the search, tens of kB."""
    total = len(services.config.directory.users)
    resp = await client.get("/admin?sida=2", headers=bearer(client, services))
    body = await resp.read()
    text = body.decode()
    assert resp.status == 200 and len(body) < 80_000
    assert f"Visar 51–100 av {total // 1000}\u00a0{total % 1000:03d}" in text
    assert text.count('form="flera" name="anvandare"') == 50
    resp = await client.get("/admin?q=Skola&sida=3", headers=bearer(client, services))
    text = await resp.text()
    assert "Visar 101–150 av 1\u00a0000 som matchar ”Skola”" in text
    assert 'href="/admin?q=Skola&amp;sida=4#anvandare"' in text
    assert 'href="/admin?q=Skola&amp;sida=20#anvandare"' in text  # the last page
    resp = await client.get("/admin?q=073-000 12 34", headers=bearer(client, services))
    table = (await resp.text()).split('id="switches"')[1].split("</table>")[0]
    names = re.findall(r'<td data-label="Namn">([^<]+)', table)
    assert names == ["Person 1234"]


async def test_every_match_changed_in_one_confirmed_step(
    client: Client, services: WebServices
) -> None:
    """A bulk change of all 1,000 of a unit: confirmed with the count, one audited change each."""
    form = {"installning": "voicemail", "varde": "1", "vilka": "alla", "q": "Kultur"}
    h = bearer(client, services)
    resp = await client.post("/admin/flera", data=form, headers=h, allow_redirects=False)
    assert "för 1\u00a0000 användare?" in await resp.text()
    resp = await client.post(
        "/admin/flera",
        data={**form, "antal": "1000", "confirm": "ja"},
        headers=h,
        allow_redirects=False,
    )
    assert resp.status == 303
    org = services.org()
    kultur = [u for u in org.directory.users if u.unit == "Kultur"]
    assert len(kultur) == 1000 and all(u.voicemail for u in kultur)
    total, _ = await services.store.switch_changes(1, 0)
    assert total == 1000
