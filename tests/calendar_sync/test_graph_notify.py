"""Graph change notifications against a local Graph on 127.0.0.1 that validates, posts change
and lifecycle notifications, and takes renewals as documented."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from calendar_sync.changes import PresenceChange, Subscription
from calendar_sync.clock import ManualClock
from calendar_sync.graph import GraphClient
from calendar_sync.graph_notify import GraphNotifications, NotifySettings
from calendar_sync.service import CalendarSync
from calendar_sync.sources import GraphSettings, PollSettings, Secret
from routing.models import Hours
from routing.presence import PresenceRules
from tests.calendar_sync.servers import FIXTURES, Event, GraphServer, serve

TZ = ZoneInfo("Europe/Stockholm")
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # Tuesday 10:00 in Stockholm
RULES = PresenceRules(TZ, Hours(frozenset(range(5)), time(8), time(17)))
SLOW_POLL = PollSettings(interval_s=3600, max_age_s=7200, jitter=0.0)  # push, not polling
USERS = {"anna": "anna@contoso.se", "bo": "bo@contoso.se"}
SECRET = "a-long-random-client-state"


@dataclass
class Push:
    """The running pieces of one test."""

    server: GraphServer
    client: GraphClient
    sync: CalendarSync
    notifier: GraphNotifications
    clock: ManualClock
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
async def push() -> AsyncIterator[Push]:
    """Local Graph, a sync polling once an hour, and the notification receiver subscribed."""
    server = GraphServer()
    clock = ManualClock(T0)
    async with serve(server.app()) as base, aiohttp.ClientSession() as session:
        settings = dataclasses.replace(
            GraphSettings(Secret("T"), Secret("C"), Secret("S")),
            authority=base,
            base_url=f"{base}/v1.0",
            automatic_replies=False,
            poll=SLOW_POLL,
        )
        client = GraphClient(
            settings, server.tenant, server.client_id, server.client_secret, session
        )
        sync = CalendarSync(RULES, clock)
        sync.add_source("graph", client, SLOW_POLL, USERS)
        notify = NotifySettings(
            "https://placeholder", SECRET, expiration_s=3600, renew_before_s=600
        )
        notifier = GraphNotifications(
            client, notify, functools.partial(sync.refresh, client), clock
        )
        await notifier.start()
        assert notifier.local_url is not None
        # In production a reverse proxy maps public_url to the listener; here they are one.
        notifier.settings = dataclasses.replace(notify, public_url=notifier.local_url)
        sync.companions.append(functools.partial(notifier.run, sorted(USERS.values())))
        async with sync.subscribe() as changes, sync:
            await until(lambda: len(server.subscriptions) == 2)
            await until(lambda: sync.loaded.is_set())
            yield Push(server, client, sync, notifier, clock, changes)


async def test_handshake_then_a_calendar_edit_reaches_presence_without_polling(
    push: Push,
) -> None:
    """Both URLs pass Graph's validationToken handshake before the subscriptions exist; an
    edit in Anna's calendar is published as her presence change at once (the next poll is an
    hour away), with clientState checked."""
    assert len(push.server.validated) == 4  # notify + lifecycle, for each of the two users
    sub = push.server.subscription_of("anna@contoso.se")
    assert sub["clientState"] == SECRET and sub["changeType"] == "created,updated,deleted"
    assert sub["resource"] == "/users/anna%40contoso.se/events"
    status = await push.server.change(
        "anna@contoso.se",
        [Event(T0 - timedelta(minutes=5), T0 + timedelta(hours=1), "Busy", "Möte")],
    )
    assert status == 202
    change = await change_of(push.changes, "anna")
    assert change.cause == "calendar" and change.after.redirect is not None
    assert push.notifier.received == 1


async def test_a_notification_with_a_wrong_client_state_is_dropped(push: Push) -> None:
    """A POST that does not carry our clientState (not from Graph) changes nothing."""
    before = len(push.server.batches)
    status = await push.server.change(
        "bo@contoso.se",
        [Event(T0 - timedelta(minutes=5), T0 + timedelta(hours=1), "Busy", "Möte")],
        client_state="secretClientValue",
    )
    assert status == 202 and push.notifier.rejected == 1 and push.notifier.received == 0
    # A genuine notification for Anna afterwards: her refresh arrives, Bo's never did.
    await push.server.change("anna@contoso.se", [])
    await until(lambda: len(push.server.batches) > before)
    assert push.server.batches[before:] == [["anna@contoso.se"]]
    assert all(c.user_id != "bo" for c in push.changes.pending())


async def test_lifecycle_notifications_renew_resubscribe_and_refetch(push: Push) -> None:
    """reauthorizationRequired → PATCH; subscriptionRemoved → a new subscription (validated
    again); missed → the user is fetched again."""
    anna = str(push.server.subscription_of("anna@contoso.se")["id"])
    assert await push.server.lifecycle("anna@contoso.se", "reauthorizationRequired") == 202
    await until(lambda: push.server.renewed == [anna])
    assert await push.server.lifecycle("bo@contoso.se", "subscriptionRemoved") == 202
    await until(lambda: len(push.server.subscriptions) == 2 and len(push.server.validated) == 6)
    before = len(push.server.batches)
    push.server.calendars["anna@contoso.se"] = [
        Event(T0 - timedelta(minutes=1), T0 + timedelta(hours=2), "OOF", "Semester")
    ]
    assert await push.server.lifecycle("anna@contoso.se", "missed") == 202
    change = await change_of(push.changes, "anna")
    assert change.after.redirect is not None and len(push.server.batches) > before


async def test_subscriptions_are_renewed_before_they_expire(push: Push) -> None:
    """With one-hour subscriptions renewed ten minutes ahead, moving the clock to 50 minutes
    renews both, and the next renewal moves an hour on."""
    assert push.server.renewed == []
    first = push.notifier.next_renewal()
    assert first is not None and first <= T0 + timedelta(minutes=50)
    push.clock.advance(50 * 60)
    await until(lambda: len(push.server.renewed) == 2)
    later = push.notifier.next_renewal()
    assert later is not None and later >= first + timedelta(minutes=49)


def test_change_notification_fixture_shape() -> None:
    """The documented change notification payload (event resource) has what the receiver reads."""
    doc = json.loads((FIXTURES / "graph" / "change_notification_event_updated.json").read_text())
    (item,) = doc["value"]
    assert {"subscriptionId", "clientState", "changeType", "resource"} <= set(item)
