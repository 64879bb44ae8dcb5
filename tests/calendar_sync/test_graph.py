"""Microsoft Graph getSchedule and client-credentials token against a local server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from calendar_sync.errors import (
    CalendarAuthFailed,
    CalendarParseError,
    CalendarUnavailable,
    MailboxNotFound,
)
from calendar_sync.graph import GraphClient, blocks_from_schedule
from calendar_sync.sources import GraphSettings, Secret
from routing.absence import BusyStatus
from tests.calendar_sync.servers import FIXTURES, Event, GraphServer, serve

T0 = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
WINDOW = (T0 - timedelta(hours=1), T0 + timedelta(days=8))


class FakeTime:
    """Monotonic time and a sleep that records instead of waiting."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        """Current fake monotonic seconds."""
        return self.t

    async def sleep(self, seconds: float) -> None:
        """Record the wait and move fake time on."""
        self.slept.append(seconds)
        self.t += seconds


@pytest.fixture
async def graph() -> AsyncIterator[tuple[GraphServer, GraphClient, FakeTime]]:
    """A local Graph + token endpoint and a client pointed at it."""
    server = GraphServer()
    fake = FakeTime()
    async with serve(server.app()) as base, aiohttp.ClientSession() as session:
        s = replace(
            GraphSettings(Secret("T"), Secret("C"), Secret("S")),
            authority=base,
            base_url=f"{base}/v1.0",
        )
        client = GraphClient(
            s,
            server.tenant,
            server.client_id,
            server.client_secret,
            session,
            sleep=fake.sleep,
            monotonic=fake.monotonic,
        )
        yield server, client, fake


async def test_schedules_statuses_and_private_item(
    graph: tuple[GraphServer, GraphClient, FakeTime],
) -> None:
    """Statuses map, times are UTC, and isPrivate hides the subject (HV-04)."""
    server, client, _ = graph
    server.calendars["anna@contoso.se"] = [
        Event(T0, T0 + timedelta(hours=1), "Busy", "Lunch"),
        Event(T0 + timedelta(hours=2), T0 + timedelta(hours=3), "Busy", "Sjukvård", private=True),
        Event(T0 + timedelta(days=1), T0 + timedelta(days=2), "OOF", "Semester"),
        Event(T0 + timedelta(hours=4), T0 + timedelta(hours=5), "WorkingElsewhere", "Hemma"),
    ]
    result = await client.fetch(["anna@contoso.se"], *WINDOW)
    blocks = result["anna@contoso.se"]
    assert isinstance(blocks, list)
    assert [(b.start, b.status, b.subject, b.private) for b in blocks] == [
        (T0, BusyStatus.BUSY, "Lunch", False),
        (T0 + timedelta(hours=2), BusyStatus.BUSY, None, True),
        (T0 + timedelta(hours=4), BusyStatus.WORKING_ELSEWHERE, "Hemma", False),
        (T0 + timedelta(days=1), BusyStatus.OOF, "Semester", False),
    ]


async def test_at_most_20_schedules_per_request(
    graph: tuple[GraphServer, GraphClient, FakeTime],
) -> None:
    """45 schedules: requests of 20, 20 and 5, one token for all."""
    server, client, _ = graph
    ids = [f"u{i}@contoso.se" for i in range(45)]
    result = await client.fetch(ids, *WINDOW)
    assert sorted(len(b) for b in server.batches) == [5, 20, 20]
    assert set(result) == set(ids) and server.tokens_issued == 1


async def test_429_retry_after_honoured(graph: tuple[GraphServer, GraphClient, FakeTime]) -> None:
    """A documented 429 with Retry-After: 2.128 is waited out, then the request succeeds."""
    server, client, fake = graph
    server.throttle_next = 1
    server.calendars["a@contoso.se"] = [Event(T0, T0 + timedelta(hours=1))]
    result = await client.fetch(["a@contoso.se"], *WINDOW)
    assert fake.slept == [pytest.approx(2.128)]
    assert isinstance(result["a@contoso.se"], list) and len(result["a@contoso.se"]) == 1


async def test_503_504_back_off_then_give_up(
    graph: tuple[GraphServer, GraphClient, FakeTime],
) -> None:
    """503/504 back off exponentially; past max_retries the source is unavailable."""
    server, client, fake = graph
    server.fail_next = [503, 504, 503, 503]
    with pytest.raises(CalendarUnavailable):
        await client.fetch(["a@contoso.se"], *WINDOW)
    assert fake.slept == [1.0, 2.0, 4.0]


async def test_expired_token_refreshed(graph: tuple[GraphServer, GraphClient, FakeTime]) -> None:
    """A token is renewed before it expires, and a revoked one (401) is replaced once."""
    server, client, fake = graph
    server.expires_in = 600
    await client.fetch(["a@contoso.se"], *WINDOW)
    fake.t += 301  # inside the 300 s refresh margin
    await client.fetch(["a@contoso.se"], *WINDOW)
    assert server.tokens_issued == 2
    server.revoked.add("token-2")
    result = await client.fetch(["a@contoso.se"], *WINDOW)
    assert server.tokens_issued == 3 and result["a@contoso.se"] == []


async def test_bad_client_secret_is_auth_failure(
    graph: tuple[GraphServer, GraphClient, FakeTime],
) -> None:
    """The token endpoint's invalid_client becomes CalendarAuthFailed."""
    server, client, _ = graph
    server.client_secret = "rotated"
    with pytest.raises(CalendarAuthFailed):
        await client.fetch(["a@contoso.se"], *WINDOW)


async def test_unknown_schedule_does_not_lose_the_others(
    graph: tuple[GraphServer, GraphClient, FakeTime],
) -> None:
    """A per-schedule freeBusyError is that schedule's error only."""
    server, client, _ = graph
    server.not_found.add("gone@contoso.se")
    result = await client.fetch(["gone@contoso.se", "a@contoso.se"], *WINDOW)
    assert isinstance(result["gone@contoso.se"], MailboxNotFound)
    assert result["a@contoso.se"] == []


async def test_documented_response_in_pacific_time(
    graph: tuple[GraphServer, GraphClient, FakeTime],
) -> None:
    """Microsoft's documented getSchedule answer (Pacific Standard Time) converts to UTC."""
    server, client, _ = graph
    server.raw_schedule = json.loads((FIXTURES / "graph" / "getschedule_response.json").read_text())
    result = await client.fetch(
        ["adelev@contoso.onmicrosoft.com", "meganb@contoso.onmicrosoft.com"], *WINDOW
    )
    adele = result["adelev@contoso.onmicrosoft.com"]
    assert isinstance(adele, list)
    assert adele[0].start == datetime(2019, 3, 15, 19, 0, tzinfo=UTC)
    assert adele[0].subject == "Let's go for lunch"
    megan = result["meganb@contoso.onmicrosoft.com"]
    assert isinstance(megan, list) and len(megan) == 5


async def test_any_windows_zone_name_and_an_unknown_one_per_schedule(
    graph: tuple[GraphServer, GraphClient, FakeTime],
) -> None:
    """Items in "E. Europe Standard Time" or any other Windows zone read; an unknown zone fails
    only its own schedule, with an error naming the zone."""
    server, client, _ = graph
    raw = (FIXTURES / "graph" / "getschedule_response_windows_zones.json").read_text()
    server.raw_schedule = json.loads(raw)
    ids = [
        "elin.ek@contoso.se",
        "piotr.nowak@contoso.se",
        "custom.zone@contoso.se",
        "anna@contoso.se",
    ]
    result = await client.fetch(ids, *WINDOW)
    elin, piotr, custom, anna = (result[i] for i in ids)
    assert isinstance(elin, list)
    assert [(b.start, b.end, b.status, b.subject) for b in elin] == [
        (T0, T0 + timedelta(minutes=90), BusyStatus.BUSY, "Styrgruppsmöte"),  # 09:00 at +02:00
        (
            datetime(2026, 1, 6, 22, 0, tzinfo=UTC),
            datetime(2026, 1, 8, 22, 0, tzinfo=UTC),
            BusyStatus.OOF,
            "Semester",
        ),
    ]
    assert isinstance(piotr, list) and piotr[0].start == T0  # 08:00 at +01:00
    assert isinstance(anna, list) and anna[0].start == datetime(2026, 1, 5, 11, 0, tzinfo=UTC)
    assert isinstance(custom, CalendarParseError)
    assert "custom.zone@contoso.se" in str(custom) and "'Customized Time Zone'" in str(custom)


def test_private_item_subject_hidden_even_if_sent() -> None:
    """A server that sends a subject with isPrivate true still never reveals it."""
    info = {
        "scheduleItems": [
            {
                "isPrivate": True,
                "status": "oof",
                "subject": "Sjukskriven",
                "start": {"dateTime": "2026-01-05T07:00:00.0000000", "timeZone": "UTC"},
                "end": {"dateTime": "2026-01-05T08:00:00.0000000", "timeZone": "UTC"},
            }
        ]
    }
    (block,) = blocks_from_schedule(info)
    assert block.subject is None and block.private and block.status is BusyStatus.OOF


async def test_automatic_replies_are_absences_read_in_one_json_batch(
    graph: tuple[GraphServer, GraphClient, FakeTime], caplog: pytest.LogCaptureFixture
) -> None:
    """automaticRepliesSetting (the documented shape) through $batch: scheduled → an OOF absence
    with its end time, alwaysEnabled → OOF over the window, disabled → nothing; a user whose
    setting is denied keeps free/busy, logged once; read again only after the interval."""
    server, client, fake = graph
    users = ["anna@contoso.se", "bo@contoso.se", "cecilia@contoso.se", "dan@contoso.se"]
    for u in users:
        server.calendars[u] = [Event(T0, T0 + timedelta(hours=1), "Busy", "Lunch")]
    server.auto_replies["anna@contoso.se"] = (
        "scheduled",
        T0 + timedelta(days=1),
        T0 + timedelta(days=3),
    )
    server.auto_replies["bo@contoso.se"] = ("alwaysEnabled", None, None)
    server.auto_replies_denied.add("dan@contoso.se")
    result = await client.fetch(users, *WINDOW)
    oof = {
        u: [(b.start, b.end) for b in r if b.status is BusyStatus.OOF]
        for u, r in result.items()
        if isinstance(r, list)
    }
    assert oof == {
        "anna@contoso.se": [(T0 + timedelta(days=1), T0 + timedelta(days=3))],
        "bo@contoso.se": [WINDOW],
        "cecilia@contoso.se": [],
        "dan@contoso.se": [],
    }
    assert all(len(r) >= 1 for r in result.values() if isinstance(r, list))  # lunch kept
    anna = [b for b in result["anna@contoso.se"] if b.status is BusyStatus.OOF]  # type: ignore[union-attr]
    assert anna[0].subject is None and not anna[0].private  # the reply text is never read
    assert server.batches_posted == 1
    await client.fetch(users, *WINDOW)
    assert server.batches_posted == 1  # within the interval: the last reading stands
    fake.t += client.settings.automatic_replies_interval_s
    await client.fetch(users, *WINDOW)
    assert server.batches_posted == 2
    denied = [r for r in caplog.records if "automatic replies not readable" in r.getMessage()]
    assert len(denied) == 1 and "HTTP 403" in denied[0].getMessage()


def test_automatic_replies_setting_fixture_parses() -> None:
    """The documented automaticRepliesSetting response: alwaysEnabled, no schedule needed."""
    from calendar_sync.graph import auto_replies_from_graph

    doc = json.loads((FIXTURES / "graph" / "automaticrepliessetting_response.json").read_text())
    reading = auto_replies_from_graph(doc)
    assert reading.state == "always"
    assert reading.blocks(*WINDOW)[0].status is BusyStatus.OOF
    scheduled = auto_replies_from_graph(dict(doc, status="Scheduled"))  # mailboxSettings casing
    assert scheduled.start == datetime(2016, 3, 19, 2, 0, tzinfo=UTC)
    assert scheduled.blocks(*WINDOW) == []  # 2016 lies outside the window
