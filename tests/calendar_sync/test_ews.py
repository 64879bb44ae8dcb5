"""EWS GetUserAvailability through exchangelib against a local Exchange on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from calendar_sync.errors import CalendarAuthFailed, CalendarUnavailable, MailboxNotFound
from calendar_sync.ews import EwsClient, blocks_from_merged
from calendar_sync.sources import ExchangeSettings, PollSettings, Secret
from routing.absence import BusyStatus
from tests.calendar_sync.servers import FIXTURES, Event, EwsServer, serve

T0 = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)  # Monday 08:00 in Stockholm
WINDOW = (T0 - timedelta(hours=1), T0 + timedelta(days=8))


def settings(base: str, **kw: object) -> ExchangeSettings:
    """Exchange settings pointing at the local server, basic auth, no retry delay."""
    s = ExchangeSettings(
        endpoint=f"{base}/EWS/Exchange.asmx",
        username=Secret("EWS_USER"),
        password=Secret("EWS_PASSWORD"),
        auth="basic",
        retry_delay_s=0.0,
        poll=PollSettings(interval_s=60, max_age_s=900, timeout_s=10),
    )
    return replace(s, **kw)  # type: ignore[arg-type]


def client_for(s: ExchangeSettings, user: str, password: str, offload: bool = False) -> EwsClient:
    """An EwsClient; the XML work in a helper process (production) only where a test says so,
    since each helper is a fresh interpreter importing exchangelib."""
    return EwsClient(s, user, password, offload=offload)


@pytest.fixture
async def ews() -> AsyncIterator[tuple[EwsServer, str]]:
    """A local Exchange server and its base URL."""
    server = EwsServer()
    async with serve(server.app()) as base:
        yield server, base


async def fetch(client: EwsClient, mailboxes: list[str]) -> dict[str, object]:
    """Fetch and always close the client's sessions."""
    try:
        return dict(await client.fetch(mailboxes, *WINDOW))
    finally:
        await asyncio.to_thread(client.close)


async def test_detailed_merged_events_with_subject_and_private_flag(
    ews: tuple[EwsServer, str],
) -> None:
    """Busy, OOF and private events come through with subject (hidden when private), in UTC;
    exchangelib's requests and XML parsing run in the helper process, not the event loop's."""
    server, base = ews
    server.calendars["anna@example.se"] = [
        Event(T0 + timedelta(hours=1), T0 + timedelta(hours=2), "Busy", "Möte om budget", "Rum 3"),
        Event(T0 + timedelta(hours=3), T0 + timedelta(hours=4), "Busy", "Läkarbesök", private=True),
        Event(T0 + timedelta(days=1), T0 + timedelta(days=2), "OOF", "Semester"),
        Event(T0 + timedelta(hours=5), T0 + timedelta(hours=6), "WorkingElsewhere", "Hemma"),
    ]
    client = client_for(settings(base), "svc-switchboard", "secret", offload=True)
    result = await fetch(client, ["anna@example.se"])
    assert client._calls is not None and client._calls.calls == 2  # availability + OOF, off-loop
    blocks = result["anna@example.se"]
    assert isinstance(blocks, list)
    assert [(b.start, b.status, b.subject, b.private) for b in blocks] == [
        (T0 + timedelta(hours=1), BusyStatus.BUSY, "Möte om budget", False),
        (T0 + timedelta(hours=3), BusyStatus.BUSY, None, True),
        (T0 + timedelta(hours=5), BusyStatus.WORKING_ELSEWHERE, "Hemma", False),
        (T0 + timedelta(days=1), BusyStatus.OOF, "Semester", False),
    ]
    assert all(b.start.tzinfo is UTC for b in blocks)


async def test_150_mailboxes_split_100_and_50(ews: tuple[EwsServer, str]) -> None:
    """150 mailboxes go out as two GetUserAvailability requests of 100 and 50."""
    server, base = ews
    boxes = [f"user{i:03d}@example.se" for i in range(150)]
    for i, m in enumerate(boxes):
        server.calendars[m] = [Event(T0 + timedelta(minutes=i), T0 + timedelta(hours=1, minutes=i))]
    result = await fetch(client_for(settings(base), "svc-switchboard", "secret"), boxes)
    assert sorted(len(b) for b in server.batches) == [50, 100]
    assert set(result) == set(boxes)
    first = result["user149@example.se"]
    assert isinstance(first, list) and first[0].start == T0 + timedelta(minutes=149)


async def test_no_data_for_one_mailbox(ews: tuple[EwsServer, str]) -> None:
    """A mailbox without readable free/busy becomes NO_DATA over the window; others intact."""
    server, base = ews
    server.no_data.add("hidden@example.se")
    server.calendars["anna@example.se"] = [Event(T0, T0 + timedelta(hours=1))]
    result = await fetch(
        client_for(settings(base), "svc-switchboard", "secret"),
        ["anna@example.se", "hidden@example.se"],
    )
    hidden = result["hidden@example.se"]
    assert isinstance(hidden, list) and {b.status for b in hidden} == {BusyStatus.NO_DATA}
    anna = result["anna@example.se"]
    assert isinstance(anna, list) and anna[0].status is BusyStatus.BUSY


async def test_mail_recipient_not_found_keeps_the_rest_of_the_batch(
    ews: tuple[EwsServer, str],
) -> None:
    """ErrorMailRecipientNotFound for one mailbox is a per-mailbox error; the others arrive."""
    server, base = ews
    server.not_found.add("gone@example.se")
    server.calendars["anna@example.se"] = [Event(T0, T0 + timedelta(hours=1))]
    result = await fetch(
        client_for(settings(base), "svc-switchboard", "secret"),
        ["anna@example.se", "gone@example.se", "bo@example.se"],
    )
    assert isinstance(result["gone@example.se"], MailboxNotFound)
    assert isinstance(result["anna@example.se"], list) and len(result["anna@example.se"]) == 1
    assert result["bo@example.se"] == []


async def test_http_500_then_recovery(ews: tuple[EwsServer, str]) -> None:
    """An IIS 'Server Error' 500 is CalendarUnavailable; the next fetch works."""
    server, base = ews
    server.fail_next = ["500", "500"]
    server.calendars["anna@example.se"] = [Event(T0, T0 + timedelta(hours=1))]
    client = client_for(settings(base, attempts=1), "svc-switchboard", "secret")
    try:
        with pytest.raises(CalendarUnavailable):
            await client.fetch(["anna@example.se"], *WINDOW)
        with pytest.raises(CalendarUnavailable):
            await client.fetch(["anna@example.se"], *WINDOW)
        ok = await client.fetch(["anna@example.se"], *WINDOW)
    finally:
        await asyncio.to_thread(client.close)
    assert isinstance(ok["anna@example.se"], list) and len(ok["anna@example.se"]) == 1


async def test_short_retry_policy_rides_over_one_500(ews: tuple[EwsServer, str]) -> None:
    """With two attempts, one transient 500 costs a retry, not a failed cycle."""
    server, base = ews
    server.fail_next = ["500"]
    result = await fetch(
        client_for(settings(base, attempts=2), "svc-switchboard", "secret", offload=True),
        ["a@example.se"],
    )
    assert result["a@example.se"] == [] and server.requests == 2


async def test_server_busy_fault_carries_back_off(ews: tuple[EwsServer, str]) -> None:
    """ErrorServerBusy's BackOffMilliseconds becomes retry_after; no retry within the cycle."""
    server, base = ews
    server.fail_next = ["busy"]
    client = client_for(settings(base), "svc-switchboard", "secret")
    try:
        with pytest.raises(CalendarUnavailable) as info:
            await client.fetch(["a@example.se"], *WINDOW)
    finally:
        await asyncio.to_thread(client.close)
    assert info.value.retry_after is not None and info.value.retry_after == pytest.approx(297.749)
    assert server.requests == 1


async def test_401_is_auth_failure(ews: tuple[EwsServer, str]) -> None:
    """Wrong credentials: one request, CalendarAuthFailed, no retry."""
    server, base = ews
    client = client_for(settings(base), "svc-switchboard", "wrong")
    try:
        with pytest.raises(CalendarAuthFailed):
            await client.fetch(["a@example.se"], *WINDOW)
    finally:
        await asyncio.to_thread(client.close)
    assert server.requests == 1


async def test_documented_detailed_merged_response_replayed(ews: tuple[EwsServer, str]) -> None:
    """Microsoft's documented DetailedMerged answer parses: offsets honoured, events kept."""
    server, base = ews
    server.raw_response = (
        FIXTURES / "ews" / "getuseravailability_response_detailedmerged.xml"
    ).read_text()
    result = await fetch(
        client_for(settings(base), "svc-switchboard", "secret"),
        ["user1@example.com", "user2@example.com"],
    )
    u1 = result["user1@example.com"]
    assert isinstance(u1, list)
    assert u1[0].start == datetime(2006, 10, 16, 13, 0, tzinfo=UTC)
    assert u1[0].subject == "Meet with Contoso Account Executives"
    u2 = result["user2@example.com"]
    assert isinstance(u2, list) and u2[0].status is BusyStatus.TENTATIVE and u2[0].subject is None


async def test_captured_mail_recipient_not_found_replayed(ews: tuple[EwsServer, str]) -> None:
    """The captured Exchange Online error answer becomes MailboxNotFound."""
    server, base = ews
    server.raw_response = (
        FIXTURES / "ews" / "getuseravailability_response_error_mailrecipientnotfound.xml"
    ).read_text()
    result = await fetch(
        client_for(settings(base), "svc-switchboard", "secret"), ["someone@example.com"]
    )
    assert isinstance(result["someone@example.com"], MailboxNotFound)


def test_merged_digits_parsed_defensively() -> None:
    """Merged digits: runs joined, free left out, 4 and unknown digits become NO_DATA."""
    blocks = blocks_from_merged("0022304x", T0, T0 + timedelta(hours=4), 30)
    assert [(b.start - T0, b.status) for b in blocks] == [
        (timedelta(hours=1), BusyStatus.BUSY),
        (timedelta(hours=2), BusyStatus.OOF),
        (timedelta(hours=3), BusyStatus.NO_DATA),
    ]
    assert blocks[0].end == T0 + timedelta(hours=2)


async def test_scheduled_oof_is_an_absence_with_its_end_time(
    ews: tuple[EwsServer, str], caplog: pytest.LogCaptureFixture
) -> None:
    """GetUserOofSettings (the documented response shape): Scheduled → an OOF absence ending
    at EndTime; Enabled → OOF over the window; a mailbox whose setting is refused (the
    documented AccessDenied fault) keeps its free/busy, logged once."""
    server, base = ews
    back = T0 + timedelta(days=4, hours=1)
    server.oof["anna@example.se"] = ("Scheduled", T0 + timedelta(days=1), back)
    server.oof["bo@example.se"] = ("Enabled", None, None)
    server.oof_denied.add("dan@example.se")
    server.calendars["dan@example.se"] = [Event(T0, T0 + timedelta(hours=1), "Busy", "Möte")]
    mailboxes = ["anna@example.se", "bo@example.se", "cecilia@example.se", "dan@example.se"]
    client = client_for(settings(base), "svc-switchboard", "secret", offload=True)
    result = await fetch(client, mailboxes)
    oof = {
        m: [(b.start, b.end) for b in r if b.status is BusyStatus.OOF]
        for m, r in result.items()
        if isinstance(r, list)
    }
    assert oof["anna@example.se"] == [(T0 + timedelta(days=1), back)]
    assert oof["bo@example.se"] == [WINDOW]
    assert oof["cecilia@example.se"] == [] and oof["dan@example.se"] == []
    dan = result["dan@example.se"]
    assert isinstance(dan, list) and [b.subject for b in dan] == ["Möte"]
    assert server.oof_requests == 4
    denied = [r for r in caplog.records if "automatic replies not readable" in r.getMessage()]
    assert len(denied) == 1
