"""Microsoft Graph change notifications: a calendar edit reaches routing within seconds.

One subscription per user on `/users/{id}/events` (created, updated, deleted). Graph validates
the notification URL before it creates a subscription (POST `?validationToken=…`, answered with
the token as text/plain within 10 s); every notification carries our `clientState`, compared in
constant time, and one that does not match is dropped and logged (someone else posting). A
notification only says *that* the user's calendar changed: the user is then fetched again through
getSchedule at once, and once more `recheck_s` later (Graph's schedule view can lag the event
store by a moment). Subscriptions are renewed `renew_before_s` ahead of their expiry;
lifecycle notifications are honoured (`reauthorizationRequired` → renew, `subscriptionRemoved` →
subscribe again, `missed` → fetch again). Polling stays on as the safety net.

The receiver is its own small aiohttp server (`listen`), reached by Graph at `public_url` through
the municipality's reverse proxy (Graph only posts to HTTPS).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from calendar_sync.clock import Clock
from calendar_sync.errors import CalendarError, CalendarUnavailable
from calendar_sync.graph import SOURCE, GraphClient

log = logging.getLogger(__name__)

Refresh = Callable[[Sequence[str]], Awaitable[None]]
_MAX_BODY = 1_000_000  # a notification batch is a few kB


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """Where Graph posts, where we listen, and how long subscriptions live."""

    public_url: str  # https://switchboard.example.se/graph/notify (Graph → reverse proxy)
    client_state: str
    listen_host: str = "127.0.0.1"
    listen_port: int = 0  # 0: any free port (tests)
    expiration_s: float = 3 * 86400.0  # events allow up to 10,080 minutes
    renew_before_s: float = 6 * 3600.0
    recheck_s: float = 2.0


@dataclass(slots=True)
class _Subscription:
    id: str
    user: str
    expires: datetime


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


class GraphNotifications:
    """Subscriptions per user, the webhook receiver, renewal and lifecycle handling."""

    def __init__(
        self,
        client: GraphClient,
        settings: NotifySettings,
        refresh: Refresh,
        clock: Clock,
    ) -> None:
        self.client = client
        self.settings = settings
        self.refresh = refresh
        self.clock = clock
        self.by_id: dict[str, _Subscription] = {}
        self.by_user: dict[str, _Subscription] = {}
        self.rejected = 0  # notifications dropped for a wrong clientState
        self.received = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.local_url: str | None = None  # where the receiver listens (tests post here)

    # -- the receiver

    def app(self) -> web.Application:
        """POST /notify (changes) and POST /lifecycle."""
        app = web.Application(client_max_size=_MAX_BODY)
        app.router.add_post("/notify", self._notify)
        app.router.add_post("/lifecycle", self._lifecycle)
        return app

    async def start(self) -> None:
        """Listen on `listen_host:listen_port`."""
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.listen_host, self.settings.listen_port)
        await site.start()
        self._runner = runner
        server = site._server
        port = server.sockets[0].getsockname()[1] if server is not None else 0  # type: ignore[attr-defined]
        self.local_url = f"http://{self.settings.listen_host}:{port}"

    async def stop(self) -> None:
        """Stop listening and wait for refreshes in progress."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @staticmethod
    def _validation(request: web.Request) -> web.Response | None:
        token = request.query.get("validationToken")
        if token is None:
            return None
        # Graph's handshake: the decoded token back, as text/plain, within 10 seconds.
        return web.Response(text=token, content_type="text/plain")

    async def _items(self, request: web.Request) -> list[dict[str, Any]]:
        try:
            doc = await request.json()
        except ValueError:
            return []
        value = doc.get("value") if isinstance(doc, dict) else None
        return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []

    def _trusted(self, item: dict[str, Any]) -> _Subscription | None:
        given = str(item.get("clientState") or "")
        if not hmac.compare_digest(given.encode(), self.settings.client_state.encode()):
            self.rejected += 1
            log.warning("graph notification with a wrong clientState dropped (not from Graph?)")
            return None
        return self.by_id.get(str(item.get("subscriptionId") or ""))

    async def _notify(self, request: web.Request) -> web.Response:
        if (answer := self._validation(request)) is not None:
            return answer
        users = []
        for item in await self._items(request):
            sub = self._trusted(item)
            if sub is not None:
                self.received += 1
                users.append(sub.user)
        if users:
            self._spawn(self._refresh_twice(sorted(set(users))))
        return web.Response(status=202)  # acknowledged at once: Graph waits 3 s at most

    async def _lifecycle(self, request: web.Request) -> web.Response:
        if (answer := self._validation(request)) is not None:
            return answer
        for item in await self._items(request):
            sub = self._trusted(item)
            if sub is None:
                continue
            event = str(item.get("lifecycleEvent") or "")
            if event == "reauthorizationRequired":
                self._spawn(self._renew(sub))
            elif event == "subscriptionRemoved":
                self._forget(sub)
                self._spawn(self.ensure([sub.user]))
            elif event == "missed":
                self._spawn(self._refresh_twice([sub.user]))
            else:
                log.info("graph lifecycle event %r ignored", event)
        return web.Response(status=202)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh_twice(self, users: list[str]) -> None:
        await self.refresh(users)
        await self.clock.sleep_until(self.clock.now() + timedelta(seconds=self.settings.recheck_s))
        await self.refresh(users)

    # -- subscriptions

    async def _call(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        token = await self.client._get_token()
        url = f"{self.client.settings.base_url}{path}"
        timeout = aiohttp.ClientTimeout(total=self.client.settings.poll.timeout_s)
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with self.client._session.request(
                method, url, json=body, headers=headers, timeout=timeout
            ) as resp:
                status = resp.status
                doc = await resp.json(content_type=None) if status in (200, 201) else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise CalendarUnavailable(SOURCE, f"{method} {path}: {exc!r}") from exc
        if status not in (200, 201, 204):
            raise CalendarUnavailable(SOURCE, f"{method} {path} answered HTTP {status}")
        return doc

    async def ensure(self, users: Sequence[str]) -> None:
        """Subscribe every user who has no subscription (errors logged; polling covers them)."""
        public = self.settings.public_url.rstrip("/")
        created = False
        for user in users:
            if user in self.by_user:
                continue
            expires = self.clock.now() + timedelta(seconds=self.settings.expiration_s)
            body = {
                "changeType": "created,updated,deleted",
                "notificationUrl": f"{public}/notify",
                "lifecycleNotificationUrl": f"{public}/lifecycle",
                "resource": f"/users/{quote(user)}/events",
                "expirationDateTime": _stamp(expires),
                "clientState": self.settings.client_state,
            }
            try:
                doc = await self._call("POST", "/subscriptions", body)
            except CalendarError as exc:
                log.warning("graph: no change notifications for %s (polled instead): %s", user, exc)
                continue
            if not isinstance(doc, dict) or not doc.get("id"):
                continue
            sub = _Subscription(str(doc["id"]), user, _parse_expiry(doc, expires))
            self.by_id[sub.id], self.by_user[user] = sub, sub
            created = True
        if created:
            self._wake.set()  # the renewal timer may have to move earlier

    def _forget(self, sub: _Subscription) -> None:
        self.by_id.pop(sub.id, None)
        if self.by_user.get(sub.user) is sub:
            del self.by_user[sub.user]

    async def _renew(self, sub: _Subscription) -> None:
        expires = self.clock.now() + timedelta(seconds=self.settings.expiration_s)
        try:
            doc = await self._call(
                "PATCH", f"/subscriptions/{quote(sub.id)}", {"expirationDateTime": _stamp(expires)}
            )
        except CalendarError as exc:
            log.warning(
                "graph: subscription of %s not renewed (%s); subscribing again", sub.user, exc
            )
            self._forget(sub)
            await self.ensure([sub.user])
            return
        sub.expires = _parse_expiry(doc, expires)

    def next_renewal(self) -> datetime | None:
        """When the first subscription is due for renewal."""
        if not self.by_id:
            return None
        ahead = timedelta(seconds=self.settings.renew_before_s)
        return min(s.expires for s in self.by_id.values()) - ahead

    async def renew_due(self) -> None:
        """Renew every subscription within `renew_before_s` of its expiry."""
        due = self.clock.now() + timedelta(seconds=self.settings.renew_before_s)
        for sub in [s for s in self.by_id.values() if s.expires <= due]:
            await self._renew(sub)

    async def run(self, users: Sequence[str]) -> None:
        """Listen, subscribe everyone, then renew on time (until cancelled)."""
        if self._runner is None:
            await self.start()
        try:
            await self.ensure(users)
            while True:
                self._wake.clear()
                await self.renew_due()
                await self.ensure(users)  # users whose subscription was removed or failed
                when = self.next_renewal()
                waiter = asyncio.ensure_future(self._wake.wait())
                sleeper = (
                    asyncio.ensure_future(self.clock.sleep_until(when))
                    if when is not None
                    else None
                )
                try:
                    await asyncio.wait(
                        {f for f in (waiter, sleeper) if f is not None},
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    for f in (waiter, sleeper):
                        if f is not None and not f.done():
                            f.cancel()
                            with contextlib.suppress(asyncio.CancelledError):
                                await f
        finally:
            await self.stop()


def _parse_expiry(doc: Any, default: datetime) -> datetime:
    raw = doc.get("expirationDateTime") if isinstance(doc, dict) else None
    if not isinstance(raw, str):
        return default
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return default
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
