"""The API through aiohttp's test client: login, directory, redirects, registrar, admin, IT."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web
from aiohttp.test_utils import TestClient
from webkit import DELEGATE, OWNER, PASSWORD, ROLE_USERS, START, FakeClock, put_message

from switchboard.web import WebServices
from switchboard.web.auth import Role

Client = TestClient[web.Request, web.Application]


async def token(client: Client, user: str) -> dict[str, str]:
    """Log in through the API and return the bearer header."""
    resp = await client.post("/api/login", json={"user": user, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    client.session.cookie_jar.clear()
    return {"Authorization": f"Bearer {body['token']}"}


async def test_directory_search_gives_public_number_state_and_message_never_pin(
    client: Client,
) -> None:
    """ALV-03/ALV-09/HAL-06/HAL-10: extension, live state and caller message; no personal id."""
    h = await token(client, ROLE_USERS[Role.STAFF])
    resp = await client.get("/api/directory", params={"q": "bygglov"}, headers=h)
    body = await resp.json()
    ids = [u["id"] for u in body["users"]]
    assert "anna.andersson" in ids
    anna = next(u for u in body["users"] if u["id"] == "anna.andersson")
    assert anna["public_number"] == "+462683012"
    # 10.15 on Tuesday 24 November: Anna's calendar has her in a meeting until 11.30 (ALV-09)
    assert (anna["state"], anna["reason"], anna["source"], anna["until"]) == (
        "redirected",
        "meeting",
        "calendar",
        "2026-11-24T11:30:00+01:00",
    )
    assert anna["message"] == "Anna Andersson är på möte, åter klockan 11.30."
    text = await resp.text()
    assert "19700110" not in text and "personal_id" not in text and "4821" not in text
    resp = await client.get("/api/directory", params={"unit": "samhällsbyggnad"}, headers=h)
    assert {u["unit"] for u in (await resp.json())["users"]} == {"Samhällsbyggnad"}


async def test_manual_redirect_wins_over_calendar_and_expires(
    client: Client, clock: FakeClock
) -> None:
    """HV-03: a manual redirect is what callers hear until its end time, then the calendar again."""
    h = await token(client, ROLE_USERS[Role.STAFF])
    uid = ROLE_USERS[Role.STAFF]
    until = (clock.now() + timedelta(hours=1)).isoformat()
    resp = await client.put(
        f"/api/users/{uid}/manual-redirect", json={"reason": "vacation", "until": until}, headers=h
    )
    body = await resp.json()
    assert resp.status == 200, body
    assert body["state"] == "redirected" and body["source"] == "manual"
    assert "semester" in body["message"]
    clock.advance(timedelta(hours=2))
    body = await (await client.get(f"/api/users/{uid}/availability", headers=h)).json()
    assert body["manual"] is None and body["source"] != "manual"


async def test_manual_redirect_for_someone_else_needs_admin(client: Client) -> None:
    """Staff may not redirect a colleague; an administrator may, and may clear it."""
    staff = await token(client, ROLE_USERS[Role.STAFF])
    admin = await token(client, ROLE_USERS[Role.ADMIN])
    resp = await client.put(
        f"/api/users/{OWNER}/manual-redirect", json={"reason": "lunch"}, headers=staff
    )
    assert resp.status == 403 and (await resp.json())["error_id"] == "forbidden"
    resp = await client.put(
        f"/api/users/{OWNER}/manual-redirect",
        json={"reason": "lunch", "until": "further-notice"},
        headers=admin,
    )
    assert resp.status == 200 and (await resp.json())["manual"]["set_by"] == ROLE_USERS[Role.ADMIN]
    resp = await client.delete(f"/api/users/{OWNER}/manual-redirect", headers=admin)
    assert (await resp.json())["manual"] is None


async def test_registrar_queue_play_classify_and_audit(client: Client) -> None:
    """The registrar works a record: waiting time, audio streamed and audited, classified."""
    h = await token(client, ROLE_USERS[Role.REGISTRAR])
    queue = (await (await client.get("/api/registry/queue", headers=h)).json())["queue"]
    assert len(queue) == 2 and queue[0]["waiting_s"] >= queue[1]["waiting_s"] > 0
    rid = queue[0]["id"]
    audio = await client.get(f"/api/registry/records/{rid}/audio", headers=h)
    assert audio.status == 200 and (await audio.read())[:4] == b"RIFF"
    resp = await client.post(
        f"/api/registry/records/{rid}/classification",
        json={"classification": "public_minor_importance", "summary": "Fråga om bygglov"},
        headers=h,
    )
    assert resp.status == 200, await resp.text()
    events = (await (await client.get(f"/api/registry/records/{rid}/audit", headers=h)).json())[
        "events"
    ]
    actions = [e["action"] for e in events]
    assert "record.played" in actions and actions[-1] == "record.classified"
    export = await client.get("/api/registry/export", params={"format": "csv"}, headers=h)
    assert export.status == 200 and "Fråga om bygglov" in await export.text()


async def test_audio_only_for_owner_delegates_and_registrars(client: Client) -> None:
    """ALV-14: owner and delegate may listen; anyone else gets 403 and the refusal is audited."""
    reg = await token(client, ROLE_USERS[Role.REGISTRAR])
    rid = (await (await client.get("/api/registry/queue", headers=reg)).json())["queue"][0]["id"]
    for user, status in (
        (OWNER, 200),
        (DELEGATE, 200),
        (ROLE_USERS[Role.STAFF], 403),
        (ROLE_USERS[Role.ADMIN], 403),
    ):
        resp = await client.get(
            f"/api/registry/records/{rid}/audio", headers=await token(client, user)
        )
        assert resp.status == status, user
    events = (await (await client.get(f"/api/registry/records/{rid}/audit", headers=reg)).json())[
        "events"
    ]
    assert [e["action"] for e in events].count("record.play_refused") == 2


async def test_admin_switches_persist_and_apply(client: Client, services: WebServices) -> None:
    """ALV-12 global voicemail switch and per-user switches are stored and change routing."""
    h = await token(client, ROLE_USERS[Role.ADMIN])
    resp = await client.put("/api/admin/voicemail", json={"enabled": False}, headers=h)
    assert (await resp.json())["voicemail_extension_users"] is False
    resp = await client.put(
        f"/api/admin/users/{OWNER}/switches",
        json={"international_unlocked": True, "mobile_follows_calendar": True},
        headers=h,
    )
    anna = next(u for u in (await resp.json())["users"] if u["id"] == OWNER)
    assert anna["international_unlocked"] and anna["mobile_follows_calendar"]
    org = services.org()
    assert org.policy.voicemail_extension_users is False
    user = org.directory.user(OWNER)
    assert user is not None and user.international_unlocked


async def calls_for(client: Client, h: dict[str, str], **params: str) -> list[str]:
    """The call ids /api/calls answers for these filters, in its order."""
    resp = await client.get("/api/calls", params=params, headers=h)
    assert resp.status == 200, await resp.text()
    return [c["call_id"] for c in (await resp.json())["calls"]]


async def test_it_call_log_filters_compare_instants(client: Client) -> None:
    """ALV-18: [since, until) compares instants; a time without offset is Stockholm time."""
    h = await token(client, ROLE_USERS[Role.IT])
    assert await calls_for(client, h) == ["1764000000.3", "1764000000.2", "1764000000.1"]
    # 09.15 in Stockholm is 08.15 UTC: the calls at 09.30 and 10.00 local time
    assert await calls_for(client, h, since="2026-11-24T09:15") == ["1764000000.3", "1764000000.2"]
    assert await calls_for(client, h, since="2026-11-24T08:15Z") == ["1764000000.3", "1764000000.2"]
    assert await calls_for(client, h, since="2026-11-24T08:45+00:00") == ["1764000000.3"]
    # until is exclusive: the call that started at exactly 09.30 local is not before it
    assert await calls_for(client, h, until="2026-11-24T09:30") == ["1764000000.1"]
    assert await calls_for(client, h, until="2026-11-24T08:30:00.001+00:00", limit="1") == [
        "1764000000.2"
    ]


async def test_it_call_log_number_matches_every_written_form(client: Client) -> None:
    """ALV-18: a number matches however it was typed or logged (national, E.164, extension)."""
    h = await token(client, ROLE_USERS[Role.IT])
    for typed in ("070-123 45 67", "+46 70 123 45 67", "0046701234567", "83012", "026-830 12"):
        assert await calls_for(client, h, number=typed) == ["1764000000.1"], typed
    assert await calls_for(client, h, number="0731112233") == ["1764000000.2"]
    assert await calls_for(client, h, number="026-830 15") == ["1764000000.3"]
    assert await calls_for(client, h, number="0709999999") == []
    call = (await (await client.get("/api/calls", params={"number": "83013"}, headers=h)).json())[
        "calls"
    ][0]
    assert call["start"] == "2026-11-24T08:30:00.000+00:00" and call["caller"] == "+46731112233"
    assert {"call_id", "start", "answer", "end", "duration_s", "outcome", "action"} <= set(call)


async def test_it_call_log_csv_export(client: Client) -> None:
    """ALV-18: the same query as CSV, one header row and one CRLF line per call."""
    h = await token(client, ROLE_USERS[Role.IT])
    resp = await client.get("/api/calls.csv", headers=h)
    text = await resp.text()
    assert resp.status == 200 and resp.content_type == "text/csv"
    assert text.startswith("call_id,start,answer,end,duration_s") and text.count("\r\n") == 4
    text = await (
        await client.get("/api/calls.csv", params={"since": "2026-11-24T09:15"}, headers=h)
    ).text()
    lines = text.splitlines()
    assert len(lines) == 3 and lines[1].startswith("1764000000.3,2026-11-24T09:00:00.000+00:00")


async def test_threat_incident_carries_the_call_and_only_it_sees_it(
    client: Client, services: WebServices
) -> None:
    """ALV-20: a flagged call becomes an incident with the call's details; only IT sees it."""
    assert services.call_log is not None
    logged = await services.call_log.get("1764000000.2")
    assert logged is not None
    it = await token(client, ROLE_USERS[Role.IT])
    resp = await client.post(
        "/api/calls/1764000000.2/threat", json={"note": "Hotade handläggaren"}, headers=it
    )
    body = await resp.json()
    assert resp.status == 201, body
    assert body["reference"] == "ALV-HOT-2026-0001" and body["call_id"] == "1764000000.2"
    assert body["reported_by"] == ROLE_USERS[Role.IT]
    assert body["call"] == logged.as_json()
    assert body["call"]["caller"] == "+46731112233" and body["call"]["called"] == "83013"
    assert body["call"]["start"] == "2026-11-24T08:30:00.000+00:00"
    for role, user in ROLE_USERS.items():
        if role is Role.IT:
            continue
        h = await token(client, user)
        resp = await client.get("/api/incidents", headers=h)
        assert resp.status == 403 and (await resp.json())["error_id"] == "forbidden", role
        resp = await client.post("/api/calls/1764000000.1/threat", json={"note": "x"}, headers=h)
        assert resp.status == 403, role
        assert (await client.get("/it", headers=h, allow_redirects=False)).status == 403, role
    incidents = (await (await client.get("/api/incidents", headers=it)).json())["incidents"]
    assert [i["reference"] for i in incidents] == ["ALV-HOT-2026-0001"]
    assert incidents[0]["note"] == "Hotade handläggaren" and incidents[0]["call"] == body["call"]
    # one incident store: the call log's
    stored = await services.call_log.incidents()
    assert [(i.reference, i.call_id) for i in stored] == [("ALV-HOT-2026-0001", "1764000000.2")]
    page = await (await client.get("/it", headers=it)).text()
    assert "ALV-HOT-2026-0001" in page and "Hotade handläggaren" in page
    assert "2026-11-24 09.30.00" in page  # the call's start in Stockholm time


async def test_healthz_metrics_and_openapi_matches_routes(client: Client) -> None:
    """/healthz and /metrics answer without login; the OpenAPI document lists exactly the API routes."""
    assert (await client.get("/healthz")).status == 200
    metrics = await (await client.get("/metrics")).text()
    assert 'switchboard_calls_total{outcome="completed"} 2' in metrics
    assert 'switchboard_calls_total{outcome="caller_hung_up"} 1' in metrics
    assert 'switchboard_spool_waiting_messages{context="default"} 0' in metrics
    assert "switchboard_register_backlog 2" in metrics
    assert "switchboard_register_oldest_unclassified_seconds" in metrics
    assert "switchboard_calendar_sync_lag_seconds" in metrics
    doc = await (await client.get("/api/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    routed = {
        (r.method, r.resource.canonical)
        for r in client.app.router.routes()
        if r.resource is not None
        and r.method != "HEAD"
        and r.resource.canonical.startswith(("/api/", "/healthz", "/metrics"))
    }
    assert documented == routed


async def test_metrics_report_the_spool_backlog(client: Client, services: WebServices) -> None:
    """/metrics counts the msgNNNN.txt files still waiting in the organisation's spool context."""
    assert services.spool is not None
    put_message(services.spool, "83012", 5, int(START.timestamp()), "0701234567")
    put_message(services.spool, "83013", 0, int(START.timestamp()), "0701234567")
    other = services.spool / "other-context" / "83012" / "INBOX"
    other.mkdir(parents=True)
    (other / "msg0000.txt").write_text("[message]\n", encoding="utf-8")
    metrics = await (await client.get("/metrics")).text()
    assert 'switchboard_spool_waiting_messages{context="default"} 2' in metrics


async def test_login_rate_limited(client: Client) -> None:
    """Five wrong passwords, then 429 with Retry-After even for the right one."""
    for _ in range(5):
        resp = await client.post("/api/login", json={"user": OWNER, "password": "fel"})
        assert resp.status == 401 and (await resp.json())["error_id"] == "login-failed"
    resp = await client.post("/api/login", json={"user": OWNER, "password": PASSWORD})
    assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0
    assert (await resp.json())["error_id"] == "too-many-attempts"


async def test_cookie_session_needs_csrf_for_changes(client: Client) -> None:
    """With the session cookie, a change without X-CSRF-Token is refused; with it, accepted."""
    resp = await client.post("/api/login", json={"user": OWNER, "password": PASSWORD})
    csrf = (await resp.json())["csrf"]
    path = f"/api/users/{OWNER}/manual-redirect"
    resp = await client.put(path, json={"reason": "lunch"})
    assert resp.status == 403 and (await resp.json())["error_id"] == "csrf-failed"
    body = {"reason": "lunch", "until": "further-notice"}  # ALV-02: an end, or tills vidare
    resp = await client.put(path, json=body, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
