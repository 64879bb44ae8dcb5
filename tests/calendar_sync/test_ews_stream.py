"""EWS streaming notifications against a local Exchange on 127.0.0.1 that takes streaming
subscriptions and writes notifications into a chunked GetStreamingEvents response."""

from __future__ import annotations

import asyncio
import functools
import time as wall
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from calendar_sync.changes import PresenceChange, Subscription
from calendar_sync.clock import ManualClock
from calendar_sync.ews import EwsClient
from calendar_sync.ews_stream import EwsStreaming, StreamSettings
from calendar_sync.service import CalendarSync
from calendar_sync.sources import ExchangeSettings, PollSettings, Secret
from routing.models import Hours
from routing.presence import PresenceRules
from tests.calendar_sync.ews_stream_server import EwsStreamingServer
from tests.calendar_sync.servers import Event, serve

TZ = ZoneInfo("Europe/Stockholm")
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # Tuesday 10:00 in Stockholm
RULES = PresenceRules(TZ, Hours(frozenset(range(5)), time(8), time(17)))
SLOW_POLL = PollSettings(interval_s=3600, max_age_s=7200, jitter=0.0, timeout_s=10)
USERS = {"anna": "anna@contoso.se", "bo": "bo@contoso.se"}
MEETING = [Event(T0 - timedelta(minutes=5), T0 + timedelta(hours=1), "Busy", "Möte")]


@dataclass
class Streaming:
    """The running pieces of one test."""

    server: EwsStreamingServer
    streaming: EwsStreaming
    sync: CalendarSync
    changes: Subscription


async def until(check: object, within_s: float = 10.0) -> None:
    """Wait (bounded, real I/O) until `check()` is true."""
    assert callable(check)
    for _ in range(int(within_s / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not within {within_s:g} s")


async def change_of(sub: Subscription, who: str, within_s: float = 5.0) -> PresenceChange:
    """The next published change for `who` (bounded wait)."""
    async with asyncio.timeout(within_s):
        while True:
            change = await sub.get()
            if change.user_id == who:
                return change


@pytest.fixture
async def running() -> AsyncIterator[Streaming]:
    """Local Exchange, a sync polling once an hour, and both mailboxes streaming."""
    server = EwsStreamingServer()
    async with serve(server.app()) as base:
        settings = ExchangeSettings(
            endpoint=f"{base}/EWS/Exchange.asmx",
            username=Secret("EWS_USER"),
            password=Secret("EWS_PASSWORD"),
            auth="basic",
            retry_delay_s=0.0,
            automatic_replies=False,
            poll=SLOW_POLL,
        )
        client = EwsClient(settings, server.username, server.password, offload=False)
        sync = CalendarSync(RULES, ManualClock(T0))
        sync.add_source("exchange", client, SLOW_POLL, USERS)
        streaming = EwsStreaming(
            settings,
            server.username,
            server.password,
            functools.partial(sync.refresh, client),
            StreamSettings(recheck_s=0.2, retry_s=0.05, max_retry_s=0.2),
        )
        sync.companions.append(functools.partial(streaming.run, sorted(USERS.values())))
        try:
            async with sync.subscribe() as changes, sync:
                await until(lambda: len(server.streams) == 1 and sync.loaded.is_set())
                yield Streaming(server, streaming, sync, changes)
        finally:
            client.close()


async def test_an_exchange_calendar_edit_reaches_presence_through_streaming(
    running: Streaming,
) -> None:
    """Both calendar folders are subscribed while impersonating their mailboxes, on one
    streaming connection; a ModifiedEvent for Anna is her presence change at once (the next
    poll is an hour away), and only her mailbox is read again."""
    server = running.server
    assert sorted(server.subscriptions.values()) == sorted(USERS.values())
    assert sorted(server.impersonated) == sorted(USERS.values())
    assert sorted(server.streams[0].ids) == sorted(server.subscriptions)
    before = len(server.batches)
    started = wall.monotonic()
    assert server.change("anna@contoso.se", MEETING) == 1
    change = await change_of(running.changes, "anna")
    latency = wall.monotonic() - started
    assert change.cause == "calendar" and change.after.redirect is not None
    assert latency < 5.0, latency  # the goal; typically tens of milliseconds
    assert running.streaming.notifications == 1
    await until(lambda: len(server.batches) >= before + 2)  # at once, and the recheck
    assert server.batches[before:] == [["anna@contoso.se"], ["anna@contoso.se"]]


async def test_heartbeats_change_nothing(running: Streaming) -> None:
    """A StatusEvent (Exchange's keep-alive) reads nothing again and publishes nothing."""
    before = len(running.server.batches)
    assert running.server.notify("bo@contoso.se", "StatusEvent") == 1
    running.server.change("anna@contoso.se", [])  # a real change after it, as a marker
    await until(lambda: len(running.server.batches) > before)
    assert running.server.batches[before] == ["anna@contoso.se"]
    assert running.streaming.notifications == 1


async def test_a_closed_connection_is_reopened_with_the_same_subscriptions(
    running: Streaming,
) -> None:
    """`ConnectionStatus Closed` (the connection timeout) → a new GetStreamingEvents with the
    same subscription ids; no new Subscribe, and changes keep flowing."""
    server = running.server
    subscribed = running.streaming.subscriptions
    server.close_streams()
    await until(lambda: server.opened == 2 and len(server.streams) == 1)
    assert running.streaming.subscriptions == subscribed
    server.change("bo@contoso.se", MEETING)
    change = await change_of(running.changes, "bo")
    assert change.after.redirect is not None


async def test_forgotten_subscriptions_are_renewed_and_every_mailbox_read_again(
    running: Streaming,
) -> None:
    """Exchange forgot the subscriptions (ErrorSubscriptionNotFound): the group subscribes
    again and reads all its mailboxes (what changed meanwhile was not notified)."""
    server = running.server
    server.calendars["bo@contoso.se"] = MEETING  # changed while nobody listened
    server.close_streams(forget=True)
    change = await change_of(running.changes, "bo")
    assert change.after.redirect is not None
    await until(lambda: len(server.streams) == 1 and len(server.subscriptions) == 2)
    server.change("anna@contoso.se", MEETING)
    assert (await change_of(running.changes, "anna")).after.redirect is not None
