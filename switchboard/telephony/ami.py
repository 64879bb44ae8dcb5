"""The Asterisk Manager Interface (AMI) adapter: a pure frame parser, a client and a supervisor.

Nothing else in the project speaks AMI; see docs/ami-client.md for why this is a small client of
our own rather than panoramisk.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from switchboard.telephony.errors import (
    AmiActionFailed,
    AmiActionTimeout,
    AmiAuthenticationError,
    AmiConnectionError,
    AmiNotConnected,
    UnsafeHeader,
)

log = logging.getLogger(__name__)

EOL = b"\r\n"
END = b"\r\n\r\n"
MAX_FRAME = 1 << 20  # a frame larger than 1 MiB means the stream is not AMI

Kind = Literal["banner", "response", "event", "action"]
Headers = Sequence[tuple[str, str]] | Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Message:
    """One AMI message: its kind (from the first line) and its headers in wire order."""

    kind: Kind
    headers: tuple[tuple[str, str], ...]
    # Lower-cased name → first value, built once: `get` is on every event's hot path.
    _index: dict[str, str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        index: dict[str, str] = {}
        for k, v in reversed(self.headers):
            index[k.lower()] = v
        object.__setattr__(self, "_index", index)

    @property
    def name(self) -> str:
        """The event name, the response status, or the banner text."""
        return self.headers[0][1] if self.headers else ""

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of a header (case-insensitive), or `default`."""
        return self._index.get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def get_all(self, key: str) -> list[str]:
        """Every value of a repeated header, e.g. Command's `Output:` lines."""
        low = key.lower()
        return [v for k, v in self.headers if k.lower() == low]

    @property
    def action_id(self) -> str | None:
        """The ActionID this message answers, if any."""
        return self.get("ActionID")

    def as_dict(self) -> dict[str, str]:
        """Headers as a dict (first value wins), for logging and tests."""
        out: dict[str, str] = {}
        for k, v in self.headers:
            out.setdefault(k, v)
        return out


def parse_frame(frame: bytes) -> Message | None:
    """Parse one complete frame (without the blank line); None for an empty or headerless frame.

    A message is classified by its first line only: `OriginateResponse` is an event that also
    carries a `Response:` header.
    """
    text = frame.decode("utf-8", errors="replace")
    headers: list[tuple[str, str]] = []
    index: dict[str, str] = {}
    for line in text.split("\r\n"):
        if not line:
            continue
        colon = line.find(":")
        if colon < 0:
            # Not a header; Asterisk never sends this after the banner, so keep it visible.
            headers.append(("", line))
            continue
        key = line[:colon].strip()
        value = line[colon + 2 :] if line.startswith(" ", colon + 1) else line[colon + 1 :]
        headers.append((key, value))
        index.setdefault(key.lower(), value)
    if not headers:
        return None
    kind = _KINDS.get(headers[0][0].lower())
    if kind is None:
        return None
    msg = object.__new__(Message)
    object.__setattr__(msg, "kind", kind)
    object.__setattr__(msg, "headers", tuple(headers))
    object.__setattr__(msg, "_index", index)
    return msg


_KINDS: dict[str, Kind] = {"event": "event", "response": "response", "action": "action"}


class FrameParser:
    """Incremental, pure AMI stream parser: feed it bytes as they arrive, get messages back.

    It splits on bytes and decodes only whole frames, so a UTF-8 character split across TCP
    reads is never lost (panoramisk decodes each read with errors='ignore').
    """

    def __init__(self, expect_banner: bool = True) -> None:
        self._buf = bytearray()
        self._banner_pending = expect_banner

    def feed(self, data: bytes) -> list[Message]:
        """Add received bytes; return every message completed by them, in order."""
        self._buf += data
        out: list[Message] = []
        if self._banner_pending:
            nl = self._buf.find(EOL)
            if nl < 0:
                self._check_size()
                return out
            banner = bytes(self._buf[:nl]).decode("utf-8", errors="replace")
            del self._buf[: nl + 2]
            self._banner_pending = False
            out.append(Message("banner", (("", banner),)))
        start = 0
        while True:
            end = self._buf.find(END, start)
            if end < 0:
                break
            msg = parse_frame(bytes(self._buf[start:end]))
            if msg is not None:
                out.append(msg)
            start = end + 4
        if start:
            del self._buf[:start]
        self._check_size()
        return out

    @property
    def pending(self) -> int:
        """Bytes buffered towards an incomplete frame."""
        return len(self._buf)

    def _check_size(self) -> None:
        if len(self._buf) > MAX_FRAME:
            raise ValueError("AMI frame larger than 1 MiB: not an AMI stream")


def check_header(name: str, value: str) -> None:
    """Raise UnsafeHeader if a header could inject lines or frames into the AMI stream."""
    if not name or any(c in name for c in "\r\n:") or name != name.strip():
        raise UnsafeHeader(name, "a header name must be a non-empty token without CR, LF or ':'")
    if "\r" in value or "\n" in value or "\x00" in value:
        raise UnsafeHeader(name, "a header value must not contain CR, LF or NUL")


def _items(headers: Headers) -> Iterable[tuple[str, str]]:
    return headers.items() if isinstance(headers, Mapping) else headers


def encode_action(action: str, action_id: str, headers: Headers = ()) -> bytes:
    """The wire bytes of one action: `Action`, `ActionID`, then the headers, CRLF, blank line.

    Every name and value is checked first; nothing is written if any is unsafe.
    """
    lines = [("Action", action), ("ActionID", action_id), *_items(headers)]
    for k, v in lines:
        check_header(k, v)
    return "".join(f"{k}: {v}\r\n" for k, v in lines).encode("utf-8") + EOL


@dataclass(frozen=True, slots=True)
class AmiResponse:
    """The answer to one action: its Response message and, for event lists, the list's events."""

    action: str
    response: Message
    events: tuple[Message, ...] = ()

    @property
    def success(self) -> bool:
        """True for `Response: Success` (and Goodbye/Follows)."""
        return self.response.name in ("Success", "Goodbye", "Follows")

    @property
    def message(self) -> str:
        """The response's `Message:` header, or ''."""
        return self.response.get("Message") or ""

    @property
    def output(self) -> list[str]:
        """Command output, one item per `Output:` line."""
        return self.response.get_all("Output")

    def get(self, key: str, default: str | None = None) -> str | None:
        """A header of the Response message."""
        return self.response.get(key, default)

    def raise_for_error(self) -> AmiResponse:
        """Raise AmiActionFailed for `Response: Error`; return self otherwise."""
        if not self.success:
            raise AmiActionFailed(self.action, self.message or self.response.name)
        return self


EventCallback = Callable[[Message], None]


@dataclass(eq=False)
class _Pending:
    action: str
    future: asyncio.Future[AmiResponse]
    response: Message | None = None
    events: list[Message] = field(default_factory=list)


@dataclass(eq=False)
class _Subscription:
    callback: EventCallback
    names: frozenset[str] | None  # lower-case event names; None = every event


class AmiClient:
    """One AMI connection: Login on connect, actions with deadlines, event subscriptions.

    Actions are sent only on a live, logged-in connection; when it drops, every pending action
    fails with AmiConnectionError and nothing is ever replayed on a later connection.
    """

    def __init__(self, *, action_timeout: float = 5.0, id_prefix: str = "sb") -> None:
        self.action_timeout = action_timeout
        self._ids = itertools.count(1)
        self._id_prefix = id_prefix
        self._pending: dict[str, _Pending] = {}
        self._subs: list[_Subscription] = []
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self._logged_in = False
        self.banner: str | None = None
        self.host = ""
        self.port = 0
        self.close_reason = ""
        self.shutdown_seen = False  # Event: Shutdown arrived: the peer is going away on purpose

    @property
    def connected(self) -> bool:
        """True while the connection is open and logged in."""
        return self._logged_in and not self._closed.is_set()

    @property
    def tcp_keepalive(self) -> bool:
        """Whether the socket has TCP keepalive on (it is, from connect on)."""
        sock = self._writer.get_extra_info("socket") if self._writer is not None else None
        return sock is not None and bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE))

    def subscribe(
        self, callback: EventCallback, names: Iterable[str] | None = None
    ) -> Callable[[], None]:
        """Call `callback` for each event (or only the named ones); returns an unsubscribe."""
        sub = _Subscription(
            callback, None if names is None else frozenset(n.lower() for n in names)
        )
        self._subs.append(sub)

        def unsubscribe() -> None:
            if sub in self._subs:
                self._subs.remove(sub)

        return unsubscribe

    async def connect(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        deadline: float = 10.0,
        login_action_id: str | None = None,
    ) -> None:
        """Open the connection, read the banner and Login; done only once Login succeeded.

        Raises AmiAuthenticationError on refused credentials, AmiConnectionError otherwise.
        """
        self.host, self.port = host, port
        try:
            async with asyncio.timeout(deadline):
                self._reader, self._writer = await asyncio.open_connection(host, port)
                _keepalive(self._writer.get_extra_info("socket"))
                parser = FrameParser()
                first: list[Message] = []
                while self.banner is None:
                    data = await self._reader.read(65536)
                    if not data:
                        raise AmiConnectionError(host, port, "closed before the banner")
                    for msg in parser.feed(data):
                        if msg.kind == "banner":
                            self.banner = msg.name
                        else:
                            first.append(msg)
                if not self.banner.startswith("Asterisk Call Manager/"):
                    raise AmiConnectionError(host, port, f"not an AMI banner: {self.banner!r}")
                self._read_task = asyncio.create_task(self._read_loop(parser, first))
                resp = await self._send(
                    "Login",
                    [("Username", username), ("Secret", secret)],
                    deadline=None,
                    action_id=login_action_id,
                    require_login=False,
                )
        except TimeoutError:
            await self._abort("login timed out")
            raise AmiConnectionError(
                host, port, f"no successful login within {deadline:g} s"
            ) from None
        except OSError as exc:
            await self._abort(str(exc))
            raise AmiConnectionError(host, port, str(exc) or type(exc).__name__) from exc
        except AmiConnectionError:
            await self._abort("closed during login")
            raise
        except Exception as exc:  # e.g. a peer sending 1 MiB without a line end: not AMI
            await self._abort(f"not an AMI stream: {exc}")
            raise AmiConnectionError(host, port, f"not an AMI stream: {exc}") from exc
        if not resp.success:
            await self._abort("login refused")
            raise AmiAuthenticationError(username, resp.message or resp.response.name)
        self._logged_in = True

    async def send_action(
        self,
        action: str,
        headers: Headers = (),
        *,
        deadline: float | None = None,
        action_id: str | None = None,
    ) -> AmiResponse:
        """Send one action and wait, at most `deadline` s, for its response (and event list)."""
        return await self._send(action, headers, deadline=deadline, action_id=action_id)

    async def _send(
        self,
        action: str,
        headers: Headers,
        *,
        deadline: float | None,
        action_id: str | None,
        require_login: bool = True,
    ) -> AmiResponse:
        aid = action_id or f"{self._id_prefix}-{next(self._ids)}"
        data = encode_action(action, aid, headers)  # raises before anything is written
        if self._writer is None or self._closed.is_set() or (require_login and not self._logged_in):
            raise AmiNotConnected(action)
        if aid in self._pending:
            raise ValueError(f"ActionID {aid!r} already in flight")
        fut: asyncio.Future[AmiResponse] = asyncio.get_running_loop().create_future()
        self._pending[aid] = _Pending(action, fut)
        limit = self.action_timeout if deadline is None else deadline
        try:
            self._writer.write(data)
            async with asyncio.timeout(limit):
                await self._writer.drain()
                return await fut
        except TimeoutError:
            raise AmiActionTimeout(action, aid, limit) from None
        except (ConnectionError, RuntimeError) as exc:
            raise AmiConnectionError(self.host, self.port, f"lost while sending {action}") from exc
        finally:
            self._pending.pop(aid, None)

    async def _read_loop(self, parser: FrameParser, first: list[Message]) -> None:
        assert self._reader is not None
        reason = "closed by the server"
        try:
            for msg in first:
                self._handle(msg)
            while True:
                data = await self._reader.read(65536)
                if not data:
                    break
                for msg in parser.feed(data):
                    self._handle(msg)
        except (OSError, ValueError) as exc:
            reason = f"read failed: {exc}"
        finally:
            self._finish(reason)

    def _handle(self, msg: Message) -> None:
        aid = msg.action_id
        pending = self._pending.get(aid) if aid is not None else None
        if msg.kind == "response":
            if pending is None or pending.response is not None:
                log.debug("ami response for no pending action: %s", aid)
                return
            pending.response = msg
            listing = (msg.get("EventList") or "").lower() == "start"
            if not listing and not pending.future.done():
                pending.future.set_result(AmiResponse(pending.action, msg))
            return
        if msg.kind != "event":
            return
        if pending is not None and pending.response is not None and not pending.future.done():
            pending.events.append(msg)
            if (msg.get("EventList") or "").lower() == "complete":
                pending.future.set_result(
                    AmiResponse(pending.action, pending.response, tuple(pending.events))
                )
            return
        if msg.name.lower() == "shutdown":
            self.close_reason = "Asterisk is shutting down"
            self.shutdown_seen = True
        self._dispatch(msg)

    def _dispatch(self, msg: Message) -> None:
        name = msg.name.lower()
        for sub in tuple(self._subs):
            if sub.names is not None and name not in sub.names:
                continue
            try:
                sub.callback(msg)
            except Exception:
                # A faulty subscriber must never stop the reader (asterisk-ami's reader died so).
                log.exception("ami event subscriber failed on %s", msg.name)

    def _finish(self, reason: str) -> None:
        if self._closed.is_set():
            return
        self.close_reason = self.close_reason or reason
        self._logged_in = False
        self._closed.set()
        for aid, pending in list(self._pending.items()):
            if not pending.future.done():
                pending.future.set_exception(
                    AmiConnectionError(self.host, self.port, f"{pending.action} {aid}: {reason}")
                )
        if self._writer is not None:
            self._writer.close()

    async def _abort(self, reason: str) -> None:
        self._finish(reason)
        await self._stop_reader()
        await self._wait_writer()

    async def _stop_reader(self) -> None:
        task = self._read_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _wait_writer(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(OSError, RuntimeError):
                await self._writer.wait_closed()

    async def wait_closed(self) -> None:
        """Wait until the connection is gone (server closed it, it broke, or close())."""
        await self._closed.wait()

    async def close(
        self, *, logoff: bool = True, deadline: float = 1.0, reason: str = "closed by the client"
    ) -> None:
        """Log off (best effort, bounded) and close the connection; `reason` ends up in
        `close_reason` unless the connection had already ended."""
        if logoff and self.connected:
            with contextlib.suppress(AmiActionTimeout, AmiConnectionError, AmiNotConnected):
                await self.send_action("Logoff", deadline=deadline)
        await self._abort(reason)


# Kernel-level liveness below the AMI Ping: probes after 30 s idle, every 10 s, 3 misses = dead.
# TCP_USER_TIMEOUT also fails a write the peer never acknowledges (a half-open link).
_KEEPALIVE = (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3))
_USER_TIMEOUT_MS = 60_000


def _keepalive(sock: socket.socket | None) -> None:
    """Turn TCP keepalive on (with Linux's timings where the platform has them)."""
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in _KEEPALIVE:
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, _USER_TIMEOUT_MS)


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
        self._subs: list[_Subscription] = []
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
        sub = _Subscription(
            callback, None if names is None else frozenset(n.lower() for n in names)
        )
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
