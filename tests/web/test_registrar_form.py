"""The registrar's classify form (issue 20): a refusal is in Swedish, says what to do, keeps
what was typed and marks the field; the CLI names its flag."""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.test_utils import TestClient
from webkit import ROLE_USERS

from switchboard.web import WebServices
from switchboard.web.auth import Role
from switchboard.web.core import STATE

Client = TestClient[web.Request, web.Application]


async def test_rec01_a_refused_classification_keeps_the_summary_and_marks_the_case_field(
    client: Client, services: WebServices
) -> None:
    """REC-01/ALV-16: "diarieförs" without a case number: 422, the Swedish reason at the top
    and at the field (aria-invalid, aria-describedby), the typed summary still there."""
    registrar = ROLE_USERS[Role.REGISTRAR]
    token, sess = client.app[STATE].codec.issue(registrar, services.now())
    client.session.cookie_jar.update_cookies({"sb_session": token})
    csrf = client.app[STATE].codec.csrf(sess)
    register = services.register
    assert register is not None
    first = (await register.queue(services.now()))[0].record
    form = {
        "csrf": csrf,
        "classification": "public_registered",
        "summary": "Fråga om bygglov på Skolgatan 3",
        "case_reference": "",
    }
    resp = await client.post(f"/registrator/{first.id}", data=form, allow_redirects=False)
    page = await resp.text()
    assert resp.status == 422
    assert "Kunde inte klassificera: ange ärendets diarienummer" in page
    assert "--case" not in page and "public_registered" not in page.split("<form")[0]
    assert ">Fråga om bygglov på Skolgatan 3</textarea>" in page
    case = re.search(r'<input type="text" id="case_reference"[^>]*>', page)
    assert case is not None and 'aria-invalid="true"' in case.group(0)
    assert 'aria-describedby="case_reference-error"' in case.group(0)
    assert '<option value="public_registered" selected>' in page
    assert (await register.get(first.id)).classification is None
    form["case_reference"] = "BN 2026/17"
    resp = await client.post(f"/registrator/{first.id}", data=form, allow_redirects=False)
    assert resp.status == 303 and "ok=" in resp.headers["Location"]
    assert (await register.get(first.id)).case_reference == "BN 2026/17"


async def test_alv12_the_organisation_wide_switch_is_confirmed_first(
    client: Client, services: WebServices
) -> None:
    """ALV-12: "Stäng av för alla" first shows what it affects; only the confirmation applies."""
    admin = ROLE_USERS[Role.ADMIN]
    token, sess = client.app[STATE].codec.issue(admin, services.now())
    client.session.cookie_jar.update_cookies({"sb_session": token})
    csrf = client.app[STATE].codec.csrf(sess)
    form = {"csrf": csrf, "enabled": "0"}
    resp = await client.post("/admin/rostbrevlada", data=form, allow_redirects=False)
    page = await resp.text()
    assert resp.status == 200 and "Vill du stänga av röstbrevlådan för alla?" in page
    assert re.search(r"alla \d+ användare med anknytning", page)
    assert services.org().policy.voicemail_extension_users is True  # nothing changed yet
    resp = await client.post(
        "/admin/rostbrevlada", data={**form, "confirm": "ja"}, allow_redirects=False
    )
    assert resp.status == 303 and services.org().policy.voicemail_extension_users is False


async def test_rec02_the_queue_counts_all_that_wait_pages_and_searches(
    client: Client, services: WebServices
) -> None:
    """REC-02: with 130 messages waiting the page says 130 (not the page size), pages through
    them 50 at a time, and a search finds a caller by name or national number."""
    from datetime import timedelta

    from webkit import put_message

    from voicemail.intake import SpoolIntake

    register, spool = services.register, services.spool
    assert register is not None and spool is not None
    base = int((services.now() - timedelta(days=3)).timestamp())
    for n in range(128):
        put_message(spool, "83013", n, base + 60 * n, f'"Uppringare {n:03d}" <07012{n:05d}>')
    await SpoolIntake(register, spool).run_once(services.now())
    token, _ = client.app[STATE].codec.issue(ROLE_USERS[Role.REGISTRAR], services.now())
    client.session.cookie_jar.update_cookies({"sb_session": token})
    page = await (await client.get("/registrator")).text()
    assert "130 meddelanden väntar på klassificering. Visar 1–50." in page
    assert page.count('<td data-label="Registreringsnummer">') == 50
    assert 'rel="next"' in page and "Sida 1 av 3" in page
    last = await (await client.get("/registrator", params={"page": "3"})).text()
    assert "Visar 101–130." in last and 'rel="next"' not in last
    assert last.count('<td data-label="Registreringsnummer">') == 30
    assert "Bertil Berg" in last  # the mailbox by its owner's name
    found = await (await client.get("/registrator", params={"q": "uppringare 042"})).text()
    assert "1 träff för ”uppringare 042” i kön." in found and "Uppringare 042" in found
    api = await client.get("/api/registry/queue", params={"q": "0701200042", "per_page": "5"})
    body = await api.json()
    assert body["total"] == 1 and body["queue"][0]["caller_name"] == "Uppringare 042"
    everything = await (await client.get("/api/registry/queue")).json()
    assert everything["total"] == 130 and len(everything["queue"]) == 50
