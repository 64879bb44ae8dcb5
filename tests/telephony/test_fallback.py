"""Issue 14.1–2: the phone keeps working when the service does not.

The simulated platform runs the dialplan `switchboard asterisk-config` generates, with the AstDB
rows a service wrote while it ran. With the service gone, FastAGI is refused and the fallback
routes the call at once: the absence message once, the covering point, then the personal
greeting and `VoiceMail(…,s)` (no app_voicemail prompt, never English); an expired redirect
rings; a blocked user is never rung (ALV-21). Calls parked in AsyncAGI while the service was
away are handed back on reconnect. The same against Asterisk 22: tests/realpeer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from routing.effective import EffectiveState
from switchboard.telephony.ami import AmiSettings
from switchboard.telephony.config import FastAgiSettings, TelephonySettings
from switchboard.telephony.service import TelephonyService
from switchboard.telephony.sim import SimCall, SimulatedAsterisk

from .test_end_to_end import ANNA, NOW, Book, _org, logged, service

BERTIL = "bertil.berg"


def kinds(call: SimCall) -> list[str]:
    """The steps the caller went through."""
    return [s.step for s in call.steps]


@contextlib.asynccontextmanager
async def service_gone(tmp_path: Path, book: Book) -> AsyncIterator[SimulatedAsterisk]:
    """A platform whose AstDB a service filled, after that service stopped (FastAGI closed)."""
    async with service(tmp_path, book) as (_svc, sim):
        pass
    try:
        yield sim
    finally:
        await sim.close()


async def test_alv06_service_down_redirected_call_reaches_the_fallback_at_once(
    tmp_path: Path,
) -> None:
    """14.1: with nobody on the FastAGI port the call does not wait: AGI() is refused and the
    fallback plays the absence message (the dialplan never sits in AGI without a way out)."""
    book = Book()
    book.away(ANNA)
    async with service_gone(tmp_path, book) as sim:
        t0 = time.perf_counter()
        call = await sim.place_call("02683012", "0701112233", answer=False, leave_message="Hej")
        await call.wait(2)
        elapsed = time.perf_counter() - t0
    assert call.variables["AGISTATUS"] == "FAILURE"
    assert kinds(call)[:2] == ["fallback", "message"]
    assert elapsed < 2.0


async def test_alv06_fallback_is_message_once_covering_point_then_greeting_and_beep(
    tmp_path: Path,
) -> None:
    """14.2: message once, the covering point (Bertil) rung, then Anna's own greeting (the sound
    the service plays) and VoiceMail with `s`: no app_voicemail prompt, no `u`/`b` greeting;
    the channel speaks Swedish."""
    book = Book()
    book.away(ANNA)
    async with service(tmp_path / "up", book) as (_svc, sim_up):
        served = await sim_up.place_call("02683012", "0701112233", answer=False)
        await served.wait(3)
    async with service_gone(tmp_path, book) as sim:
        call = await sim.place_call("02683012", "0701112233", answer=False, leave_message="Hej")
        await call.wait(3)
        row = sim.astdb["switchboard/redirect"]["83012"]
    steps = [s.as_json() for s in call.steps]
    assert kinds(call) == ["fallback", "message", "ring", "greeting", "voicemail", "hangup"]
    assert steps[1]["sound"] == row.split("|")[2]
    assert steps[2]["target"] == "PJSIP/83013"
    assert steps[3]["sound"] == served.steps[2].as_json()["sound"]  # the service's greeting
    assert steps[4]["mailbox"] == "83012" and steps[4]["options"] == "s"
    assert call.variables["CHANNEL(language)"] == "sv"
    assert call.variables["SWITCHBOARD_OUTCOME"] == "voicemail_left"


async def test_expired_redirect_rings_as_usual(tmp_path: Path) -> None:
    """14.2: the `until` epoch in the AstDB row is honoured: once it has passed the extension
    rings (no message), as the service would."""
    book = Book()
    book.away(ANNA)
    async with service_gone(tmp_path, book) as sim:
        sim.clock = (NOW + timedelta(hours=4)).timestamp  # past the redirect's end
        call = await sim.place_call("02683012", "0701112233")
        await call.wait(3)
    assert kinds(call) == ["fallback", "ring", "hangup"]
    assert call.steps[1].detail["target"] == "PJSIP/83012"


async def test_alv21_blocked_user_is_never_rung_by_the_fallback(tmp_path: Path) -> None:
    """ALV-21: Karl's subscription is blocked: the fallback plays the unreachable message and
    passes the call to Medborgarservice; PJSIP/83022 is never dialled."""
    async with service_gone(tmp_path, Book()) as sim:
        assert sim.astdb["switchboard/redirect"]["83022"].startswith("blocked||")
        call = await sim.place_call("02683022", "0701112233")
        await call.wait(3)
    assert kinds(call) == ["fallback", "message", "ring", "hangup"]
    assert call.steps[2].detail["target"] == "PJSIP/83000"
    assert not any(s.detail.get("target") == "PJSIP/83022" for s in call.steps)


async def test_service_gone_after_the_message_is_not_played_twice(tmp_path: Path) -> None:
    """14.2: the service played the message and went away while the covering point rang: the
    call falls through to the fallback, which does not play the message again."""
    book = Book()
    book.away(ANNA)
    ringing = asyncio.Event()
    async with service(tmp_path, book) as (svc, sim):
        call = await sim.place_call("02683012", "0701112233", answer=False, hold=ringing)
        async with asyncio.timeout(3):
            while call.application != "Dial":  # noqa: ASYNC110 - bounded by the timeout
                await asyncio.sleep(0.001)
        await svc.stop(close_platform=False)  # the service goes away mid-Dial
        ringing.set()
        await call.wait(3)
    await sim.close()
    assert kinds(call).count("message") == 1
    assert call.variables["SWITCHBOARD_PLAYED"] == "1"
    assert kinds(call)[-3:] == ["greeting", "voicemail", "hangup"]


async def test_call_handed_back_is_logged_with_what_the_fallback_gave(tmp_path: Path) -> None:
    """14.5: a call the service hands back is logged once, with what the caller got from the
    fallback (SWITCHBOARD_OUTCOME in the Hangup event's ChanVariable), not `handed_back`."""

    class SlowBook(Book):
        def __call__(self) -> EffectiveState:
            raise TimeoutError

    async with service(tmp_path, Book()) as (svc, sim):
        svc.controller.state = SlowBook()
        call = await sim.place_call("02683012", "0701112233")
        await call.wait(3)
        await svc.controller.wait_idle(3)
    assert kinds(call) == ["fallback", "ring", "hangup"]
    assert [(e["outcome"], e["action"]) for e in await logged(tmp_path)] == [
        ("fallback_answered", None)
    ]


async def test_asyncagi_never_times_out_and_parked_calls_are_handed_back_on_connect(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """14.1: a dialplan still on AGI(agi:async) parks calls while nobody is connected (no
    timeout, as res_agi.c); on connecting the service finds them (CoreShowChannels) and hands
    each back to the dialplan at once."""
    sim = SimulatedAsterisk(secret="p", clock=NOW.timestamp)  # AsyncAGI only: no dialplan
    await sim.start()
    call = await sim.place_call("02683012", "0701112233")
    assert not call.done.is_set() and call.application == "AGI"
    settings = TelephonySettings(
        platform="asterisk",
        ami=AmiSettings(port=sim.port, secret="p"),
        fastagi=FastAgiSettings(port=0),
    )
    svc = TelephonyService(_org(), settings, Book(), lambda: NOW)
    caplog.set_level(logging.WARNING)
    await svc.start()
    try:
        await call.wait(3)
    finally:
        await svc.stop()
        await sim.close()
    assert call.commands == ["ASYNCAGI BREAK"]
    assert kinds(call) == ["dialplan", "hangup"]
    assert "parked in AsyncAGI" in caplog.text


async def test_fallback_rows_follow_the_effective_state(tmp_path: Path) -> None:
    """The rows the fallback reads: a redirected user's covering point and mailbox, the dial
    templates and the leader's FastAGI URL; a change is written for that user at once."""
    book = Book()
    changes: asyncio.Queue[object] = asyncio.Queue()
    async with service(tmp_path, book, changes) as (svc, sim):
        rows = sim.astdb["switchboard/fallback"]
        assert rows["83012"].split("|")[:3] == ["PJSIP/83012", "", "83012@default"]
        assert rows["83050"].startswith("PJSIP/83012&PJSIP/83013|")  # the Bygglov group
        config = sim.astdb["switchboard/config"]
        assert config["agi"] == svc.agi_url() and config["agi"].startswith("agi://127.0.0.1:")
        assert config["internal"] == "PJSIP/|" and config["external"] == "PJSIP/|@trunk"
        book.away(ANNA)
        from routing.effective import EffectiveChange

        changes.put_nowait(EffectiveChange(ANNA, None, None, NOW))
        async with asyncio.timeout(3):
            while rows["83012"].split("|")[1] != "PJSIP/83013":  # noqa: ASYNC110 - bounded by the timeout
                await asyncio.sleep(0.001)


async def test_fastagi_port_taken_is_logged_and_the_service_runs_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A FastAGI port that cannot be bound does not stop the service: an error in the log
    (calls take the dialplan's fallback meanwhile), AMI and the mirror work."""
    blocker = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    taken = blocker.sockets[0].getsockname()[1]
    sim = SimulatedAsterisk(secret="p", clock=NOW.timestamp)
    await sim.start()
    settings = TelephonySettings(
        platform="asterisk",
        ami=AmiSettings(port=sim.port, secret="p"),
        fastagi=FastAgiSettings(port=taken),
    )
    svc = TelephonyService(_org(), settings, Book(), lambda: NOW)
    caplog.set_level(logging.ERROR)
    try:
        await svc.start()
        await asyncio.wait_for(svc.mirrored.wait(), 3)
        assert svc.fastagi is not None and not svc.fastagi.listening
    finally:
        await svc.stop()
        await sim.close()
        blocker.close()
        await blocker.wait_closed()
    assert f"FastAGI cannot listen on 127.0.0.1:{taken}" in caplog.text
