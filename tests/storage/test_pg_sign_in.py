"""Sign-in state on PostgreSQL is shared by every node: logouts, failed logins; call counts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from switchboard.telephony.calllog import CallEntry
from switchboard.telephony.calllog.pg import PgCallLogStore
from switchboard.web.auth import LoginAttempt, LoginLimiter
from switchboard.web.errors import TooManyAttempts
from switchboard.web.store import WebStore
from switchboard.web.store.pg_backend import PgWebBackend
from switchboard.web.store.schema import SCHEMA_VERSION

NOW = datetime(2026, 11, 24, 9, 15, tzinfo=UTC)
SECOND = timedelta(seconds=1)


async def test_logout_and_limiter_shared_between_nodes(pg_dsn: str) -> None:
    """A logout on one node is refused on the other at once; failures count across nodes."""
    a, b = WebStore(PgWebBackend(pg_dsn)), WebStore(PgWebBackend(pg_dsn))
    async with a, b:
        expires = NOW + timedelta(hours=8)
        assert not await b.session_revoked("s1", expires, NOW)
        await a.revoke_session("s1", expires, NOW)
        await b.revoke_session("s1", expires, NOW)  # twice is harmless
        assert await b.session_revoked("s1", expires, NOW)
        limit_a, limit_b = LoginLimiter(a), LoginLimiter(b)
        for n in range(5):  # wrong passwords, on alternate nodes
            await (limit_a if n % 2 else limit_b).attempt("anna", "10.0.0.1", NOW + SECOND * n)
        with pytest.raises(TooManyAttempts) as exc:
            await limit_a.attempt("Anna", "10.0.0.2", NOW + SECOND * 10)
        assert exc.value.retry_after == 291
        colleague = await limit_a.attempt("bertil", "10.0.0.1", NOW + SECOND * 10)
        await limit_b.succeeded(colleague)  # the address is not charged for it
        assert (await b.login_failures("addr:10.0.0.1", NOW - SECOND))[0] == 5
        await limit_b.attempt("anna", "10.0.0.1", NOW + timedelta(minutes=5, seconds=1))
        later = NOW + timedelta(hours=9)
        await a.revoke_session("s2", later + timedelta(hours=8), later)
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert [r[0] for r in await conn.fetch("SELECT sid FROM revoked_sessions")] == ["s2"]
    finally:
        await conn.close()
    async with WebStore(PgWebBackend(pg_dsn)) as again:  # a restart still refuses it
        assert await again.session_revoked("s2", later + timedelta(hours=8), later)


async def test_parallel_guesses_on_two_nodes_get_exactly_the_limit(pg_dsn: str) -> None:
    """100 guesses for one account at once, half on each node: exactly five go ahead."""
    a, b = WebStore(PgWebBackend(pg_dsn, pool_size=4)), WebStore(PgWebBackend(pg_dsn, pool_size=4))
    async with a, b:
        nodes = (LoginLimiter(a), LoginLimiter(b))
        results = await asyncio.gather(
            *(nodes[n % 2].attempt("anna", f"10.0.0.{n}", NOW) for n in range(100)),
            return_exceptions=True,
        )
    assert all(isinstance(r, LoginAttempt | TooManyAttempts) for r in results), results
    assert sum(isinstance(r, LoginAttempt) for r in results) == 5


async def test_schema_1_database_gains_sign_in_tables(pg_dsn: str) -> None:
    """A web schema written before the sign-in tables (version 3) is upgraded in place."""
    async with WebStore(PgWebBackend(pg_dsn)):
        pass
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute("DROP TABLE revoked_sessions; DROP TABLE login_failures")
        await conn.execute("DELETE FROM web_schema_migrations WHERE version >= 2")
        async with WebStore(PgWebBackend(pg_dsn)) as store:
            await store.revoke_session("s", NOW + timedelta(hours=1), NOW)
        assert (
            await conn.fetchval("SELECT MAX(version) FROM web_schema_migrations") == SCHEMA_VERSION
        )
    finally:
        await conn.close()


async def test_call_log_counts_by_outcome_on_postgresql(pg_dsn: str) -> None:
    """The database counts calls per outcome (for /metrics)."""
    async with PgCallLogStore(pg_dsn, org_code="ALV") as store:
        for n, outcome in enumerate(("completed", "redirected", "completed")):
            await store.record(CallEntry(f"c{n}", start=NOW, outcome=outcome))
        assert await store.outcome_counts() == {"completed": 2, "redirected": 1}
