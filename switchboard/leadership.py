"""Which node leads: holds the AMI connection and the spool intake while the others stand by.

On PostgreSQL the leader holds a session advisory lock on a dedicated connection. When the
leader dies, its connection closes and the server releases the lock at once; a standby that
polls `pg_try_advisory_lock` takes over within `retry_s`. A leader whose session the server
closes steps down at once (termination listener); one whose connection stops answering
(partition) steps down after `check_s` + `timeout_s`. With SQLite there is one node,
and it always leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Protocol

import asyncpg

from switchboard.config.storage_settings import StorageSettings

log = logging.getLogger("switchboard.leadership")

OnChange = Callable[[bool], Awaitable[None]]
LOCK_SQL = "SELECT pg_try_advisory_lock(hashtext($1))"
HOLDER_SQL = (
    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.objid::int = hashtext($1)"
    " AND a.datname = current_database()"
)
# Server-side TCP keepalives: a vanished leader's session (and lock) ends within ~11 s.
KEEPALIVES = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
}


def default_node_id() -> str:
    """`<host>:<pid>`, unique per running node."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Leadership(Protocol):
    """Runs until `stop`; `on_change(True)` on becoming leader, `(False)` on losing it."""

    node_id: str

    @property
    def is_leader(self) -> bool:
        """Whether this node leads right now."""

    async def run(self, stop: asyncio.Event, on_change: OnChange) -> None:
        """Take part in the election until `stop` is set."""


class SoleLeader:
    """One node on SQLite: leads from start to stop."""

    def __init__(self, node_id: str | None = None) -> None:
        self.node_id = node_id or default_node_id()
        self._leader = False

    @property
    def is_leader(self) -> bool:
        """True between start and stop."""
        return self._leader

    async def run(self, stop: asyncio.Event, on_change: OnChange) -> None:
        """Lead at once, step down when stopped."""
        self._leader = True
        await on_change(True)
        try:
            await stop.wait()
        finally:
            self._leader = False
            await on_change(False)


class PgLeadership:
    """Leadership through a PostgreSQL session advisory lock held on a dedicated connection."""

    def __init__(
        self,
        dsn: str,
        name: str = "switchboard.leader",
        node_id: str | None = None,
        retry_s: float = 1.0,
        check_s: float = 1.0,
        timeout_s: float = 2.0,
    ) -> None:
        self.dsn = dsn
        self.name = name
        self.node_id = node_id or default_node_id()
        self.retry_s = retry_s
        self.check_s = check_s
        self.timeout_s = timeout_s
        self._leader = False

    @property
    def is_leader(self) -> bool:
        """Whether this node holds the lock right now."""
        return self._leader

    async def run(self, stop: asyncio.Event, on_change: OnChange) -> None:
        """Try for the lock every `retry_s`; while held, check the connection every `check_s`."""
        while not stop.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    self.dsn,
                    timeout=self.timeout_s,
                    server_settings={
                        "application_name": f"switchboard:{self.node_id}",
                        **KEEPALIVES,
                    },
                )
                while not stop.is_set() and not self._leader:
                    if await conn.fetchval(LOCK_SQL, self.name, timeout=self.timeout_s):
                        self._leader = True
                        log.info("node %s leads (%s)", self.node_id, self.name)
                        await on_change(True)
                    else:
                        await _wait(stop, self.retry_s)
                lost = asyncio.Event()  # the server closed the session: step down at once
                conn.add_termination_listener(functools.partial(_set_on_close, lost))
                while not stop.is_set():
                    await _wait_either(stop, lost, self.check_s)
                    if lost.is_set():
                        raise asyncpg.InterfaceError("the lock's connection was closed")
                    await conn.fetchval("SELECT 1", timeout=self.timeout_s)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("node %s: leadership connection failed: %s", self.node_id, exc)
            finally:
                if self._leader:
                    self._leader = False
                    log.info("node %s steps down (%s)", self.node_id, self.name)
                    await on_change(False)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), self.timeout_s)  # releases the lock
            await _wait(stop, self.retry_s)


async def current_leader(dsn: str, name: str = "switchboard.leader") -> str | None:
    """The node id holding the lock, or None (for /health and the admin page)."""
    conn = await asyncpg.connect(dsn)
    try:
        holder = await conn.fetchval(HOLDER_SQL, name)
    finally:
        await conn.close()
    if holder is None:
        return None
    return str(holder).removeprefix("switchboard:")


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def _set_on_close(event: asyncio.Event, _conn: object) -> None:
    event.set()


async def _wait_either(stop: asyncio.Event, lost: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(lost.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


def make_leadership(settings: StorageSettings, node_id: str | None = None) -> Leadership:
    """PgLeadership on PostgreSQL (one lock per schema); SoleLeader on SQLite."""
    if settings.engine == "postgresql" and settings.dsn:
        return PgLeadership(settings.dsn, f"switchboard.leader:{settings.schema}", node_id)
    return SoleLeader(node_id)
