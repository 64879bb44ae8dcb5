"""The login limiter: parallel guesses get no more tries than slow ones, accounts lock before
addresses, and good logins are never charged to the address (on both engines)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient
from storekit import Storage
from webkit import DELEGATE, OWNER, PASSWORD, ROLE_USERS, START, FakeClock

from switchboard.web import WebServices
from switchboard.web.auth import (
    ACCOUNT_FAILURES,
    FAILURE_WINDOW,
    LoginAttempt,
    LoginLimiter,
    Role,
)
from switchboard.web.core import STATE
from switchboard.web.errors import TooManyAttempts

Client = TestClient[web.Request, web.Application]


async def login(client: Client, user: str, password: str) -> int:
    """POST /api/login; the status."""
    resp = await client.post("/api/login", json={"user": user, "password": password})
    resp.close()
    return resp.status


async def test_parallel_guesses_get_no_more_tries_than_the_limit(client: Client) -> None:
    """100 guesses at once for one account: only the first five reach the password check."""
    statuses = await asyncio.gather(*(login(client, OWNER, f"fel-{n}") for n in range(100)))
    assert statuses.count(401) == ACCOUNT_FAILURES
    assert statuses.count(429) == 100 - ACCOUNT_FAILURES
    assert await login(client, OWNER, PASSWORD) == 429  # the right password comes too late


async def test_typos_lock_the_account_not_colleagues_behind_the_same_address(
    client: Client,
) -> None:
    """Five typos lock that account only; colleagues at the same address still sign in."""
    for _ in range(ACCOUNT_FAILURES):
        assert await login(client, OWNER, "fel") == 401
    resp = await client.post("/api/login", json={"user": OWNER.upper(), "password": PASSWORD})
    assert resp.status == 429 and (await resp.json())["error_id"] == "too-many-attempts"
    assert int(resp.headers["Retry-After"]) == int(FAILURE_WINDOW.total_seconds()) + 1
    assert await login(client, DELEGATE, PASSWORD) == 200
    assert await login(client, ROLE_USERS[Role.STAFF], PASSWORD) == 200


async def test_address_locks_after_many_failures_but_good_logins_are_free(
    client: Client, services: WebServices, clock: FakeClock
) -> None:
    """An address is locked after its own, larger limit; good logins never count against it."""
    client.app[STATE].limiter = LoginLimiter(services.store, account_limit=2, address_limit=4)
    for user in (*ROLE_USERS.values(), OWNER, DELEGATE):  # six good logins: all free
        assert await login(client, user, PASSWORD) == 200
    for n in range(4):  # password spraying: one guess per account
        assert await login(client, f"gissning.{n}", "sommar2026") == 401
    assert await login(client, OWNER, PASSWORD) == 429
    clock.advance(FAILURE_WINDOW)
    assert await login(client, OWNER, PASSWORD) == 200


async def test_good_login_takes_back_only_its_own_attempt(storage: Storage, tmp_path: Path) -> None:
    """Two attempts at the same instant from one address: one good login leaves the other."""
    async with storage.web_store(tmp_path / "web.sqlite3") as store:
        limiter = LoginLimiter(store)
        good = await limiter.attempt(OWNER, "10.0.0.1", START)
        await limiter.attempt("okänd", "10.0.0.1", START)
        since = START - FAILURE_WINDOW
        assert (await store.login_failures("addr:10.0.0.1", since))[0] == 2
        await limiter.succeeded(good)
        assert await store.login_failures("addr:10.0.0.1", since) == (1, START)
        assert (await store.login_failures(f"user:{OWNER}", since))[0] == 0
        assert (await store.login_failures("user:okänd", since))[0] == 1


async def test_parallel_attempts_on_the_store_stop_at_each_limit(
    storage: Storage, tmp_path: Path
) -> None:
    """Deciding and counting is one step in the database: 60 at once, exactly the limits pass."""
    async with storage.web_store(tmp_path / "web.sqlite3") as store:
        limiter = LoginLimiter(store, account_limit=3, address_limit=7)
        at = START + timedelta(seconds=1)
        one_account = [limiter.attempt("anna", f"10.0.0.{n}", at) for n in range(30)]
        one_address = [limiter.attempt(f"user{n}", "10.9.9.9", at) for n in range(30)]
        results = await asyncio.gather(*one_account, *one_address, return_exceptions=True)
        let_through = [r for r in results if isinstance(r, LoginAttempt)]
        assert all(isinstance(r, LoginAttempt | TooManyAttempts) for r in results)
        assert sum(r.account == "user:anna" for r in let_through) == 3
        assert sum(r.address == "addr:10.9.9.9" for r in let_through) == 7
