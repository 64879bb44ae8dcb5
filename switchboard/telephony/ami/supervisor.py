"""The AMI supervisor: connect and reconnect with backoff, keepalive Ping, resync hooks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from switchboard.telephony.ami.client import AmiClient, AmiResponse, EventCallback, Subscription
from switchboard.telephony.ami.protocol import Headers
from switchboard.telephony.errors import (
    AmiActionTimeout,
    AmiAuthenticationError,
    AmiConnectionError,
    AmiNotConnected,
)

log = logging.getLogger("switchboard.telephony.ami")


@dataclass(frozen=True, slots=True)
class AmiSettings:
    """Where and as whom to connect; the secret comes from the environment or a secret file.

    Liveness: every `ping_interval` s the supervisor sends `Action: Ping`; a connection whose
    Ping gets no answer within `ping_deadline` s is closed and replaced (a half-open TCP link
    otherwise looks connected forever).
    """

    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "switchboard"
    secret: str = field(default="", repr=False)
    connect_timeout: float = 10.0
    action_timeout: float = 5.0
    ping_interval: float = 10.0
    ping_deadline: float = 5.0


@dataclass
class Backoff:
    """Exponential reconnect delays with jitter; auth failures start at a longer delay."""

    initial: float = 0.5
    maximum: float = 30.0
    auth_initial: float = 5.0
    factor: float = 2.0
    jitter: float = 0.1
    rng: Callable[[], float] = random.random
    _next: float = 0.0

    def reset(self) -> None:
        """Forget past failures (after a successful login)."""
        self._next = 0.0

    def delay(self, *, auth_failure: bool = False) -> float:
        """The next delay in seconds; never zero, so no tight loop."""
        floor = self.auth_initial if auth_failure else self.initial
        base = max(floor, min(self.maximum, self._next * self.factor if self._next else floor))
        self._next = base
        return base * (1 + self.jitter * self.rng())


Sleep = Callable[[float], Awaitable[None]]
ConnectedHook = Callable[[AmiClient], Awaitable[None]]


class AmiSupervisor:
    """Keeps one AMI connection alive: connect, login, resync hook, reconnect with backoff.

    `on_connected` runs (as a full resync) after every login and again on `FullyBooted`;
    requests arriving while one is pending are merged into one run. A connection that stops
    answering Ping (settings.ping_interval, ping_deadline) is closed and replaced like a
    dropped one.
    """

    def __init__(
        self,
        settings: AmiSettings,
        *,
        on_connected: ConnectedHook | None = None,
        on_disconnected: Callable[[str], None] | None = None,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
        client_factory: Callable[[], AmiClient] | None = None,
    ) -> None:
        self.settings = settings
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self.backoff = backoff or Backoff()
        self._sleep = sleep
        self._factory = client_factory or (
            lambda: AmiClient(action_timeout=settings.action_timeout)
        )
        self._subs: list[Subscription] = []
        self.client: AmiClient | None = None
        self._connected = asyncio.Event()
        self._resync_wanted = asyncio.Event()
        self.resyncs = 0
        self.connections = 0
        self.last_error: Exception | None = None
        self._failing = False
        # After a Shutdown event the peer is restarting: retry every `restart_delay` s (not
        # the growing backoff, which left calls waiting 11 s) for `restart_window` s.
        self.restart_delay = 0.5
        self.restart_window = 120.0
        self._restart_until = 0.0

    def subscribe(self, callback: EventCallback, names: Iterable[str] | None = None) -> None:
        """Subscribe to events on every present and future connection."""
        sub = Subscription(callback, None if names is None else frozenset(n.lower() for n in names))
        self._subs.append(sub)
        if self.client is not None:
            self.client.subscribe(sub.callback, sub.names)

    @property
    def connected(self) -> bool:
        """True while a logged-in connection exists."""
        return self.client is not None and self.client.connected

    async def wait_connected(self, within: float) -> None:
        """Wait until logged in, at most `within` s."""
        async with asyncio.timeout(within):
            await self._connected.wait()

    def request_resync(self) -> None:
        """Ask for a full resync on the current connection (merged with any pending request)."""
        self._resync_wanted.set()

    async def send_action(
        self, action: str, headers: Headers = (), *, deadline: float | None = None
    ) -> AmiResponse:
        """Send on the current connection; AmiNotConnected if there is none (never queued)."""
        client = self.client
        if client is None or not client.connected:
            raise AmiNotConnected(action)
        return await client.send_action(action, headers, deadline=deadline)

    async def run(self) -> None:
        """Connect and stay connected until cancelled."""
        try:
            while True:
                try:
                    auth_failure = await self._one_connection()
                except Exception as exc:  # whatever ends one attempt, the next one follows
                    self._report_failure(exc)
                    auth_failure = False
                delay = self.backoff.delay(auth_failure=auth_failure)
                if self.peer_restarting and not auth_failure:
                    delay = min(delay, self.restart_delay)
                await self._sleep(delay)
        finally:
            client, self.client = self.client, None
            self._connected.clear()
            if client is not None:
                await asyncio.shield(client.close(deadline=0.5))

    @property
    def peer_restarting(self) -> bool:
        """True for a while after the peer announced its shutdown (Event: Shutdown)."""
        return asyncio.get_running_loop().time() < self._restart_until

    async def _one_connection(self) -> bool:
        """Run one connection to its end; True when it ended because Login was refused."""
        s = self.settings
        client = self._factory()
        for sub in self._subs:
            client.subscribe(sub.callback, sub.names)
        client.subscribe(lambda _m: self.request_resync(), ("FullyBooted",))
        try:
            await client.connect(s.host, s.port, s.username, s.secret, deadline=s.connect_timeout)
        except AmiAuthenticationError as exc:
            self._report_failure(exc)
            return True
        except AmiConnectionError as exc:
            self._report_failure(exc)
            return False
        self.client = client
        self.connections += 1
        self.backoff.reset()
        self._restart_until = 0.0
        if self._failing:
            log.info("ami connection restored to %s:%s", s.host, s.port)
        self._failing = False
        self._connected.set()
        self._resync_wanted.set()
        worker = asyncio.create_task(self._resync_worker(client))
        try:
            await self._watch(client)
        except asyncio.CancelledError:  # stopped (e.g. leadership lost): log off, close
            await asyncio.shield(client.close(deadline=0.5))
            raise
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            self._connected.clear()
            self._resync_wanted.clear()
            self.client = None
        reason = client.close_reason or "closed"
        if client.shutdown_seen:
            self._restart_until = asyncio.get_running_loop().time() + self.restart_window
        log.warning("ami connection to %s:%s lost: %s", s.host, s.port, reason)
        if self._on_disconnected is not None:
            self._on_disconnected(reason)
        return False

    async def _watch(self, client: AmiClient) -> None:
        """Return once the connection has ended: closed by the peer, broken, or gone silent
        (no answer to Ping; then closed here, without a Logoff that could not be answered)."""
        closed = asyncio.ensure_future(client.wait_closed())
        pinger = asyncio.create_task(self._ping(client))
        try:
            await asyncio.wait((closed, pinger), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (closed, pinger):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        silent = pinger.result() if pinger.done() and not pinger.cancelled() else None
        if silent is not None:
            await client.close(logoff=False, reason=silent)

    async def _ping(self, client: AmiClient) -> str | None:
        """Ping every interval; the reason to give up on a silent connection, or None if it
        ended by itself. Any answer (even an error) proves the peer alive."""
        s = self.settings
        while True:
            # A real sleep, not self._sleep: that one is the (test-replaceable) backoff.
            await asyncio.sleep(s.ping_interval)
            try:
                await client.send_action("Ping", deadline=s.ping_deadline)
            except AmiActionTimeout:
                return f"no answer to Ping within {s.ping_deadline:g} s"
            except (AmiConnectionError, AmiNotConnected):
                return None

    def _report_failure(self, exc: Exception) -> None:
        self.last_error = exc
        # Log once when the connection starts failing; later attempts only at debug level.
        if not self._failing or isinstance(exc, AmiAuthenticationError):
            log.error("%s", exc)
        else:
            log.debug("%s", exc)
        self._failing = True

    async def _resync_worker(self, client: AmiClient) -> None:
        while True:
            await self._resync_wanted.wait()
            self._resync_wanted.clear()
            if self._on_connected is None:
                continue
            try:
                await self._on_connected(client)
                self.resyncs += 1
            except (AmiConnectionError, AmiNotConnected) as exc:
                log.warning("full resync interrupted: %s", exc)
            except Exception:
                log.exception("full resync failed")
