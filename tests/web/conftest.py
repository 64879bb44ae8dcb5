"""Fixtures for the web tests: the Älvkarleby sample, a fake clock, an app and its client.

`services` (and so `client`) runs every test that uses it on both engines: its register, web
store and call log are SQLite files under tmp_path, or all three in one fresh PostgreSQL database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from storekit import ENGINES, Storage, make_storage
from webkit import ROLE_USERS, FakeClock, make_services, open_call_log, open_register

from switchboard.config import Config, load_config
from switchboard.web import WebServices, setup_web
from switchboard.web.auth import Role

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config() -> Config:
    """The Älvkarleby sample organisation (data under the test's tmp dir)."""
    return load_config(ROOT / "config" / "alvkarleby")


@pytest.fixture
def clock() -> FakeClock:
    """Tuesday 24 November 2026, 10.15 in Stockholm."""
    return FakeClock()


@pytest.fixture(params=ENGINES)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """A fresh database on each engine (SQLite: the register at tmp_path/vm/register.sqlite3)."""
    return make_storage(str(request.param), tmp_path / "vm")


@pytest.fixture
async def services(
    config: Config, clock: FakeClock, storage: Storage, tmp_path: Path
) -> AsyncIterator[WebServices]:
    """Services with an open web store, a register holding two messages and a real call log."""
    store = storage.web_store(tmp_path / "web" / "web.sqlite3")
    await store.open()
    registrars = (ROLE_USERS[Role.REGISTRAR],)
    reg = await open_register(config, storage, tmp_path, clock.now(), registrars)
    calls = await open_call_log(config, storage, tmp_path)
    try:
        yield make_services(config, store, reg, clock, calls, spool=tmp_path / "spool")
    finally:
        await calls.close()
        await reg.close()
        await store.close()


@pytest.fixture
async def client(services: WebServices) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """An aiohttp test client on 127.0.0.1 for an app set up by `setup_web`."""
    app = web.Application()
    setup_web(app, services)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c
