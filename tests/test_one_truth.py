"""One truth about who can be reached, crossing the seams as a user does (issue 12).

The running service (`create_app` on a pinned clock, the simulated platform over real AMI on
127.0.0.1, the HTTP API over a real socket): a manual redirect set over HTTP is what the next
call plays, what AstDB and CustomPresence hold, and what `switchboard route` on the same folder
says; a calendar event that starts and ends meanwhile leaves it in place; the voicemail switch
turned off over HTTP takes voicemail out of the next call; a blocked user is mirrored too.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from calendar_sync.clock import ManualClock
from switchboard.app import RUNTIME, Runtime, create_app
from switchboard.config import load_config
from switchboard.telephony.config import PRESENCE_PROVIDER, REDIRECT_FAMILY
from switchboard.telephony.sim import SimulatedAsterisk

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # Tuesday 09.00 in Stockholm: Bertil is free
PASSWORD = "one-truth-test-password"
BERTIL, BERTIL_KEY, BERTIL_NUMBER = "bertil.berg", "83013", "02683013"
ANNA_NUMBER = "02683012"


async def until(check: Callable[[], bool], within: float = 5.0) -> None:
    """Wait (bounded) until `check()` holds."""
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 - bounded by the timeout
            await asyncio.sleep(0.01)


def local(moment: datetime) -> str:
    """The ISO time `switchboard route --at` takes, in Stockholm local time."""
    return moment.astimezone(load_config(ROOT / "config" / "alvkarleby").org.timezone).isoformat()


class Service:
    """The running service for a copy of the Älvkarleby sample, and an HTTP session on it."""

    def __init__(self, folder: Path, runner: web.AppRunner, base: str) -> None:
        self.folder = folder
        self.runner = runner
        self.base = base
        self.http = aiohttp.ClientSession()

    @property
    def rt(self) -> Runtime:
        """The app's runtime."""
        return self.runner.app[RUNTIME]

    @property
    def sim(self) -> SimulatedAsterisk:
        """The simulated telephone platform the service drives over AMI."""
        assert self.rt.simulated is not None
        return self.rt.simulated

    @property
    def clock(self) -> ManualClock:
        """The app's one clock."""
        assert isinstance(self.rt.time, ManualClock)
        return self.rt.time

    async def token(self, user: str) -> dict[str, str]:
        """Sign in over HTTP; the bearer header."""
        async with self.http.post(
            f"{self.base}/api/login", json={"user": user, "password": PASSWORD}
        ) as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
        self.http.cookie_jar.clear()
        return {"Authorization": f"Bearer {body['token']}"}

    async def put(self, path: str, who: str, body: dict[str, object]) -> dict[str, Any]:
        """PUT JSON as `who`; the answer."""
        async with self.http.put(
            f"{self.base}{path}", json=body, headers=await self.token(who)
        ) as resp:
            answer: dict[str, Any] = await resp.json()
            assert resp.status == 200, answer
            return answer

    async def call(self, number: str, *, answer: bool = True) -> list[str]:
        """Place a call on the platform; the AGI commands the service sent for it."""
        call = await self.sim.place_call(number, "0701112233", answer=answer)
        await call.wait(15)
        return call.commands

    def route(self, number: str, at: datetime) -> dict[str, Any]:
        """`switchboard route` on the same folder, as a separate process."""
        command = [sys.executable, "-m", "switchboard", "route", str(self.folder)]
        out = subprocess.run(
            [*command, "--to", number, "--at", local(at)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        answer: dict[str, Any] = json.loads(out.stdout)
        return answer


@pytest.fixture
async def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Service]:
    """The service on a pinned clock, listening on 127.0.0.1 (any free port)."""
    monkeypatch.setenv("SWITCHBOARD_DEV_PASSWORD", PASSWORD)
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path / "data"))
    folder = tmp_path / "alvkarleby"
    shutil.copytree(
        ROOT / "config" / "alvkarleby", folder, ignore=shutil.ignore_patterns("data", "scenarios")
    )
    app = create_app(load_config(folder), clock=ManualClock(T0), intake_settle_s=0)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    svc = Service(folder, runner, f"http://127.0.0.1:{port}")
    try:
        assert svc.rt.telephony is not None
        await asyncio.wait_for(svc.rt.telephony.mirrored.wait(), 10)
        yield svc
    finally:
        await svc.http.close()
        await runner.cleanup()


def lunch_mirrored(service: Service) -> bool:
    """Bertil's lunch is in AstDB's row and in his CustomPresence (two separate AMI writes)."""
    astdb = service.sim.astdb
    return astdb.get(REDIRECT_FAMILY, {}).get(BERTIL_KEY, "").startswith("lunch|") and astdb.get(
        PRESENCE_PROVIDER, {}
    ).get(BERTIL_KEY, "").startswith("dnd,lunch,")


def say_commands(commands: list[str]) -> str:
    """What the caller was told, from the service's SWITCHBOARD_TEXT variables."""
    return " ".join(c for c in commands if c.startswith("SET VARIABLE SWITCHBOARD_TEXT"))


async def test_alv02_hv03_manual_redirect_set_on_the_web_reaches_every_consumer(
    service: Service,
) -> None:
    """ALV-02/HV-03: set over HTTP → the next call plays it, AstDB and CustomPresence hold it,
    and `switchboard route` on the same folder says redirect."""
    before = await service.call(BERTIL_NUMBER)
    assert any(c.startswith("EXEC Dial") for c in before) and not say_commands(before)
    assert service.route("026-830 13", T0)["action"] == "ring"

    until_at = (T0 + timedelta(hours=3)).isoformat()
    body = await service.put(
        f"/api/users/{BERTIL}/manual-redirect", BERTIL, {"reason": "lunch", "until": until_at}
    )
    assert body["state"] == "redirected" and body["source"] == "manual"

    await until(lambda: lunch_mirrored(service))  # two AMI writes: the row, then presence
    assert service.sim.astdb[REDIRECT_FAMILY][BERTIL_KEY].startswith("lunch|")
    assert service.sim.astdb[PRESENCE_PROVIDER][BERTIL_KEY].startswith("dnd,lunch,")

    commands = await service.call(BERTIL_NUMBER)
    assert "ANSWER" in commands
    assert "Bertil Berg" in say_commands(commands) and "lunch" in say_commands(commands)

    routed = service.route("026-830 13", T0 + timedelta(minutes=1))
    assert routed["action"] == "redirect" and routed["reason"] == "lunch"
    assert routed["message"] == body["message"]


async def test_hv03_calendar_event_starting_and_ending_leaves_the_manual_redirect(
    service: Service,
) -> None:
    """HV-03: a calendar change and a meeting that starts and ends while a manual redirect is
    in force never clear the PBX's row (it used to be deleted and set `available,,`)."""
    until_at = (T0 + timedelta(hours=3)).isoformat()
    await service.put(
        f"/api/users/{BERTIL}/manual-redirect", BERTIL, {"reason": "lunch", "until": until_at}
    )
    await until(lambda: lunch_mirrored(service))
    seen = len(service.sim.received)

    # Bertil books a meeting 09.30–09.45 in Outlook; the ICS file watcher reads it.
    ics = service.folder / "calendars" / "bertil.berg.ics"
    text = ics.read_text("utf-8")
    event = (
        "BEGIN:VEVENT\r\nUID:one-truth-meeting\r\nSUMMARY:Möte\r\n"
        "DTSTART:20261124T083000Z\r\nDTEND:20261124T084500Z\r\n"
        "X-MICROSOFT-CDO-BUSYSTATUS:BUSY\r\nEND:VEVENT\r\n"
    )
    ics.write_text(text.replace("END:VCALENDAR", event + "END:VCALENDAR"), "utf-8")
    os.utime(ics, (T0.timestamp() + 60, T0.timestamp() + 60))
    calendar = service.rt.calendar
    assert calendar is not None

    def meeting_known() -> bool:
        presence = calendar.presence.get(BERTIL)
        return presence is not None and presence.at(T0 + timedelta(minutes=35)) is not None

    async with asyncio.timeout(10):
        while not meeting_known():
            service.clock.advance(1)  # the file watcher polls on the app's clock
            await asyncio.sleep(0.02)
    for minutes in (35, 50):  # the meeting starts, then ends
        service.clock.set(T0 + timedelta(minutes=minutes))
        await asyncio.sleep(0.2)
        assert service.sim.astdb[REDIRECT_FAMILY][BERTIL_KEY].startswith("lunch|")
        assert service.sim.astdb[PRESENCE_PROVIDER][BERTIL_KEY].startswith("dnd,lunch,")
    deletes = [
        m for m in service.sim.received[seen:] if m.name == "DBDel" and m.get("Key") == BERTIL_KEY
    ]
    assert deletes == []
    commands = await service.call(BERTIL_NUMBER)
    assert "lunch" in say_commands(commands)


async def test_alv12_voicemail_switched_off_on_the_web_leaves_the_next_call_without_voicemail(
    service: Service,
) -> None:
    """ALV-12: with the organisation-wide switch off, an unanswered call gets no VoiceMail."""
    commands = await service.call(ANNA_NUMBER, answer=False)
    assert any(c.startswith("EXEC VoiceMail") for c in commands)
    await service.put("/api/admin/voicemail", "cecilia.carlsson", {"enabled": False})
    commands = await service.call(ANNA_NUMBER, answer=False)
    assert not any(c.startswith("EXEC VoiceMail") for c in commands)
    assert service.route("026-830 12", T0)["next"] == "transfer"


async def test_alv21_blocked_user_is_mirrored_and_never_rung(service: Service) -> None:
    """ALV-21: blocking a user over HTTP writes an AstDB row (the dialplan's fallback must not
    ring them) and the next call is not rung."""
    await service.put(f"/api/admin/users/{BERTIL}/switches", "cecilia.carlsson", {"blocked": True})
    await until(lambda: BERTIL_KEY in service.sim.astdb.get(REDIRECT_FAMILY, {}))
    assert service.sim.astdb[REDIRECT_FAMILY][BERTIL_KEY].startswith("blocked|")
    commands = await service.call(BERTIL_NUMBER)
    assert not any(c.startswith(f"EXEC Dial PJSIP/{BERTIL_KEY}") for c in commands)
    assert service.route("026-830 13", T0)["reason"] == "blocked"


async def test_alv05_mobile_follows_calendar_switched_on_the_web_reaches_calls_and_route(
    service: Service,
) -> None:
    """ALV-04/ALV-05: Anna's mobile rings through her meeting until an administrator links it
    to her calendar over HTTP; then the next call and `switchboard route` redirect it."""
    meeting = datetime(2026, 11, 24, 9, 15, tzinfo=UTC)  # 10.15: Anna's Bygglovsmöte
    service.clock.set(meeting)
    assert service.route("070-123 45 67", meeting)["action"] == "ring"
    commands = await service.call("0701234567")
    assert any(c.startswith("EXEC Dial") for c in commands) and not say_commands(commands)
    await service.put(
        "/api/admin/users/anna.andersson/switches",
        "cecilia.carlsson",
        {"mobile_follows_calendar": True},
    )
    commands = await service.call("0701234567")
    assert "Anna Andersson" in say_commands(commands)
    routed = service.route("070-123 45 67", meeting)
    assert routed["action"] == "redirect" and routed["reason"] == "meeting"


async def test_metrics_count_users_by_state_and_show_call_latency(service: Service) -> None:
    """`/metrics` reads the effective state (users by state) and the call path's histograms
    (decision time, AGI round trip) from the running service."""
    await service.call(BERTIL_NUMBER)
    async with service.http.get(
        f"{service.base}/metrics", headers=await service.token("ivar.isaksson")
    ) as resp:
        assert resp.status == 200, await resp.text()
        text = await resp.text()
    assert 'switchboard_users{state="available"}' in text
    assert "switchboard_call_decision_seconds_count 1" in text
    assert "switchboard_agi_round_trip_seconds" in text
