"""Every caller on every endpoint against a hand-written access matrix, and bad input answered
with a stable 4xx.

SQLite only (the `storage` fixture below): these check access and validation, not storage, and
the stores behind the same endpoints run on both engines in test_api.py.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from storekit import Storage, make_storage
from webkit import OWNER, ROLE_USERS, FakeClock

from switchboard.web import WebServices
from switchboard.web.auth import Role
from switchboard.web.core import STATE
from switchboard.web.routes import endpoints

Client = TestClient[web.Request, web.Application]


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    """SQLite files only here, to keep the run short (see the module docstring)."""
    return make_storage("sqlite", tmp_path / "vm")


def bearer(client: Client, user: str, services: WebServices) -> dict[str, str]:
    """A fresh token for `user` (signed directly: the matrix tests access, not passwords)."""
    token, _ = client.app[STATE].codec.issue(user, services.now())
    return {"Authorization": f"Bearer {token}"}


def concrete(path: str, user: str, ref: str) -> str:
    """Fill path parameters: oneself, a real record, a logged call."""
    return (
        path.replace("{user_id}", user)
        .replace("{ref}", ref)
        .replace("{call_id}", "1764000000.1")
        .replace("{entry_id}", "hemtjanst-nord")
    )


# The access policy, written out by hand (never read from the route table it checks): the
# status each caller gets. Columns are single-role accounts (webkit.ROLE_USERS), the owner of
# the register's records (a staff account, ALV-14) and a caller without a session; a
# `{user_id}` is the caller. On pages, 303 is the form's redirect, or for "anon" the way to
# /login. POST /api/login answers 422 to everyone (public: validation speaks) and POST /login 403
# (public: the login form's own CSRF check speaks); the identity provider's sign-in is 404 when
# none is configured (tests/web/test_oidc.py configures one).
MATRIX = """
method path                                         staff registrar admin it  owner anon
GET    /healthz                                     200   200       200   200 200   200
GET    /metrics                                     200   200       200   200 200   200
GET    /api/openapi.json                            200   200       200   200 200   200
POST   /api/login                                   422   422       422   422 422   422
POST   /api/logout                                  200   200       200   200 200   401
GET    /api/me                                      200   200       200   200 200   401
GET    /api/directory                               200   200       200   200 200   401
GET    /api/presence/events                         200   200       200   200 200   401
GET    /api/users/{user_id}/availability            200   200       200   200 200   401
PUT    /api/users/{user_id}/manual-redirect         200   200       200   200 200   401
DELETE /api/users/{user_id}/manual-redirect         200   200       200   200 200   401
GET    /api/registry/queue                          403   200       403   403 403   401
GET    /api/registry/records/{ref}                  403   200       403   403 403   401
GET    /api/registry/records/{ref}/audio            403   200       403   403 200   401
POST   /api/registry/records/{ref}/classification   403   200       403   403 403   401
GET    /api/registry/records/{ref}/audit            403   200       403   403 403   401
GET    /api/registry/export                         403   200       403   403 403   401
GET    /api/admin/switches                          403   403       200   403 403   401
PUT    /api/admin/voicemail                         403   403       200   403 403   401
PUT    /api/admin/users/{user_id}/switches          403   403       200   403 403   401
GET    /api/admin/switch-changes                    403   403       200   403 403   401
GET    /api/calls                                   403   403       403   200 403   401
GET    /api/calls.csv                               403   403       403   200 403   401
POST   /api/calls/{call_id}/threat                  403   403       403   201 201   401
GET    /api/incidents                               403   403       403   200 403   401
GET    /api/me/calls                                200   200       200   200 200   401
GET    /api/reports/service-level                   403   403       200   200 403   401
GET    /api/reports/unused-subscriptions            403   403       200   403 403   401
GET    /api/reports/blocked-attempts                403   403       200   403 403   401
PUT    /api/admin/phones/{entry_id}/blocked         403   403       200   403 403   401
GET    /api/contact-centre/notices                  403   403       200   403 403   401
GET    /api/contact-centre/directory-history        403   403       200   403 403   401
GET    /api/contact-centre/assisted-calls           403   403       200   403 403   401
POST   /api/contact-centre/assisted-calls           403   403       403   403 403   401
GET    /login                                       200   200       200   200 200   200
POST   /login                                       403   403       403   403 403   403
GET    /login/oidc                                  404   404       404   404 404   404
GET    /login/oidc/callback                         404   404       404   404 404   404
POST   /logout                                      303   303       303   303 303   303
GET    /                                            200   200       200   200 200   303
GET    /min-tillganglighet                          200   200       200   200 200   303
POST   /min-tillganglighet                          303   303       303   303 303   303
POST   /min-tillganglighet/rensa                    303   303       303   303 303   303
GET    /registrator                                 403   200       403   403 403   303
GET    /registrator/{ref}                           403   200       403   403 403   303
POST   /registrator/{ref}                           403   303       403   403 403   303
GET    /admin                                       403   403       200   403 403   303
POST   /admin/rostbrevlada                          403   403       303   403 403   303
POST   /admin/anvandare/{user_id}                   403   403       303   403 403   303
POST   /admin/flera                                 403   403       303   403 403   303
POST   /admin/sparr                                 403   403       303   403 403   303
GET    /it                                          403   403       403   200 403   303
POST   /it/samtal/{call_id}/hot                     403   403       403   303 403   303
GET    /rapporter                                   403   403       200   200 403   303
GET    /chef                                        403   403       200   403 403   303
GET    /kontaktcenter                               403   403       200   403 403   303
POST   /kontaktcenter/utlandssamtal                 403   403       403   403 403   303
GET    /mina-samtal                                 200   200       200   200 200   303
POST   /mina-samtal/{call_id}/hot                   303   303       303   303 303   303
GET    /api/inbox                                   200   200       200   200 200   401
POST   /api/inbox/{ref}/heard                       403   403       403   403 200   401
GET    /api/me/greeting                             200   200       200   200 200   401
PUT    /api/me/greeting                             200   200       200   200 200   401
PUT    /api/me/greeting/recording                   422   422       422   422 422   401
GET    /api/me/greeting/audio                       404   404       404   404 404   401
GET    /api/admin/greetings                         403   403       200   403 403   401
GET    /rostmeddelanden                             200   200       200   200 200   303
POST   /rostmeddelanden/{ref}/hord                  303   303       303   303 303   303
POST   /rostmeddelanden/halsning                    303   303       303   303 303   303
GET    /admin/halsningsfraser                       403   403       200   403 403   303
"""
CALLERS = {
    "staff": ROLE_USERS[Role.STAFF],
    "registrar": ROLE_USERS[Role.REGISTRAR],
    "admin": ROLE_USERS[Role.ADMIN],
    "it": ROLE_USERS[Role.IT],
    "owner": OWNER,
    "anon": None,
}
# Valid bodies, so that an allowed caller gets the success status, not a validation error.
JSON_BODIES: dict[tuple[str, str], dict[str, object]] = {
    ("PUT", "/api/users/{user_id}/manual-redirect"): {
        "reason": "lunch",
        "until": "further-notice",
    },
    ("POST", "/api/registry/records/{ref}/classification"): {
        "classification": "public_minor_importance",
        "summary": "Fråga om bygglov",
    },
    ("PUT", "/api/admin/voicemail"): {"enabled": True},
    ("PUT", "/api/admin/users/{user_id}/switches"): {"voicemail": True},
    ("POST", "/api/calls/{call_id}/threat"): {"note": "Hotfullt samtal"},
    ("PUT", "/api/admin/phones/{entry_id}/blocked"): {"blocked": True},
    ("POST", "/api/contact-centre/assisted-calls"): {"user": "bertil.berg", "to": "+442079460000"},
    ("POST", "/api/login"): {},
    ("PUT", "/api/me/greeting"): {"choice": "generated"},
}
FORMS: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/min-tillganglighet"): {"reason": "lunch"},
    ("POST", "/registrator/{ref}"): {
        "classification": "public_minor_importance",
        "summary": "Fråga om bygglov",
    },
    ("POST", "/admin/rostbrevlada"): {"enabled": "1", "confirm": "ja"},
    ("POST", "/admin/anvandare/{user_id}"): {"voicemail": "1"},
    ("POST", "/admin/flera"): {
        **{"installning": "voicemail", "varde": "1", "vilka": "valda"},
        **{"anvandare": "anna.andersson", "antal": "1", "confirm": "ja"},
    },
    ("POST", "/admin/sparr"): {"post": "hemtjanst-nord", "sparrad": "1", "confirm": "ja"},
    ("POST", "/it/samtal/{call_id}/hot"): {"note": "Hotfullt samtal"},
    ("POST", "/mina-samtal/{call_id}/hot"): {"note": "Hotfullt samtal"},
    ("POST", "/kontaktcenter/utlandssamtal"): {"user": "bertil.berg", "to": "+442079460000"},
    ("POST", "/rostmeddelanden/halsning"): {"choice": "generated"},
}


def matrix() -> dict[tuple[str, str], dict[str, int]]:
    """MATRIX as (method, path) -> caller -> status."""
    header, *rows = MATRIX.strip().splitlines()
    callers = header.split()[2:]
    assert callers == list(CALLERS)
    table: dict[tuple[str, str], dict[str, int]] = {}
    for row in rows:
        method, path, *statuses = row.split()
        assert (method, path) not in table, (method, path)
        table[(method, path)] = dict(zip(callers, map(int, statuses), strict=True))
    return table


def test_matrix_lists_every_route() -> None:
    """The hand-written matrix covers exactly the routes there are: a new one must be added."""
    assert {(ep.method, ep.path) for ep in endpoints()} == set(matrix())


async def test_role_matrix(client: Client, services: WebServices) -> None:
    """Every caller on every route gets the status the hand-written matrix says (2xx/303/403/401)."""
    assert services.register is not None
    ref = str((await services.register.queue(services.now()))[0].record.id)
    for (method, route), expected in matrix().items():
        for caller, status in expected.items():
            user = CALLERS[caller]
            path = concrete(route, user or OWNER, ref)
            resp = await client.request(
                method,
                path,
                json=JSON_BODIES.get((method, route)),
                data=FORMS.get((method, route)),
                headers=bearer(client, user, services) if user else None,
                allow_redirects=False,
            )
            got, location = resp.status, resp.headers.get("Location", "")
            resp.close()
            assert got == status, (method, route, caller, got)
            if got == 303:  # to the login page exactly when there is no session
                assert location.startswith("/login?next=") == (user is None), (route, caller)


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error_id"),
    [
        ("PUT", "/api/users/{me}/manual-redirect", b"{not json", 400, "malformed-json"),
        ("PUT", "/api/users/{me}/manual-redirect", b"[1, 2]", 400, "malformed-json"),
        ("PUT", "/api/users/{me}/manual-redirect", b'{"reason": 5}', 422, "invalid-field"),
        ("PUT", "/api/users/{me}/manual-redirect", b'{"reason": "naptime"}', 422, "invalid-field"),
        (
            "PUT",
            "/api/users/{me}/manual-redirect",
            b'{"reason": "lunch", "until": "imorgon"}',
            422,
            "invalid-field",
        ),
        (
            "PUT",
            "/api/users/{me}/manual-redirect",
            b'{"reason": "lunch", "until": "2020-01-01T10:00"}',
            422,
            "invalid-field",
        ),
        (
            "PUT",
            "/api/users/{me}/manual-redirect",
            b'{"reason": "lunch", "text": ["x"]}',
            422,
            "invalid-field",
        ),
        ("PUT", "/api/users/{me}/manual-redirect", b"\xff\xfe", 400, "malformed-json"),
        (
            "PUT",
            "/api/users/{me}/manual-redirect",
            b'{"reason": "' + b"x" * 100_000 + b'"}',
            413,
            "body-too-large",
        ),
        ("PUT", "/api/users/nobody.here/manual-redirect", b'{"reason": "lunch"}', 403, "forbidden"),
        ("GET", "/api/users/nobody.here/availability", b"", 404, "unknown-user"),
        ("GET", "/api/registry/records/999999", b"", 404, "unknown-record"),
        ("GET", "/api/registry/records/ALV-RÖST-2026-999999", b"", 404, "unknown-record"),
        (
            "GET",
            "/api/registry/records/..%2F..%2Fetc%2Fpasswd/audio",
            b"",
            404,
            "bad-record-id|not-found",
        ),
        ("GET", "/api/registry/records/%2E%2E/audio", b"", 404, "bad-record-id|not-found"),
        ("GET", "/api/registry/records/1%00.wav/audio", b"", 404, "bad-record-id|not-found"),
        ("GET", "/api/registry/records/..\\..\\x/audio", b"", 404, "bad-record-id|not-found"),
        ("GET", "/api/registry/export?format=exe", b"", 422, "invalid-field"),
        (
            "POST",
            "/api/registry/records/1/classification",
            b'{"classification": "secret"}',
            422,
            "invalid-field",
        ),
        (
            "POST",
            "/api/registry/records/1/classification",
            b'{"classification": "public_registered", "summary": "x"}',
            422,
            "invalid-classification",
        ),
        ("GET", "/api/nothing-here", b"", 404, "not-found"),
        ("PATCH", "/api/me", b"", 405, "method-not-allowed"),
    ],
)
async def test_bad_input_is_a_stable_4xx(
    client: Client,
    services: WebServices,
    method: str,
    path: str,
    body: bytes,
    status: int,
    error_id: str,
) -> None:
    """Bad input: the documented status and error_id, JSON, never a traceback."""
    user = ROLE_USERS[Role.REGISTRAR]
    headers = bearer(client, user, services) | {"Content-Type": "application/json"}
    resp = await client.request(method, path.replace("{me}", user), data=body, headers=headers)
    text = await resp.text()
    assert resp.status == status, text
    assert (await resp.json())["error_id"] in error_id.split("|")
    assert "Traceback" not in text and 'File "' not in text


@pytest.mark.parametrize(
    ("path", "body", "error_id"),
    [
        ("/api/admin/voicemail", b'{"enabled": "yes"}', "invalid-field"),
        ("/api/admin/users/anna.andersson/switches", b'{"voicemail": 1}', "invalid-field"),
        ("/api/admin/users/anna.andersson/switches", b'{"root": true}', "invalid-field"),
        ("/api/admin/users/ghost/switches", b'{"voicemail": true}', "unknown-user"),
    ],
)
async def test_admin_bad_input(
    client: Client, services: WebServices, path: str, body: bytes, error_id: str
) -> None:
    """Wrong types and unknown ids on the administrator's switches."""
    headers = bearer(client, ROLE_USERS[Role.ADMIN], services)
    resp = await client.put(path, data=body, headers=headers)
    assert 400 <= resp.status < 500 and (await resp.json())["error_id"] == error_id


async def test_it_bad_input(client: Client, services: WebServices) -> None:
    """Unknown call, empty note, malformed time: 4xx with error ids."""
    h = bearer(client, ROLE_USERS[Role.IT], services)
    resp = await client.post("/api/calls/no-such-call/threat", json={"note": "hot"}, headers=h)
    body = await resp.json()
    assert resp.status == 404 and body["error_id"] == "unknown-call"
    assert body["message"] == "det finns inget samtal 'no-such-call' i samtalsloggen"
    resp = await client.post("/api/calls/1764000000.1/threat", json={"note": ""}, headers=h)
    assert resp.status == 422
    resp = await client.get("/api/calls", params={"since": "igår"}, headers=h)
    assert resp.status == 422
    resp = await client.get("/api/calls", params={"limit": "-4"}, headers=h)
    assert resp.status == 422


async def test_expired_and_forged_sessions(
    client: Client, services: WebServices, clock: FakeClock
) -> None:
    """An old token is 401 session-expired (pages: back to login); a forged one 401 too."""
    h = bearer(client, OWNER, services)
    clock.advance(timedelta(hours=9))
    resp = await client.get("/api/me", headers=h)
    assert resp.status == 401 and (await resp.json())["error_id"] == "session-expired"
    resp = await client.get("/", headers=h, allow_redirects=False)
    assert resp.status == 303 and "session-expired" in resp.headers["Location"]
    forged = h["Authorization"][:-4] + "AAAA"
    resp = await client.get("/api/me", headers={"Authorization": forged})
    assert resp.status == 401 and (await resp.json())["error_id"] == "not-authenticated"
    resp = await client.get("/api/me", headers={"Authorization": "Bearer x.y.z"})
    assert resp.status == 401


async def test_page_forms_need_csrf(client: Client) -> None:
    """A page form posted with the session cookie but without the CSRF field is refused."""
    from webkit import PASSWORD

    page = await client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert token
    resp = await client.post(
        "/login",
        data={"csrf": token.group(1), "user": OWNER, "password": PASSWORD},
        allow_redirects=False,
    )
    assert resp.status == 303
    resp = await client.post("/min-tillganglighet", data={"reason": "lunch"}, allow_redirects=False)
    assert resp.status == 403 and "csrf-failed" in await resp.text()
    resp = await client.post("/login", data={"csrf": "forged", "user": OWNER, "password": PASSWORD})
    assert resp.status == 403
