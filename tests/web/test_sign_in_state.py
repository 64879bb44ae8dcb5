"""Sign-in state survives a restart: logged-out tokens stay refused, failed logins still count."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from storekit import Storage
from webkit import OWNER, PASSWORD, START

from switchboard.web import WebServices, setup_web
from switchboard.web.store import SCHEMA_VERSION, WebStore

Client = TestClient[web.Request, web.Application]


@asynccontextmanager
async def restarted(
    services: WebServices, storage: Storage, tmp_path: Path
) -> AsyncIterator[Client]:
    """A second app (same secret) on a new store instance over the same file (or database)."""
    async with storage.web_store(tmp_path / "web" / "web.sqlite3") as store:
        app = web.Application()
        setup_web(app, dataclasses.replace(services, store=store))
        async with TestClient(TestServer(app, host="127.0.0.1")) as c:
            yield c


async def test_logout_survives_restart(
    client: Client, services: WebServices, storage: Storage, tmp_path: Path
) -> None:
    """A logged-out token is refused after a restart; another session of the user still works."""
    tokens = []
    for _ in range(2):
        resp = await client.post("/api/login", json={"user": OWNER, "password": PASSWORD})
        tokens.append((await resp.json())["token"])
    gone, kept = ({"Authorization": f"Bearer {t}"} for t in tokens)
    assert (await client.post("/api/logout", headers=gone)).status == 200
    async with restarted(services, storage, tmp_path) as other:
        resp = await other.get("/api/me", headers=gone)
        assert resp.status == 401 and (await resp.json())["error_id"] == "session-expired"
        assert (await other.get("/api/me", headers=kept)).status == 200


async def test_failed_logins_survive_restart(
    client: Client, services: WebServices, storage: Storage, tmp_path: Path
) -> None:
    """Failures before a restart count after it; a good login clears only the user's count."""
    for _ in range(5):
        await client.post("/api/login", json={"user": OWNER, "password": "fel"})
    async with restarted(services, storage, tmp_path) as other:
        resp = await other.post("/api/login", json={"user": OWNER, "password": PASSWORD})
        assert resp.status == 429 and (await resp.json())["error_id"] == "too-many-attempts"


async def test_expired_revocations_and_failures_are_purged(
    storage: Storage, tmp_path: Path
) -> None:
    """Revocations go once their token has expired; failures once outside the window."""
    path = tmp_path / "web.sqlite3"
    async with storage.web_store(path) as store:
        await store.revoke_session("old", START + timedelta(hours=1), START)
        await store.revoke_session("new", START + timedelta(hours=9), START + timedelta(hours=2))
        rows = await storage.raw("SELECT sid FROM revoked_sessions", path)
        assert [r[0] for r in rows] == ["new"]
        assert await store.session_revoked("new", START + timedelta(hours=9), START)
        await store.add_login_failure(["user:x"], START, START - timedelta(minutes=5))
        later = START + timedelta(minutes=6)
        await store.add_login_failure(["user:y"], later, later - timedelta(minutes=5))
        rows = await storage.raw("SELECT subject FROM login_failures", path)
        assert [r[0] for r in rows] == ["user:y"]


async def test_metrics_count_calls_in_the_database(client: Client, services: WebServices) -> None:
    """/metrics asks the call log for counts by outcome; it never loads every call."""
    assert services.call_log is not None

    async def no_full_load() -> list[Mapping[str, object]]:
        raise AssertionError("metrics loaded every call")

    services.call_log.calls = no_full_load  # type: ignore[method-assign]
    assert await services.call_log.outcome_counts() == {"caller_hung_up": 1, "completed": 2}
    metrics = await (await client.get("/metrics")).text()
    assert 'switchboard_calls_total{outcome="completed"} 2' in metrics


async def test_schema_2_database_gains_sign_in_tables(tmp_path: Path) -> None:
    """A schema-2 web.sqlite3 is upgraded to 3 in place and keeps its rows."""
    path = tmp_path / "web.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE web_schema (version INTEGER NOT NULL)")
        db.execute("INSERT INTO web_schema (version) VALUES (2)")
        db.execute(
            "CREATE TABLE overrides (user_id TEXT NOT NULL, name TEXT NOT NULL,"
            " value INTEGER NOT NULL, set_by TEXT NOT NULL, set_at TEXT NOT NULL,"
            " PRIMARY KEY (user_id, name))"
        )
        db.execute("INSERT INTO overrides VALUES (?, 'voicemail', 0, 'admin', 'x')", (OWNER,))
    db.close()
    async with WebStore(path) as store:
        assert store.overrides() == {(OWNER, "voicemail"): False}
        await store.revoke_session("s", START + timedelta(hours=1), START)
    async with WebStore(path) as store:
        assert await store.session_revoked("s", START + timedelta(hours=1), START)
        sql = "SELECT MAX(version) FROM web_schema_migrations"
        rows = await store.backend.db.execute_fetchall(sql)  # type: ignore[attr-defined]
        assert [r[0] for r in rows] == [SCHEMA_VERSION]
