"""Fixtures for the web tests: the Älvkarleby sample, a fake clock, an app and its client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from webkit import ROLE_USERS, FakeClock, make_services, open_call_log, open_register

from switchboard.config import Config, load_config
from switchboard.web import WebServices, setup_web
from switchboard.web.auth import Role
from switchboard.web.store import WebStore

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config() -> Config:
    """The Älvkarleby sample organisation (data under the test's tmp dir)."""
    return load_config(ROOT / "config" / "alvkarleby")


@pytest.fixture
def clock() -> FakeClock:
    """Tuesday 24 November 2026, 10.15 in Stockholm."""
    return FakeClock()


@pytest.fixture
async def services(config: Config, clock: FakeClock, tmp_path: Path) -> AsyncIterator[WebServices]:
    """Services with an open web store, a register holding two messages and a real call log."""
    store = WebStore(tmp_path / "web" / "web.sqlite3")
    await store.open()
    reg = await open_register(config, tmp_path, clock.now(), (ROLE_USERS[Role.REGISTRAR],))
    calls = await open_call_log(config, tmp_path)
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
