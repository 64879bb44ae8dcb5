"""The sync loop: one coordinator per calendar source, last good snapshots, presence changes.

Each source (EWS, Graph, CalDAV, ICS feeds, ICS files) is polled by its own coordinator
(calendar_sync.coordinator) with interval, jitter and backoff. Fetched blocks become
`UserPresence` (routing.presence); whenever a user's *current* state changes (redirect in force,
stale flag, error) a `PresenceChange` (calendar_sync.changes) is published on an in-process
channel; time-driven transitions are published by one timer (calendar_sync.state). The clock is
injected (calendar_sync.clock). `open_calendar_sync` builds the clients from the configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import zlib
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Mapping,
    Sequence,
)
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from calendar_sync.changes import ChangeChannel, PresenceChange
from calendar_sync.clock import Clock, SystemClock
from calendar_sync.coordinator import (
    Fetcher,
    PollGate,
    SourceCoordinator,
    StaggeredCoordinator,
)
from calendar_sync.errors import CalendarError
from calendar_sync.expander import FeedResult, Parser
from calendar_sync.feed import IcsFeedClient, IcsFileWatcher, feed_client_session
from calendar_sync.sources import CalendarSourcesSettings, PollSettings
from calendar_sync.state import Normalise, PresenceStates
from calendar_sync.workers import CalendarReaders
from routing.models import Organisation
from routing.presence import PresenceRules

log = logging.getLogger(__name__)


def bucket_of(location: str, buckets: int) -> int:
    """A stable bucket (0..buckets-1) for a calendar location, the same on every node."""
    return zlib.crc32(location.encode("utf-8")) % buckets if buckets > 1 else 0


class CalendarSync(PresenceStates):
    """Keeps every user's presence from their calendar source and publishes the changes.

    The sources are polled by coordinators (calendar_sync.coordinator); their results feed the
    state machine this class extends (calendar_sync.state).
    """

    def __init__(
        self,
        rules: PresenceRules,
        clock: Clock,
        *,
        window_before: timedelta = timedelta(hours=1),
        window_after: timedelta = timedelta(days=8),
        normalise: Normalise | None = None,
        channel: ChangeChannel | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(rules, clock, normalise=normalise, channel=channel)
        self.window_before = window_before
        self.window_after = window_after
        self.coordinators: list[SourceCoordinator] = []
        self._rng = random.Random(seed)
        self._tasks: list[asyncio.Task[None]] = []
        self.gate: PollGate | None = None  # None: poll every source (one node)
        # How long a poll waits for one calendar's read before the others go ahead without it.
        self.read_grace_s = 0.25
        # Long-running helpers started and stopped with the sync (push receivers).
        self.companions: list[Callable[[], Coroutine[Any, Any, None]]] = []

    # -- set-up

    def add_source(
        self,
        name: str,
        fetcher: Fetcher,
        poll: PollSettings,
        assignments: Mapping[str, str],
        *,
        staggered: bool = False,
        partition: str | None = None,
    ) -> SourceCoordinator:
        """Add a source polling `assignments` (user id -> location); `staggered` spreads it.

        `partition` names the share of the source this coordinator polls (default: `name`).
        """
        locations: dict[str, list[str]] = {}
        max_age = timedelta(seconds=poll.max_age_s)
        for uid, location in assignments.items():
            locations.setdefault(location, []).append(uid)
            self.add_user(uid, name, location, max_age)
        kind = StaggeredCoordinator if staggered else SourceCoordinator
        coordinator = kind(self, name, fetcher, poll, locations, self._rng)
        coordinator.partition = partition or name
        late = getattr(fetcher, "deliver_late", None)
        if late is not None and all(c.fetcher is not fetcher for c in self.coordinators):
            late(functools.partial(self._deliver, fetcher), self.read_grace_s)
        self.coordinators.append(coordinator)
        return coordinator

    async def refresh(self, fetcher: Fetcher, locations: Sequence[str]) -> None:
        """Fetch these locations now (a push notification said they changed) and apply them;
        a failure is left to the polling safety net."""
        start, end = self.window(self.clock.now())
        try:
            results = await fetcher.fetch(list(locations), start, end)
        except CalendarError as exc:
            log.info(
                "calendar refresh of %d location(s) failed, polling covers it: %s",
                len(locations),
                exc,
            )
            return
        collected: list[PresenceChange] = []
        outer, self._collect = self._collect, collected
        try:
            for location, result in results.items():
                self._deliver(fetcher, location, result)
        finally:
            self._collect = outer
        if outer is not None:
            outer.extend(collected)

    def _deliver(self, fetcher: Fetcher, location: str, result: FeedResult) -> None:
        """A read that outlasted its poll has ended: apply it like a poll's result."""
        now = self.clock.now()
        for c in self.coordinators:
            if c.fetcher is fetcher and location in c.locations:
                for uid in c.locations[location]:
                    self.apply(uid, result, now)
                c.log_user_errors({location: result})
                c.export([location])

    @property
    def partitions(self) -> list[str]:
        """Every coordinator's partition, in order."""
        return [c.partition for c in self.coordinators]

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """The fetch window around `now` (default now - 1 h .. now + 8 days)."""
        return now - self.window_before, now + self.window_after

    # -- running

    async def sync_once(self) -> list[PresenceChange]:
        """One poll of every source, concurrently; returns the changes it published."""
        collected: list[PresenceChange] = []
        self._collect = collected
        try:
            await asyncio.gather(*(c.poll_once() for c in self.coordinators))
            fetchers = {id(c.fetcher): c.fetcher for c in self.coordinators}
            for fetcher in fetchers.values():
                settle = getattr(fetcher, "settle", None)
                if settle is not None:
                    await settle()  # reads past the grace time are delivered here
        finally:
            self._collect = None
        return collected

    async def start(self) -> None:
        """Start every coordinator and the transition timer as tasks."""
        if self._tasks:
            return
        if not self._unloaded:
            self.loaded.set()
        for c in self.coordinators:
            self._tasks.append(asyncio.create_task(c.run(), name=f"calendar-sync-{c.name}"))
        self._tasks.append(asyncio.create_task(self._timer(), name="calendar-sync-timer"))
        for i, companion in enumerate(self.companions):
            self._tasks.append(asyncio.create_task(companion(), name=f"calendar-sync-push-{i}"))

    async def stop(self) -> None:
        """Cancel and await every task started by `start`."""
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def __aenter__(self) -> CalendarSync:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


# ---------------------------------------------------------------- wiring from configuration


def presence_rules(org: Organisation) -> PresenceRules:
    """PresenceRules from an organisation's time zone, hours, holidays and policy."""
    return PresenceRules(
        timezone=org.timezone,
        working_hours=org.working_hours,
        holidays=org.holidays,
        redirect_on=org.policy.redirect_on,
    )


@contextlib.asynccontextmanager
async def open_calendar_sync(
    org: Organisation,
    settings: CalendarSourcesSettings,
    *,
    clock: Clock | None = None,
    environ: Mapping[str, str] | None = None,
    parser: Parser | None = None,
    rules: PresenceRules | None = None,
    normalise: Normalise | None = None,
    buckets: int = 1,
) -> AsyncIterator[CalendarSync]:
    """A CalendarSync for every user's `calendar:`, with its clients; closes them on exit.

    Use as an aiohttp `cleanup_ctx` body: `async with open_calendar_sync(org, s) as sync:
    await sync.start(); sub = sync.subscribe(); ...`. Raises CalendarCredentialsMissing.
    With `buckets` > 1 each source is split by calendar location into that many partitions
    (`<kind>/<bucket>`, one coordinator each) that several nodes can share out.
    """
    from calendar_sync.ews import EwsClient
    from calendar_sync.graph import GraphClient

    tz: ZoneInfo = org.timezone
    sync = CalendarSync(
        rules or presence_rules(org),
        clock or SystemClock(),
        window_before=timedelta(seconds=settings.window_before_s),
        window_after=timedelta(seconds=settings.window_after_s),
        normalise=normalise,
    )

    def add(
        kind: str,
        fetcher: Fetcher,
        poll: PollSettings,
        users: Mapping[str, str],
        staggered: bool = False,
    ) -> None:
        if buckets <= 1:
            sync.add_source(kind, fetcher, poll, users, staggered=staggered)
            return
        parts: dict[int, dict[str, str]] = {}
        for uid, location in users.items():
            parts.setdefault(bucket_of(location, buckets), {})[uid] = location
        for b in sorted(parts):
            sync.add_source(
                kind, fetcher, poll, parts[b], partition=f"{kind}/{b}", staggered=staggered
            )

    by_kind: dict[str, dict[str, str]] = {"ics": {}, "ics_url": {}, "exchange": {}, "graph": {}}
    for user in org.directory.users:
        if user.calendar is not None:
            by_kind.setdefault(user.calendar.kind, {})[user.id] = user.calendar.location
    ews: EwsClient | None = None
    session: aiohttp.ClientSession | None = None
    feed_session: aiohttp.ClientSession | None = None
    readers = CalendarReaders()  # worker processes start on the first read
    closers: list[Callable[[], Awaitable[None]]] = []
    try:
        if by_kind["exchange"]:
            ex = settings.exchange
            if ex is None:
                raise CalendarError("exchange: users have exchange calendars, no endpoint is set")
            user_name = ex.username.resolve("exchange", environ)
            ews = EwsClient(ex, user_name, ex.password.resolve("exchange", environ))
            add("exchange", ews, ex.poll, by_kind["exchange"])
            if ex.streaming:
                from calendar_sync.ews_stream import EwsStreaming, StreamSettings

                streaming = EwsStreaming(
                    ex,
                    user_name,
                    ex.password.resolve("exchange", environ),
                    functools.partial(sync.refresh, ews),
                    StreamSettings(connection_timeout_min=ex.streaming_connection_timeout_min),
                )
                mailboxes = sorted(set(by_kind["exchange"].values()))
                sync.companions.append(functools.partial(streaming.run, mailboxes))
        if by_kind["graph"]:
            session = aiohttp.ClientSession()
        if by_kind["graph"]:
            gr = settings.graph
            if gr is None:
                raise CalendarError("graph: users have graph calendars, graph is not configured")
            assert session is not None
            client = GraphClient(
                gr,
                gr.tenant.resolve("graph", environ),
                gr.client_id.resolve("graph", environ),
                gr.client_secret.resolve("graph", environ),
                session,
            )
            add("graph", client, gr.poll, by_kind["graph"])
            if gr.notifications is not None:
                from calendar_sync.graph_notify import GraphNotifications, NotifySettings

                n = gr.notifications
                notifier = GraphNotifications(
                    client,
                    NotifySettings(
                        n.public_url,
                        n.client_state.resolve("graph", environ),
                        n.listen_host,
                        n.listen_port,
                        n.expiration_s,
                        n.renew_before_s,
                        n.recheck_s,
                    ),
                    functools.partial(sync.refresh, client),
                    sync.clock,
                )
                users = sorted(set(by_kind["graph"].values()))
                sync.companions.append(functools.partial(notifier.run, users))
        if by_kind["ics_url"]:
            feeds = settings.ics_url
            feed_session = feed_client_session(feeds.poll.concurrency)
            feed_client = IcsFeedClient(
                feed_session,
                tz,
                max_bytes=feeds.max_bytes,
                timeout_s=feeds.poll.timeout_s,
                concurrency=feeds.poll.concurrency,
                parser=parser,
                readers=readers,
            )
            closers.append(feed_client.aclose)
            add("ics_url", feed_client, feeds.poll, by_kind["ics_url"], staggered=True)
        if by_kind.get("caldav"):
            from calendar_sync.dav import CalDavClient

            dav = settings.caldav
            if dav is None:
                raise CalendarError("caldav: users have CalDAV calendars, caldav is not configured")
            dav_client = CalDavClient(
                dav,
                dav.username.resolve("caldav", environ),
                dav.password.resolve("caldav", environ),
                tz,
                readers=readers,
                parser=parser,
            )
            closers.append(dav_client.aclose)
            add("caldav", dav_client, dav.poll, by_kind["caldav"])
        if by_kind["ics"]:
            watcher = IcsFileWatcher(tz, parser=parser, readers=readers)
            closers.append(watcher.aclose)
            add("ics", watcher, settings.ics.poll, by_kind["ics"])
        yield sync
    finally:
        await sync.stop()
        for close in closers:
            await close()
        await asyncio.to_thread(readers.close)
        for open_session in (session, feed_session):
            if open_session is not None:
                await open_session.close()
        if ews is not None:
            await asyncio.to_thread(ews.close)
