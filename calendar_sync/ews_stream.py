"""EWS streaming notifications: an Exchange calendar edit reaches routing within seconds.

The service account subscribes to each mailbox's calendar folder (Subscribe with a
StreamingSubscriptionRequest, impersonating the mailbox: the account needs Exchange's
ApplicationImpersonation role) and holds one GetStreamingEvents connection per group of up to
200 subscriptions. Exchange keeps that HTTP response open and writes one SOAP envelope per batch
of notifications (and a heartbeat, `StatusEvent`, every minute or so); after
`connection_timeout_min` it writes `ConnectionStatus Closed` and the next connection is opened
with the same subscriptions. A notification only says *that* a mailbox's calendar changed: the
mailbox is then read again through GetUserAvailability at once, and once more `recheck_s`
later (free/busy can lag the item store by a moment). A broken connection or a subscription
Exchange no longer knows (it forgets them ~30 min after the last connection) is answered by
subscribing the group again and reading all of its mailboxes (changes may have been missed);
retries back off up to `max_retry_s`. Polling stays on as the safety net.

exchangelib's streaming reads block, so each group streams in its own daemon thread; the XML of
a notification is a few hundred bytes, and the availability reads stay in the helper process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from exchangelib import BASIC, IMPERSONATION, NTLM, Account, Build, Configuration, Credentials
from exchangelib import Version as EwsVersion
from exchangelib.properties import DistinguishedFolderId, Mailbox, StatusEvent
from exchangelib.protocol import FailFast, Protocol
from exchangelib.services import GetStreamingEvents, SubscribeToStreaming

from calendar_sync.sources import ExchangeSettings

log = logging.getLogger(__name__)

Refresh = Callable[[Sequence[str]], Awaitable[None]]
EVENT_TYPES = ("CreatedEvent", "ModifiedEvent", "DeletedEvent", "MovedEvent", "CopiedEvent")
GROUP_SIZE = 200  # subscriptions per GetStreamingEvents connection (Exchange's guidance)


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """How long a streaming connection lives, when to read again, how retries back off."""

    connection_timeout_min: int = 30  # Exchange's maximum
    recheck_s: float = 2.0
    retry_s: float = 5.0
    max_retry_s: float = 600.0


class EwsStreaming:
    """Streaming subscriptions for many mailboxes; `run` until cancelled."""

    def __init__(
        self,
        settings: ExchangeSettings,
        username: str,
        password: str,
        refresh: Refresh,
        stream: StreamSettings | None = None,
    ) -> None:
        self.settings = settings
        self.stream = stream or StreamSettings()
        self.refresh = refresh
        self._credentials = Credentials(username, password)
        self._config: Configuration | None = None
        self._protocol: Protocol | None = None
        self._stop = threading.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.subscriptions = 0  # Subscribe calls that succeeded (tests, logs)
        self.connections = 0  # GetStreamingEvents connections opened
        self.notifications = 0  # change notifications received (heartbeats not counted)

    def _configuration(self, connections: int) -> Configuration:
        if self._config is None:
            s = self.settings
            self._config = Configuration(
                service_endpoint=s.endpoint,
                credentials=self._credentials,
                auth_type=BASIC if s.auth == "basic" else NTLM,
                version=EwsVersion(build=Build(*(int(p) for p in s.server_version.split(".")))),
                retry_policy=FailFast(),
                max_connections=connections + 2,  # one held open per group, plus Subscribe
            )
        return self._config

    def _account(self, mailbox: str, connections: int) -> Account:
        account = Account(
            primary_smtp_address=mailbox,
            config=self._configuration(connections),
            autodiscover=False,
            access_type=IMPERSONATION,
        )
        self._protocol = account.protocol
        return account

    async def run(self, mailboxes: Sequence[str]) -> None:
        """Subscribe every mailbox and pass changes to `refresh` (until cancelled)."""
        unique = sorted(set(mailboxes))
        if not unique:
            return
        groups = [unique[i : i + GROUP_SIZE] for i in range(0, len(unique), GROUP_SIZE)]
        loop = asyncio.get_running_loop()
        changed: asyncio.Queue[list[str]] = asyncio.Queue()

        def post(boxes: list[str]) -> None:  # from a streaming thread
            if not self._stop.is_set():
                with contextlib.suppress(RuntimeError):  # the loop is closing
                    loop.call_soon_threadsafe(changed.put_nowait, boxes)

        self._stop.clear()
        threads = [
            threading.Thread(
                target=self._stream_group,
                args=(group, len(groups), post),
                name=f"ews-stream-{n}",
                daemon=True,  # a read blocked in exchangelib must not hold up exit
            )
            for n, group in enumerate(groups)
        ]
        for t in threads:
            t.start()
        try:
            while True:
                boxes = await changed.get()
                while not changed.empty():  # one read for a burst of notifications
                    boxes += changed.get_nowait()
                task = asyncio.create_task(self._refresh_twice(sorted(set(boxes))))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        finally:
            await self._shutdown(threads)

    async def _refresh_twice(self, mailboxes: list[str]) -> None:
        await self.refresh(mailboxes)
        await asyncio.sleep(self.stream.recheck_s)
        await self.refresh(mailboxes)

    async def _shutdown(self, threads: list[threading.Thread]) -> None:
        self._stop.set()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        protocol, self._protocol = self._protocol, None
        if protocol is not None:
            # closing the sessions ends the blocked reads; a thread still waiting on a
            # silent server is a daemon and ends with its connection timeout
            await asyncio.to_thread(protocol.close)
            with contextlib.suppress(KeyError):
                del Protocol[self._config]
        await asyncio.to_thread(_join_all, threads, 2.0)

    def _stream_group(
        self, group: list[str], groups: int, post: Callable[[list[str]], None]
    ) -> None:
        """One group's subscriptions and connections, again and again (a daemon thread)."""
        failures = 0
        while not self._stop.is_set():
            try:
                ids: dict[str, str] = {}
                accounts = {m: self._account(m, groups) for m in group}
                for mailbox, account in accounts.items():
                    folder = DistinguishedFolderId(
                        id="calendar", mailbox=Mailbox(email_address=mailbox)
                    )
                    sub = SubscribeToStreaming(account=account).get(
                        folders=[folder], event_types=EVENT_TYPES
                    )
                    ids[str(sub)] = mailbox
                    self.subscriptions += 1
                if failures:
                    post(list(group))  # what changed while we were not listening
                failures = 0
                anchor = accounts[group[0]]
                while not self._stop.is_set():
                    self._listen(anchor, ids, post)
            except Exception as exc:  # exchangelib's error zoo: this group only, try again
                if self._stop.is_set():
                    return
                failures += 1
                delay = min(self.stream.retry_s * 2 ** (failures - 1), self.stream.max_retry_s)
                log.warning(
                    "exchange streaming for %d mailbox(es) failed (%s: %s); polling covers "
                    "them, subscribing again in %.0f s",
                    len(group),
                    type(exc).__name__,
                    exc,
                    delay,
                )
                self._stop.wait(delay)

    def _listen(
        self, anchor: Account, ids: dict[str, str], post: Callable[[list[str]], None]
    ) -> None:
        """One GetStreamingEvents connection, until Exchange closes it."""
        service = GetStreamingEvents(account=anchor)
        self.connections += 1
        for notification in service.call(
            subscription_ids=list(ids), connection_timeout=self.stream.connection_timeout_min
        ):
            if self._stop.is_set():
                return
            if isinstance(notification, Exception):
                raise notification
            if all(isinstance(e, StatusEvent) for e in notification.events):
                continue  # a heartbeat
            mailbox = ids.get(notification.subscription_id)
            if mailbox is None:
                log.info("exchange streaming: notification for unknown subscription dropped")
                continue
            self.notifications += 1
            post([mailbox])


def _join_all(threads: Sequence[threading.Thread], within_s: float) -> None:
    """Join the streaming threads within one shared bound (they are daemons after that)."""
    deadline = time.monotonic() + within_s
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
