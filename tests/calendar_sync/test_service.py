"""The sync loop with an injected clock: changes only, time-driven transitions, staleness."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from calendar_sync.changes import PresenceChange, Subscription
from calendar_sync.clock import ManualClock
from calendar_sync.errors import CalendarError, CalendarUnavailable
from calendar_sync.feed import IcsFeedClient, IcsFileWatcher
from calendar_sync.service import CalendarSync
from calendar_sync.sources import PollSettings
from routing.absence import AbsenceReason, BusyStatus, CalendarBlock
from routing.models import Hours
from routing.presence import PresenceRules
from tests.calendar_sync.servers import Event, FeedServer, ics, serve

TZ = ZoneInfo("Europe/Stockholm")
T0 = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)  # Monday 08:00 Stockholm
RULES = PresenceRules(timezone=TZ, working_hours=Hours(frozenset(range(5)), time(8), time(17)))
POLL = PollSettings(interval_s=60, max_age_s=900, jitter=0.0)


class FakeSource:
    """A calendar source held in memory; `error` makes the whole source fail."""

    def __init__(self) -> None:
        self.calendars: dict[str, list[CalendarBlock]] = {}
        self.error: CalendarError | None = None
        self.calls = 0

    async def fetch(
        self, locations: Sequence[str], window_start: datetime, window_end: datetime
    ) -> Mapping[str, list[CalendarBlock]]:
        """Every location's blocks, or raise the scripted error."""
        self.calls += 1
        if self.error is not None:
            raise self.error
        return {loc: list(self.calendars.get(loc, [])) for loc in locations}


def busy(start: timedelta, end: timedelta, subject: str = "Möte") -> CalendarBlock:
    """A busy block relative to T0."""
    return CalendarBlock(T0 + start, T0 + end, BusyStatus.BUSY, subject)


async def next_change(sub: Subscription) -> PresenceChange:
    """The next published change (bounded wait, in case of a bug)."""
    return await asyncio.wait_for(sub.get(), timeout=5)


async def settle() -> None:
    """Let every ready task run (bounded)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_only_users_whose_state_changes_are_emitted() -> None:
    """A future-only calendar edit emits nothing; a change of the current state emits one user."""
    clock = ManualClock(T0)
    sync = CalendarSync(RULES, clock)
    src = FakeSource()
    src.calendars = {"a": [busy(timedelta(hours=3), timedelta(hours=4))], "b": []}
    sync.add_source("fake", src, POLL, {"anna": "a", "bo": "b"})
    assert await sync.sync_once() == []
    src.calendars["a"] = [busy(timedelta(hours=5), timedelta(hours=6))]  # moved, still future
    assert await sync.sync_once() == []
    src.calendars["b"] = [busy(timedelta(minutes=-10), timedelta(hours=1), "Lunch")]
    (change,) = await sync.sync_once()
    assert change.user_id == "bo" and change.cause == "calendar" and change.before.redirect is None
    assert change.after.redirect is not None and change.after.redirect.reason is AbsenceReason.LUNCH
    assert sync.book().redirect_at("bo", T0) is not None


async def test_time_driven_transition_emitted_at_its_time_without_a_poll() -> None:
    """A meeting at 10:00 is published at 10:00 and ends at 11:00, polls or not."""
    clock = ManualClock(T0)
    sync = CalendarSync(RULES, clock)
    src = FakeSource()
    src.calendars["a"] = [busy(timedelta(hours=2), timedelta(hours=3))]
    sync.add_source(
        "fake", src, PollSettings(interval_s=86400, max_age_s=10**6, jitter=0), {"anna": "a"}
    )
    async with sync.subscribe() as sub, sync:
        await settle()
        assert src.calls == 1 and sub.pending() == []
        clock.advance(timedelta(hours=2))
        start = await next_change(sub)
        assert start.cause == "time" and start.at == T0 + timedelta(hours=2)
        assert start.after.redirect is not None
        clock.advance(timedelta(hours=1))
        end = await next_change(sub)
        assert end.cause == "time" and end.after.redirect is None
    assert src.calls == 1  # no poll was needed


async def test_source_failure_flags_stale_logs_once_and_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Failing: users flagged stale once, one warning; the redirect still ends at its end; recovery logged once."""
    caplog.set_level(logging.INFO, logger="calendar_sync.coordinator")
    clock = ManualClock(T0)
    sync = CalendarSync(RULES, clock)
    src = FakeSource()
    src.calendars["a"] = [busy(timedelta(minutes=-5), timedelta(minutes=30))]
    sync.add_source("exchange", src, PollSettings(60, max_age_s=3600, jitter=0), {"anna": "a"})
    (first,) = await sync.sync_once()
    assert first.after.redirect is not None
    src.error = CalendarUnavailable("exchange", "HTTP 500")
    (flagged,) = await sync.sync_once()
    assert flagged.cause == "error" and flagged.after.stale and flagged.after.redirect is not None
    assert await sync.sync_once() == []
    clock.advance(timedelta(minutes=30))
    (ended,) = sync.run_due()
    assert ended.cause == "time" and ended.after.redirect is None and ended.after.stale
    src.error = None
    (back,) = await sync.sync_once()
    assert back.cause == "recovered" and not back.after.stale
    text = [r.getMessage() for r in caplog.records]
    assert (
        sum(t.endswith("failing: exchange: HTTP 500") for t in text) == 1
        and sum("recovered" in t for t in text) == 1
    )


async def test_failed_longer_than_max_age_is_available_and_flagged() -> None:
    """Past max age a user whose source keeps failing is available, flagged stale, with an error."""
    clock = ManualClock(T0)
    sync = CalendarSync(RULES, clock)
    src = FakeSource()
    src.calendars["a"] = [busy(timedelta(minutes=-5), timedelta(hours=8), "Utbildning")]
    sync.add_source("graph", src, POLL, {"anna": "a"})
    await sync.sync_once()
    src.error = CalendarUnavailable("graph", "HTTP 503")
    await sync.sync_once()
    clock.advance(timedelta(seconds=900))
    (expired,) = sync.run_due()
    assert expired.cause == "max-age" and expired.after.redirect is None
    assert expired.after.stale and expired.after.error
    assert sync.book().redirect_at("anna", clock.now()) is None


async def test_backoff_honours_retry_after() -> None:
    """After a failure the next poll waits at least the server's retry-after."""
    clock = ManualClock(T0)
    sync = CalendarSync(RULES, clock)
    src = FakeSource()
    src.error = CalendarUnavailable("graph", "HTTP 429", retry_after=120)
    coordinator = sync.add_source("graph", src, POLL, {"anna": "a"})
    async with sync:
        await settle()
        assert coordinator.next_poll == T0 + timedelta(seconds=120)
        clock.advance(119)
        await settle()
        assert src.calls == 1
        clock.advance(1)
        await settle()
        assert src.calls == 2


async def test_feed_etag_304_and_malformed_keeps_last_good(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """ETag: 200 then 304; a feed turning malformed keeps the last good snapshot, reported once."""
    caplog.set_level(logging.WARNING, logger="calendar_sync.coordinator")
    server = FeedServer()
    server.put(
        "anna", ics(Event(T0 - timedelta(minutes=5), T0 + timedelta(hours=1), "Busy", "Möte"))
    )
    async with serve(server.app()) as base, aiohttp.ClientSession() as session:
        clock = ManualClock(T0)
        sync = CalendarSync(RULES, clock)
        client = IcsFeedClient(session, TZ)
        try:
            url = f"{base}/feeds/anna.ics"
            sync.add_source("ics_url", client, POLL, {"anna": url})
            (first,) = await sync.sync_once()
            assert first.after.redirect is not None
            assert await sync.sync_once() == []
            assert server.answered == [200, 304] and client.parses == 1
            server.put("anna", b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:garbage\r\n")
            (flagged,) = await sync.sync_once()
            assert flagged.after.stale and flagged.after.error
            assert flagged.after.redirect is not None
            assert await sync.sync_once() == []
            assert server.answered[-2:] == [200, 304]
        finally:
            await client.aclose()
    failing = [r for r in caplog.records if "failing" in r.getMessage()]
    assert len(failing) == 1


async def test_watched_file_change_picked_up_within_a_second(tmp_path: Path) -> None:
    """A local ICS file rewritten is noticed at the next 0.5 s watch tick."""
    path = tmp_path / "anna.ics"
    path.write_bytes(ics())
    clock = ManualClock(T0)
    sync = CalendarSync(RULES, clock)
    watcher = IcsFileWatcher(TZ)
    sync.add_source("ics", watcher, PollSettings(0.5, 900, jitter=0), {"anna": str(path)})
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(watcher.aclose)
        sub = await stack.enter_async_context(sync.subscribe())
        await stack.enter_async_context(sync)
        await settle()
        # replaced atomically, as calendar exports and sync tools write files
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(
            ics(Event(T0 - timedelta(minutes=1), T0 + timedelta(hours=1), "OOF", "Ledig"))
        )
        os.replace(tmp, path)
        got = []
        for _ in range(2):  # two watch ticks of virtual time at most
            clock.advance(0.5)
            for _ in range(500):  # let the tick's file read finish, however loaded the machine
                await asyncio.sleep(0.01)
                if got := sub.pending():
                    break
            if got:
                break
        else:
            pytest.fail("file change not picked up within two watch ticks")
    assert got[0].after.redirect is not None and got[0].source == "ics"
    assert clock.now() - T0 <= timedelta(seconds=1)


class SlowFeeds:
    """Many feeds held in memory; a fetch takes `per_feed_s` of virtual time per feed."""

    def __init__(self, clock: ManualClock, n: int, per_feed_s: float) -> None:
        self.clock = clock
        self.calendars: dict[str, list[CalendarBlock]] = {f"f{i}": [] for i in range(n)}
        self.per_feed_s = per_feed_s
        self.fetched: dict[str, list[datetime]] = {loc: [] for loc in self.calendars}

    async def fetch(
        self, locations: Sequence[str], window_start: datetime, window_end: datetime
    ) -> Mapping[str, list[CalendarBlock]]:
        """Every location's blocks, read at the start of the (virtually slow) fetch."""
        now = self.clock.now()
        out = {loc: list(self.calendars[loc]) for loc in locations}
        for loc in locations:
            self.fetched[loc].append(now)
        await self.clock.sleep_until(now + timedelta(seconds=self.per_feed_s * len(locations)))
        return out


async def test_staggered_feeds_change_emitted_within_interval_plus_slack() -> None:
    """3,000 feeds at a 30 s interval are polled in slots spread over the interval: a change is emitted within one interval + slack, and no feed waits longer than its interval for its next poll, even when a whole cycle would take longer than the interval."""
    clock = ManualClock(T0)
    sync = CalendarSync(RULES, clock, seed=7)
    feeds = SlowFeeds(clock, 3000, per_feed_s=0.02)  # a whole cycle: 60 s; one slot: 0.5 s
    poll = PollSettings(interval_s=30, max_age_s=900, jitter=0.1)
    coordinator = sync.add_source(
        "ics_url", feeds, poll, {f"u{i}": f"f{i}" for i in range(3000)}, staggered=True
    )
    slack = timedelta(seconds=1)
    step = 0.25
    async with sync.subscribe() as sub, sync:
        for _ in range(int(45 / step)):  # past the cold round and into the staggered rhythm
            clock.advance(step)
            await settle()
        assert sub.pending() == []
        for k, who in enumerate(("f17", "f1500", "f2999")):
            changed_at = clock.now()
            feeds.calendars[who] = [busy(timedelta(hours=-1), timedelta(days=1), f"Möte {k}")]
            got: list[PresenceChange] = []
            while not got:
                clock.advance(step)
                await settle()
                got = sub.pending()
                assert clock.now() - changed_at <= timedelta(seconds=30) + slack, who
            assert [c.user_id for c in got] == ["u" + who[1:]] and got[0].cause == "calendar"
            for _ in range(int(11 / step)):  # the next change lands at another phase
                clock.advance(step)
                await settle()
    # after the cold round every feed was polled at most one interval apart
    gaps = [b - a for times in feeds.fetched.values() for a, b in itertools.pairwise(times[1:])]
    assert gaps and max(gaps) <= timedelta(seconds=30)
    assert len(feeds.fetched["f0"]) >= 3
    assert coordinator.late_polls == 0  # type: ignore[attr-defined]


async def test_staggered_source_down_logged_once_and_recovers_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Staggered feeds whose server goes down: one warning, every user flagged stale at their slot's poll, one recovery line."""
    caplog.set_level(logging.INFO, logger="calendar_sync.coordinator")
    clock = ManualClock(T0)
    sync = CalendarSync(RULES, clock, seed=3)
    src = FakeSource()
    poll = PollSettings(interval_s=5, max_age_s=900, jitter=0.1)
    users = {f"u{i}": f"f{i}" for i in range(100)}
    sync.add_source("ics_url", src, poll, users, staggered=True)
    async with sync.subscribe() as sub, sync:
        await settle()
        src.error = CalendarUnavailable("ics_url", "ClientConnectorError: refused")
        for _ in range(30):  # 7.5 s: every slot has polled (and backed off) at least once
            clock.advance(0.25)
            await settle()
        flagged = {c.user_id for c in sub.pending() if c.after.stale and c.cause == "error"}
        assert flagged == set(users)
        src.error = None
        for _ in range(200):  # backoff is at most 10 s here, then interval 5 s
            clock.advance(0.25)
            await settle()
        back = {c.user_id for c in sub.pending() if c.cause == "recovered"}
        assert back == set(users)
    text = [r.getMessage() for r in caplog.records]
    assert sum("failing: ics_url" in t for t in text) == 1
    assert sum("recovered" in t for t in text) == 1
