"""The AMI client: one connection, Login, actions with deadlines, responses and events."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from switchboard.telephony.ami.protocol import FrameParser, Headers, Message, encode_action
from switchboard.telephony.errors import (
    AmiActionFailed,
    AmiActionTimeout,
    AmiAuthenticationError,
    AmiConnectionError,
    AmiNotConnected,
)

log = logging.getLogger("switchboard.telephony.ami")


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
class Subscription:
    """A subscriber: its callback and the events it wants."""

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
        self._subs: list[Subscription] = []
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
        sub = Subscription(callback, None if names is None else frozenset(n.lower() for n in names))
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
