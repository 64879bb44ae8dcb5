"""The registrar's lists (issue 20, REC-02): classified records stay on the web, filtered by
outcome, the ones owners deleted and the disposed ones, by arrival date, in either order, paged
with the filters kept in the URL and the true count shown; names and national numbers; the
audit trail in words. Runs on both engines (the `services` fixture)."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

from aiohttp import web
from aiohttp.test_utils import TestClient
from webkit import OWNER, ROLE_USERS, put_message

from switchboard.web import WebServices
from switchboard.web.auth import Role
from switchboard.web.core import STATE
from voicemail.intake import SpoolIntake
from voicemail.models import Classification, PublicRecord, RecordStatus
from voicemail.service import Register

Client = TestClient[web.Request, web.Application]
REGISTRAR = ROLE_USERS[Role.REGISTRAR]  # Johanna Jansson
ROW = '<td data-label="Registreringsnummer">'


def sign_in(client: Client, services: WebServices, user: str = REGISTRAR) -> None:
    token, _ = client.app[STATE].codec.issue(user, services.now())
    client.session.cookie_jar.update_cookies({"sb_session": token})


def register_of(services: WebServices) -> Register:
    assert services.register is not None
    return services.register


async def take_in(services: WebServices, count: int, days_ago: int, mailbox: str = "83013") -> None:
    """`count` messages to `mailbox`, a minute apart, starting `days_ago` days back."""
    spool = services.spool
    assert spool is not None
    base = int((services.now() - timedelta(days=days_ago)).timestamp())
    for n in range(count):
        caller = f'"Uppringare {days_ago:02d}{n:03d}" <07012{days_ago:02d}{n:03d}>'
        put_message(spool, mailbox, 100 * days_ago + n, base + 60 * n, caller)
    await SpoolIntake(register_of(services), spool).run_once(services.now())


async def waiting(services: WebServices) -> list[PublicRecord]:
    return [i.record for i in await register_of(services).queue(services.now(), limit=None)]


async def page(client: Client, **params: str) -> tuple[int, str]:
    resp = await client.get("/registrator", params=params)
    return resp.status, await resp.text()


def summary(html: str) -> str:
    found = re.search(r'<p id="queue-summary"[^>]*>(.*?)</p>', html, re.S)
    assert found, html[:500]
    return unescape(found.group(1))


async def test_rec02_classified_records_stay_on_the_web_by_outcome_with_the_true_count(
    client: Client, services: WebServices
) -> None:
    """REC-02: 60 classified (55 of minor importance, 5 registered in cases): the classified
    list counts 60 and pages 50 at a time with the filter in the next link; each outcome the
    form offers filters; the queue no longer holds them."""
    reg = register_of(services)
    await take_in(services, 60, 5)
    now = services.now()
    for n, rec in enumerate((await waiting(services))[:60]):
        if n < 5:
            await reg.classify(
                rec.id, Classification.PUBLIC_REGISTERED, REGISTRAR, now, "Bygglov", f"KS 2026/{n}"
            )
        else:
            await reg.classify(rec.id, Classification.PUBLIC_MINOR, REGISTRAR, now, "Fråga")
    sign_in(client, services)
    status, html = await page(client)
    assert status == 200 and summary(html) == "2 meddelanden väntar på klassificering."
    status, html = await page(client, view="classified")
    assert status == 200 and summary(html) == "60 klassificerade meddelanden. Visar 1–50."
    assert html.count(ROW) == 50 and "Sida 1 av 2" in html
    nxt = re.search(r'<a href="([^"]+)" rel="next">', html)
    assert nxt and unescape(nxt.group(1)) == "/registrator?view=classified&page=2"
    second = await (await client.get(unescape(nxt.group(1)))).text()
    assert summary(second) == "60 klassificerade meddelanden. Visar 51–60."
    assert second.count(ROW) == 10
    status, html = await page(client, view="classified", outcome="public_registered")
    assert summary(html) == (
        "5 klassificerade meddelanden med utfallet ”allmän handling, diarieförd”."
    )
    assert "Allmän handling, diarieförd i ärende KS 2026/0" in html
    for cls in Classification:  # every outcome the classify form offers is a filter
        status, html = await page(client, view="classified", outcome=cls.value)
        assert status == 200, cls
        assert f'<option value="{cls.value}" selected>' in html
    api = await (await client.get("/api/registry/queue", params={"view": "classified"})).json()
    assert api["total"] == 60 and api["view"] == "classified" and len(api["queue"]) == 50


async def test_rec02_hidden_and_disposed_records_and_the_order(
    client: Client, services: WebServices
) -> None:
    """REC-04: a message the owner deleted is in "Raderade av ägaren" (still in the register);
    a disposed one in "Gallrade"; newest first on request, oldest (longest waiting) by default."""
    reg = register_of(services)
    now = services.now()
    first, second = await waiting(services)  # Anna's two messages, oldest first
    await reg.hide(first.id, OWNER, now)
    await reg.classify(second.id, Classification.NOT_PUBLIC_PRIVATE, REGISTRAR, now, "Privat")
    await reg.store.update_record(
        second.id,
        {"status": RecordStatus.DISPOSED, "disposed_at": now, "disposal_rule": "privat-30"},
        "system:disposal",
        "record.disposed",
        now,
    )
    sign_in(client, services)
    _, html = await page(client, view="hidden")
    assert summary(html) == "1 meddelande som ägaren har raderat."
    assert first.registration_number in html and second.registration_number not in html
    assert "Väntar på klassificering. Raderad av ägaren (finns kvar här)" in html
    _, html = await page(client, view="disposed")
    assert summary(html) == "1 gallrat meddelande."
    assert "Gallrad (ljudet är förstört) – var inte allmän handling (privat)" in html
    _, html = await page(client, view="all")
    order = [m for m in re.findall(r"ALV-RÖST-\d{4}-\d{6}", html)]
    assert order == [first.registration_number, second.registration_number]
    _, html = await page(client, view="all", sort="newest")
    order = [m for m in re.findall(r"ALV-RÖST-\d{4}-\d{6}", html)]
    assert order == [second.registration_number, first.registration_number]
    assert '<option value="newest" selected>' in html


async def test_rec02_date_range_search_by_owner_name_and_national_numbers(
    client: Client, services: WebServices
) -> None:
    """The arrival date range (local dates, both ends included); a search for the owner's name
    finds their mailbox; the caller in national format, the mailbox by its owner's name."""
    await take_in(services, 3, 10)  # 2026-11-14, Bertil Berg's mailbox
    sign_in(client, services)
    _, html = await page(client, **{"from": "2026-11-14", "to": "2026-11-14"})
    assert summary(html) == (
        "3 meddelanden väntar på klassificering, inkomna 2026-11-14–2026-11-14."
    )
    assert 'Uppringare 10000, <span class="nr">070-121 00 00</span>' in html
    assert "Bertil Berg" in html and "+46" not in html
    _, html = await page(client, **{"from": "2026-11-15"})
    assert (
        summary(html) == "2 meddelanden väntar på klassificering, inkomna från och med 2026-11-15."
    )
    number = (await waiting(services))[-1].registration_number
    _, html = await page(client, view="all", q=number.lower())
    assert summary(html) == f"1 träff för ”{number.lower()}” i registret."
    _, html = await page(client, view="classified", q=number)
    assert summary(html) == f"0 träffar för ”{number}” bland de klassificerade."
    _, html = await page(client, q="Bertil")
    assert summary(html) == "3 träffar för ”Bertil” i kön."
    _, html = await page(client, q="anna andersson")
    assert summary(html) == "2 träffar för ”anna andersson” i kön."
    api = await client.get("/api/registry/queue", params={"from": "2026-11-15", "to": "x"})
    body = await api.json()
    assert api.status == 422 and body["error_id"] == "invalid-field" and "to:" in body["message"]


async def test_a_refused_filter_keeps_what_was_typed_and_marks_the_field(
    client: Client, services: WebServices
) -> None:
    """A date that is no date, an end before the start, an outcome for the queue: 422, the
    Swedish reason at the field (aria-invalid, aria-describedby), the typed value kept, and
    the rest of the list still shown."""
    sign_in(client, services)
    status, html = await page(client, **{"from": "24/11", "q": "Örjan"})
    assert status == 422
    field = re.search(r'<input type="date" id="from"[^>]*>', html)
    assert field and 'value="24/11"' in field.group(0) and 'aria-invalid="true"' in field.group(0)
    assert 'aria-describedby="from-error"' in field.group(0)
    assert "Ange datumet som år-månad-dag, till exempel 2026-11-24." in html
    assert summary(html) == "1 träff för ”Örjan” i kön."
    status, html = await page(client, **{"from": "2026-11-20", "to": "2026-11-01"})
    assert status == 422 and "Slutdatumet ligger före startdatumet" in html
    status, html = await page(client, outcome="public_minor_importance")
    assert status == 422 and "Ett meddelande som väntar har inget utfall än" in html
    assert '<select id="outcome" name="outcome" aria-invalid="true"' in html
    resp = await client.get("/registrator", params={"page": "noll"})
    assert resp.status == 422 and "ange ett heltal" in await resp.text()


async def test_rec03_the_record_page_tells_its_trail_in_words(
    client: Client, services: WebServices
) -> None:
    """The caller in national format, the mailbox by its owner's name; the audit trail as
    sentences ("Klassificerad som allmän handling, diarieförd i ärende KS 2026/123 av Johanna
    Jansson 2026-11-24 10.15"); after saving, the next message in the queue is one link away."""
    reg = register_of(services)
    first, second = await waiting(services)
    sign_in(client, services)
    html = await (await client.get(f"/registrator/{first.id}")).text()
    assert 'Örjan Öst, <span class="nr">070-123 45 67</span>' in html
    assert "Anna Andersson" in html and "026-830 12" in html
    assert "+46" not in html and "anna.andersson" not in html
    await reg.classify(
        first.id,
        Classification.PUBLIC_REGISTERED,
        REGISTRAR,
        services.now(),
        "Bygglov Skolgatan 3",
        "KS 2026/123",
    )
    resp = await client.get(
        f"/registrator/{first.id}", params={"ok": "Klassificeringen är sparad."}
    )
    html = unescape(re.sub(r"<[^>]+>", "", await resp.text()))
    assert (
        "Klassificerad som allmän handling, diarieförd i ärende KS 2026/123 av Johanna Jansson"
        " 2026-11-24 10.15" in html
    )
    assert "Sammanfattning: Bygglov Skolgatan 3" in html
    assert f"Mottagen och registrerad som {first.registration_number} 2026-11-24 10.15" in html
    assert f"Nästa meddelande i kön: {second.registration_number}" in html
    await reg.classify(
        first.id, Classification.PUBLIC_MINOR, REGISTRAR, services.now(), "Bygglov Skolgatan 3"
    )
    html = unescape(
        re.sub(r"<[^>]+>", "", await (await client.get(f"/registrator/{first.id}")).text())
    )
    assert (
        "Omklassificerad från allmän handling, diarieförd i ärende KS 2026/123 till allmän"
        " handling av ringa betydelse av Johanna Jansson" in html
    )
    assert "Till listan: Klassificerade" in html
