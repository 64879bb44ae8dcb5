"""CalDAV through the `caldav` client against a real Radicale started on 127.0.0.1."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import caldav
import pytest
from aiohttp import web

from calendar_sync.clock import ManualClock
from calendar_sync.dav import CalDavClient
from calendar_sync.errors import CalendarAuthFailed, CalendarError, MailboxNotFound
from calendar_sync.expander import UNCHANGED
from calendar_sync.service import CalendarSync
from calendar_sync.sources import CalDavSettings, PollSettings, Secret
from routing.absence import BusyStatus, CalendarBlock
from routing.models import CalendarRef, Hours
from routing.presence import PresenceRules
from switchboard.app import RUNTIME, create_app
from switchboard.config import ConfigError, load_config
from switchboard.telephony.config import REDIRECT_FAMILY

ALV = Path(__file__).resolve().parents[2] / "config" / "alvkarleby"
TZ = ZoneInfo("Europe/Stockholm")
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # Tuesday 10:00 in Stockholm
WINDOW = (T0 - timedelta(hours=1), T0 + timedelta(days=8))
RULES = PresenceRules(
    TZ, Hours(frozenset(range(5)), datetime(2026, 1, 1, 8).time(), datetime(2026, 1, 1, 17).time())
)
USER, PASSWORD = "svc-switchboard", "hemligt"
POLL = PollSettings(interval_s=30, max_age_s=900, jitter=0.0, timeout_s=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Radicale:
    """A running Radicale: its base URL and an admin client for the test's edits."""

    base: str
    client: Any

    def calendar(self, name: str) -> Any:
        """Make the collection `name` of the service account."""
        return self.client.principal().make_calendar(name=name, cal_id=name)


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[Radicale]:
    """Radicale 3 on 127.0.0.1 with one htpasswd account, storage under tmp_path."""
    users = tmp_path / "users"
    users.write_text(f"{USER}:{PASSWORD}\n", "utf-8")
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "radicale",
            "--config",
            "",
            "--server-hosts",
            f"127.0.0.1:{port}",
            "--storage-filesystem-folder",
            str(tmp_path / "collections"),
            "--auth-type",
            "htpasswd",
            "--auth-htpasswd-filename",
            str(users),
            "--auth-htpasswd-encryption",
            "plain",
            "--rights-type",
            "owner_only",
            "--logging-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30  # bounded wait for a real server to listen
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("radicale did not start") from None
                time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        client = caldav.DAVClient(url=base, username=USER, password=PASSWORD)
        yield Radicale(base, client)
        client.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def event(uid: str, start: datetime, hours: float, summary: str) -> str:
    """One VEVENT as a client would PUT it."""
    end = start + timedelta(hours=hours)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//switchboard tests//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:{start:%Y%m%dT%H%M%SZ}\r\n"
        f"DTEND:{end:%Y%m%dT%H%M%SZ}\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


@pytest.fixture
async def dav(radicale: Radicale) -> AsyncIterator[CalDavClient]:
    """A CalDavClient for the service account (closed after the test)."""
    settings = CalDavSettings(Secret("U"), Secret("P"), poll=POLL)
    client = CalDavClient(settings, USER, PASSWORD, TZ)
    try:
        yield client
    finally:
        await client.aclose()


def subjects(result: object) -> list[str | None]:
    """Subjects of a list of blocks."""
    assert isinstance(result, list), result
    return [b.subject for b in result if isinstance(b, CalendarBlock)]


async def test_sync_token_and_ctag_fetch_only_what_changed(
    radicale: Radicale, dav: CalDavClient
) -> None:
    """First poll reads both collections; an unchanged collection costs one PROPFIND and is
    UNCHANGED; an edit in one collection is fetched (sync-collection) and read, the other stays
    untouched; a deleted event disappears."""
    anna = await asyncio.to_thread(radicale.calendar, "anna")
    bo = await asyncio.to_thread(radicale.calendar, "bo")
    await asyncio.to_thread(anna.save_event, event("a1", T0, 1, "Möte"))
    await asyncio.to_thread(bo.save_event, event("b1", T0 + timedelta(days=1), 8, "Semester"))
    urls = [str(anna.url), str(bo.url)]
    first = await dav.fetch(urls, *WINDOW)
    assert subjects(first[urls[0]]) == ["Möte"] and subjects(first[urls[1]]) == ["Semester"]
    assert dav.reports == 2
    again = await dav.fetch(urls, *WINDOW)
    assert again == {urls[0]: UNCHANGED, urls[1]: UNCHANGED}
    assert dav.reports == 2 and dav.propfinds == 4
    await asyncio.to_thread(anna.save_event, event("a2", T0 + timedelta(hours=3), 1, "Lunch"))
    changed = await dav.fetch(urls, *WINDOW)
    assert subjects(changed[urls[0]]) == ["Möte", "Lunch"] and changed[urls[1]] is UNCHANGED
    assert dav.reports == 3
    (moved,) = await asyncio.to_thread(anna.search, event=True, uid="a1") or [None]
    assert moved is not None
    await asyncio.to_thread(moved.delete)
    gone = await dav.fetch(urls, *WINDOW)
    assert subjects(gone[urls[0]]) == ["Lunch"]


async def test_wrong_password_and_unknown_collection(radicale: Radicale) -> None:
    """Refused credentials are CalendarAuthFailed; a collection that does not exist is named."""
    anna = await asyncio.to_thread(radicale.calendar, "anna")
    settings = CalDavSettings(Secret("U"), Secret("P"), poll=POLL)
    wrong = CalDavClient(settings, USER, "fel", TZ)
    try:
        with pytest.raises(CalendarError):  # every collection failed: the source is down
            await wrong.fetch([str(anna.url), f"{radicale.base}/{USER}/x/"], *WINDOW)
        (only,) = (await wrong.fetch([str(anna.url)], *WINDOW)).values()
        assert isinstance(only, CalendarAuthFailed)
    finally:
        await wrong.aclose()
    right = CalDavClient(settings, USER, PASSWORD, TZ)
    try:
        missing = f"{radicale.base}/{USER}/finns-inte/"
        result = await right.fetch([str(anna.url), missing], *WINDOW)
        assert isinstance(result[missing], MailboxNotFound) and result[str(anna.url)] == []
    finally:
        await right.aclose()


async def test_a_calendar_edit_on_caldav_reaches_presence(
    radicale: Radicale, dav: CalDavClient
) -> None:
    """Through the sync loop: a meeting booked now in Nextcloud/Radicale redirects the user."""
    anna = await asyncio.to_thread(radicale.calendar, "anna")
    sync = CalendarSync(RULES, ManualClock(T0))
    sync.add_source("caldav", dav, POLL, {"anna": str(anna.url)})
    assert await sync.sync_once() == []  # read, nothing booked: no change to publish
    await asyncio.to_thread(anna.save_event, event("m", T0 - timedelta(minutes=5), 1, "Möte"))
    (change,) = await sync.sync_once()
    assert change.user_id == "anna" and change.source == "caldav"
    assert change.after.redirect is not None
    assert sync.presence["anna"].redirects[0].until == T0 + timedelta(minutes=55)
    busy = [b for b in (sync.snapshot("anna").blocks or ()) if b.status is BusyStatus.BUSY]  # type: ignore[union-attr]
    assert len(busy) == 1


async def test_a_sync_token_the_server_forgot_reads_the_collection_whole(
    radicale: Radicale, dav: CalDavClient
) -> None:
    """A server that no longer knows the client's sync token (Radicale forgets tokens after 30
    days; RFC 6578 answers 403 valid-sync-token) costs one whole read, not a calendar error."""
    anna = await asyncio.to_thread(radicale.calendar, "anna")
    await asyncio.to_thread(anna.save_event, event("a1", T0, 1, "Möte"))
    url = str(anna.url)
    assert subjects((await dav.fetch([url], *WINDOW))[url]) == ["Möte"]
    synced = dav._collections[url].synced
    assert synced is not None
    synced.sync_token = "http://radicale.org/ns/sync/" + "0" * 64  # a token Radicale never gave
    await asyncio.to_thread(anna.save_event, event("a2", T0 + timedelta(hours=3), 1, "Lunch"))
    result = (await dav.fetch([url], *WINDOW))[url]
    assert subjects(result) == ["Möte", "Lunch"]
    await asyncio.to_thread(anna.save_event, event("a3", T0 + timedelta(hours=5), 1, "Fika"))
    assert subjects((await dav.fetch([url], *WINDOW))[url]) == ["Möte", "Lunch", "Fika"]


async def test_a_user_with_a_caldav_calendar_is_redirected_by_its_events(
    radicale: Radicale, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`calendar: {caldav: URL}` in directory.yaml and a `calendar_sources.caldav` account are
    enough: Anna's meeting in a CalDAV collection is her redirect in the running service."""
    anna = await asyncio.to_thread(radicale.calendar, "anna")
    await asyncio.to_thread(anna.save_event, event("m1", T0, 2, "Styrelsemöte"))
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SB_TEST_DAV_USER", USER)
    monkeypatch.setenv("SB_TEST_DAV_PASSWORD", PASSWORD)
    folder = tmp_path / "alvkarleby"
    shutil.copytree(ALV, folder, ignore=shutil.ignore_patterns("data", "scenarios"))
    directory = folder / "directory.yaml"
    url = f"{radicale.base}/{USER}/anna"  # without the final slash, as people write it
    directory.write_text(
        directory.read_text("utf-8").replace("ics: calendars/anna.andersson.ics", f"caldav: {url}"),
        "utf-8",
    )
    with (folder / "organisation.yaml").open("a", encoding="utf-8") as f:
        f.write(
            "calendar_sources:\n  caldav:\n    username_env: SB_TEST_DAV_USER\n"
            "    password_env: SB_TEST_DAV_PASSWORD\n"
        )
    config = load_config(folder)
    (user,) = [u for u in config.org.directory.users if u.id == "anna.andersson"]
    assert user.calendar == CalendarRef("caldav", url + "/")
    runner = web.AppRunner(create_app(config, clock=ManualClock(T0 + timedelta(minutes=15))))
    await runner.setup()
    try:
        sim = runner.app[RUNTIME].simulated
        assert sim is not None
        async with asyncio.timeout(20):  # bounded: the first load reads the collection
            while not sim.astdb.get(REDIRECT_FAMILY, {}).get("83012", "").startswith("meeting|"):  # noqa: ASYNC110
                await asyncio.sleep(0.02)  # bounded by the timeout above
    finally:
        await runner.cleanup()


def test_a_caldav_calendar_must_be_an_http_address(tmp_path: Path) -> None:
    """`caldav:` takes a collection URL; anything else is a configuration error naming the key."""
    folder = tmp_path / "alvkarleby"
    shutil.copytree(ALV, folder, ignore=shutil.ignore_patterns("data", "scenarios"))
    directory = folder / "directory.yaml"
    directory.write_text(
        directory.read_text("utf-8").replace(
            "ics: calendars/anna.andersson.ics", "caldav: nextcloud.alvkarleby.se/anna"
        ),
        "utf-8",
    )
    with pytest.raises(ConfigError, match=r"calendar\.caldav.*http:// or https://"):
        load_config(folder)
