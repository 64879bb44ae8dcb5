"""One way to page a long list (issue 20): the shared `Page` at its edges, the pager the
template macro draws, and the lists paged with it at a municipality's size: the
administrator's greetings (3,000 users, searched), my voicemail messages (page 2) and the call
log's API (`page`, `per_page`, `total` beside `calls`).

SQLite only (the `storage` fixture below): the paging is the web layer's, over either engine's
rows (test_inbox.py and test_api.py run those on both).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from html import unescape
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from storekit import Storage, make_storage
from webkit import OWNER, PASSWORD, ROLE_USERS

from routing.models import Directory, User
from switchboard.config import Config
from switchboard.web import WebServices
from switchboard.web.auth import Role
from switchboard.web.core import STATE
from switchboard.web.errors import InvalidField
from switchboard.web.features.calls import pages as calls_pages
from switchboard.web.paging import (
    loose_page,
    page_of,
    page_param,
    pager,
    per_page_param,
    thousands,
)
from switchboard.web.templating import environment
from voicemail.models import NewRecord

Client = TestClient[web.Request, web.Application]
ADMIN = ROLE_USERS[Role.ADMIN]
IT = ROLE_USERS[Role.IT]
UNITS = ("Kultur", "Skola", "Omsorg")
PEOPLE = 3000
MESSAGES = 120


# ---------------------------------------------------------------- the shared type


def test_a_page_in_the_middle_counts_from_one() -> None:
    pg = page_of(3000, 2)
    assert (pg.number, pg.pages, pg.total, pg.first, pg.last, pg.per_page) == (
        2,
        60,
        3000,
        51,
        100,
        50,
    )
    assert pg.shown == "Visar 51–100 av 3\u00a0000" and not pg.beyond
    assert pg.of(list(range(3000))) == list(range(50, 100))


def test_page_zero_and_below_are_the_first_page() -> None:
    for asked in (0, -5):
        pg = page_of(120, asked)
        assert (pg.number, pg.first, pg.last) == (1, 1, 50) and not pg.beyond


def test_past_the_end_is_the_last_page_and_says_what_was_asked() -> None:
    pg = page_of(120, 9)
    assert (pg.number, pg.pages, pg.first, pg.last, pg.asked) == (3, 3, 101, 120, 9)
    assert pg.beyond and pg.of(list(range(120))) == list(range(100, 120))
    exact = page_of(100, 2)  # the last page exactly full
    assert (exact.pages, exact.first, exact.last) == (2, 51, 100) and not exact.beyond


def test_an_empty_list_is_one_empty_page() -> None:
    pg = page_of(0, 1)
    assert (pg.number, pg.pages, pg.total, pg.first, pg.last) == (1, 1, 0, 0, 0)
    assert pg.of([]) == [] and pg.window == [1] and not pg.beyond
    assert page_of(0, 4).beyond  # there is no page 4 of nothing


def test_the_window_links_both_ends_and_two_around_with_gaps() -> None:
    assert page_of(3000, 1).window == [1, 2, 3, None, 60]
    assert page_of(3000, 30).window == [1, None, 28, 29, 30, 31, 32, None, 60]
    assert page_of(3000, 60).window == [1, None, 58, 59, 60]
    assert page_of(250, 3).window == [1, 2, 3, 4, 5]


def test_the_pager_keeps_the_filter_in_every_link() -> None:
    nav = pager(page_of(3000, 2), lambda n: f"/lista?q=Skola&sida={n}")
    assert nav.previous == "/lista?q=Skola&sida=1" and nav.next == "/lista?q=Skola&sida=3"
    assert [(p.n, p.current) for p in nav.links][:3] == [(1, False), (2, True), (3, False)]
    assert all("q=Skola" in p.href for p in nav.links if p.n)
    last = pager(page_of(3000, 60), lambda n: str(n))
    assert last.next == "" and last.previous == "59"
    first = pager(page_of(10, 1), lambda n: str(n))
    assert first.previous == "" and first.next == ""


def test_a_page_number_from_the_address() -> None:
    assert page_param({}) == 1 and page_param({"page": ""}) == 1 and page_param({"page": "7"}) == 7
    for junk in ("noll", "0", "-1", "1.5", "²", " 2", "9" * 40, "10001"):
        with pytest.raises(InvalidField) as err:
            page_param({"page": junk}, "page", 10_000)
        assert err.value.field == "page" and err.value.problem.startswith("ange ett sidnummer")
    with pytest.raises(InvalidField) as err:
        page_param({"p": "x"}, "p", 10, "ange ett heltal mellan 1 och 10")
    assert err.value.problem == "ange ett heltal mellan 1 och 10"
    assert (
        per_page_param({}, 100, 1000) == 100 and per_page_param({"per_page": "5"}, 100, 1000) == 5
    )
    for junk in ("0", "1001", "tio"):
        with pytest.raises(InvalidField, match="ange ett heltal mellan 1 och 1000"):
            per_page_param({"per_page": junk}, 100, 1000)
    # where nonsense is the first page (the board, the administrator's lists)
    assert [loose_page(r) for r in (None, "", "x", "0", "-3", " 4 ", "9" * 40)] == [
        1,
        1,
        1,
        1,
        1,
        4,
        1,
    ]
    assert thousands(3000) == "3\u00a0000" and thousands(999) == "999"


def test_the_macro_draws_the_pager_and_nothing_for_one_page() -> None:
    env = environment()
    macro = env.get_template("_macros.html").module.pager  # type: ignore[attr-defined]
    one = str(macro(pager(page_of(10, 1), lambda n: f"/x?sida={n}"), "Sidor"))
    assert one.strip() == ""
    html = str(macro(pager(page_of(3000, 2), lambda n: f"/x?q=a&sida={n}"), "Sidor med x"))
    assert '<nav aria-label="Sidor med x" class="pager">' in html
    assert '<a href="/x?q=a&amp;sida=1" rel="prev">Föregående sida</a>' in html
    assert '<a href="/x?q=a&amp;sida=3" rel="next">Nästa sida</a>' in html
    assert 'aria-current="page" aria-label="Sida 2">2</a>' in html
    assert 'aria-label="Sida 60">60</a>' in html and '<span aria-hidden="true">…</span>' in html
    assert "Sida 2 av 60" in html


# ---------------------------------------------------------------- the lists at size


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    """SQLite only here (see the module docstring)."""
    return make_storage("sqlite", tmp_path / "vm")


@pytest.fixture
def config(config: Config) -> Config:
    """The sample with 3,000 more people with a mailbox (mobile only, so no switch for
    extension users decides): Person 0000 … 2999 in three units."""
    old = config.org.directory
    people = tuple(
        User(
            f"p{i:04d}",
            f"Person {i:04d}",
            None,
            f"+4673{i:07d}",
            unit=UNITS[i % 3],
            voicemail=True,
        )
        for i in range(PEOPLE)
    )
    directory = Directory.build(
        (*old.users, *people), old.groups, old.shared_phones, old.switchboard, old.plan
    )
    return replace(config, org=replace(config.org, directory=directory))


def bearer(client: Client, services: WebServices, user: str) -> dict[str, str]:
    """A signed token for `user`."""
    token, _ = client.app[STATE].codec.issue(user, services.now())
    return {"Authorization": f"Bearer {token}"}


def table_names(html: str, table: str) -> list[str]:
    body = html.split(f'<table id="{table}"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<td data-label="Namn">([^<]+)</td>', body)


async def test_greetings_are_searched_and_paged_50_at_a_time(
    client: Client, services: WebServices
) -> None:
    """Issue 20: /admin/halsningsfraser shows 50 of the 3,000 at a time with the count, page 2
    holds the next 50 by name, a search by unit narrows the list and its links keep it, a
    search by id finds the one person."""
    h = bearer(client, services, ADMIN)
    first = await client.get("/admin/halsningsfraser", headers=h)
    html = await first.text()
    assert first.status == 200 and len(html) < 60_000
    assert len(table_names(html, "greetings")) == 50
    assert re.search(r"Visar 1–50 av 3\u00a00\d\d\.", html)  # the 3,000 and the sample's
    assert 'href="/admin/halsningsfraser?sida=2"' in html
    assert "har fortfarande den automatiska hälsningen" in html
    second = await (await client.get("/admin/halsningsfraser?sida=2", headers=h)).text()
    names = table_names(second, "greetings")
    assert len(names) == 50 and "Visar 51–100 av" in second
    assert not set(names) & set(table_names(html, "greetings"))
    assert names == sorted(names, key=str.casefold)
    skola = await (await client.get("/admin/halsningsfraser?q=Skola&sida=2", headers=h)).text()
    assert "Visar 51–100 av 1\u00a0000 som matchar ”Skola”" in skola
    assert table_names(skola, "greetings")[0] == "Person 0151"  # 1, 4, 7 … are in Skola
    assert 'href="/admin/halsningsfraser?q=Skola&amp;sida=3"' in skola
    assert 'href="/admin/halsningsfraser?q=Skola&amp;sida=20"' in skola  # the last page
    assert 'href="/admin/halsningsfraser?q=Skola"' in skola  # page 1: no sida
    one = await (
        await client.get("/admin/halsningsfraser", params={"q": "p2999"}, headers=h)
    ).text()
    assert table_names(one, "greetings") == ["Person 2999"] and "Visar 1–1 av 1 som" in one
    none = await (await client.get("/admin/halsningsfraser?q=zzzz", headers=h)).text()
    assert "Ingen med röstbrevlåda matchar ”zzzz”" in none and 'id="greetings"' not in none
    past = await (await client.get("/admin/halsningsfraser?q=Skola&sida=99", headers=h)).text()
    assert "Visar 951–1\u00a0000 av 1\u00a0000" in past  # past the end: the last page


def record(n: int, arrived: datetime) -> NewRecord:
    """Message `n` in Anna's mailbox (83012)."""
    return NewRecord(
        intake_key=f"default/83012/paging-{n}",
        msg_id=f"paging-{n}",
        arrived_at=arrived,
        context="default",
        mailbox="83012",
        owner_id=OWNER,
        caller_raw=f"<07011{n:05d}>",
        caller_number=f"+467011{n:05d}",
        caller_name=f"Uppringare {n:03d}",
        duration_s=3,
        sha256="0" * 64,
        audio_bytes=0,
        audio_format="wav",
        txt_sha256="1" * 64,
        spool_fields=(),
    )


async def test_my_messages_come_50_at_a_time_newest_first(
    client: Client, services: WebServices
) -> None:
    """Issue 20: with 122 messages, /rostmeddelanden shows the newest 50 with the count of all,
    page 2 the next 50 (newest first), the greeting form on every page; marking one heard on
    page 2 comes back to page 2."""
    reg = services.register
    assert reg is not None
    now = services.now()
    long_ago = now - timedelta(days=30)  # older than the sample's two, which come first
    batch = [(record(n, long_ago - timedelta(hours=n)), 2026) for n in range(MESSAGES)]
    await reg.store.add_records(batch, reg.prefix, "test", now)
    h = bearer(client, services, OWNER)
    first = await (await client.get("/rostmeddelanden", headers=h)).text()
    total = MESSAGES + 2  # the sample's two
    assert f"{total} meddelanden" in first and f"Visar 1–50 av {total}" in first
    assert first.count('<tr id="msg-') == 50
    assert first.index("Uppringare 000") < first.index("Uppringare 001")  # newest first
    assert 'href="/rostmeddelanden?sida=2"' in first and 'id="halsning"' in first
    resp = await client.get("/rostmeddelanden?sida=2", headers=h)
    second = await resp.text()
    assert resp.status == 200 and second.count('<tr id="msg-') == 50
    assert f"Visar 51–100 av {total}" in second  # the 51st is my 49th: "Uppringare 048"
    assert "Uppringare 048" in second and "Uppringare 097" in second
    assert "Uppringare 047" not in second and "Uppringare 098" not in second
    assert 'id="halsning"' in second  # the greeting form is on every page
    assert 'name="sida" value="2"' in second
    third = await (await client.get("/rostmeddelanden?sida=3", headers=h)).text()
    assert third.count('<tr id="msg-') == total - 100 and 'rel="next"' not in third
    ref = re.search(r'action="/rostmeddelanden/(\d+)/hord"', second)
    login = await client.get("/login")  # a form needs the signed-in session, not a bearer
    csrf = re.search(r'name="csrf" value="([^"]+)"', await login.text())
    assert csrf and ref
    data = {"csrf": csrf.group(1), "user": OWNER, "password": PASSWORD}
    assert (await client.post("/login", data=data, allow_redirects=False)).status == 303
    page2 = await (await client.get("/rostmeddelanden?sida=2")).text()
    form_csrf = re.search(r'name="csrf" value="([^"]+)"', page2)
    assert form_csrf
    done = await client.post(
        f"/rostmeddelanden/{ref.group(1)}/hord",
        data={"csrf": form_csrf.group(1), "sida": "2"},
        allow_redirects=False,
    )
    assert done.status == 303
    assert unescape(done.headers["Location"]).startswith("/rostmeddelanden?sida=2&ok=")


async def test_the_call_api_pages_and_keeps_its_fields(
    client: Client, services: WebServices
) -> None:
    """Issue 20: GET /api/calls answers `calls` as before plus `total`, `page`, `per_page`
    (100 by default); `page=`/`per_page=` page the filter's calls, `limit=` still caps them,
    a page past the end is empty, junk is refused in Swedish; the CSV is not paged."""
    h = bearer(client, services, IT)

    async def get(**params: str) -> dict[str, object]:
        resp = await client.get("/api/calls", params=params, headers=h)
        assert resp.status == 200, await resp.text()
        body: dict[str, object] = await resp.json()
        return body

    def ids(body: dict[str, object]) -> list[str]:
        calls = body["calls"]
        assert isinstance(calls, list)
        return [str(c["call_id"]) for c in calls]

    every = await get()
    assert ids(every) == ["1764000000.3", "1764000000.2", "1764000000.1"]
    assert (every["total"], every["page"], every["per_page"]) == (3, 1, 100)
    assert ids(await get(per_page="2")) == ["1764000000.3", "1764000000.2"]
    second = await get(per_page="2", page="2")
    assert ids(second) == ["1764000000.1"] and (second["total"], second["page"]) == (3, 2)
    capped = await get(limit="2", per_page="1", page="2")
    assert ids(capped) == ["1764000000.2"] and capped["total"] == 2
    filtered = await get(since="2026-11-24T09:15", per_page="1", page="2")
    assert ids(filtered) == ["1764000000.2"] and filtered["total"] == 2
    past = await get(per_page="2", page="9")
    assert ids(past) == [] and (past["total"], past["page"]) == (3, 9)
    for params in ({"page": "noll"}, {"page": "0"}, {"per_page": "1001"}, {"per_page": "0"}):
        resp = await client.get("/api/calls", params=params, headers=h)
        assert resp.status == 422, params
        assert "ange ett" in await resp.text()
    csv = await (await client.get("/api/calls.csv", params={"per_page": "1"}, headers=h)).text()
    assert csv.count("\r\n") == 4  # the header and every call
    doc = await (await client.get("/api/openapi.json")).json()
    names = {p["name"] for p in doc["paths"]["/api/calls"]["get"].get("parameters", [])}
    assert {"page", "per_page", "limit", "since"} <= names


async def test_the_it_log_past_its_last_page_says_so_and_links_back(
    client: Client, services: WebServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The IT log (two calls a page here) asked for page 9 of 2: "Sidan 9 finns inte", no rows,
    and the pager links the pages there are (keeping the filter), not page 8."""
    monkeypatch.setattr(calls_pages, "PAGE_SIZE", 2)
    h = bearer(client, services, IT)
    resp = await client.get("/it?number=&until=2026-11-25T00%3A00&page=9", headers=h)
    html = await resp.text()
    assert resp.status == 200 and "Sidan 9 finns inte – urvalet har 2 sidor." in html
    assert "Flagga som hot" not in html and "visar" not in html.split("calls-summary", 1)[1][:300]
    assert 'href="/it?until=2026-11-25T00%3A00&amp;page=1" rel="prev"' in html
    assert "page=8" not in html and "Sida 2 av 2" in html
