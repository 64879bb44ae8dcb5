"""Hostile text on the call path and in the PBX mirror (issue 15, item 4): a staff member's
redirect text with CR, LF or NUL (set before the API checked it, or by any other way in) never
leaves a call hanging (every failure in a call task hands the call back to the dialplan, and
is logged) and never stops the mirror. Against the simulated platform over real AMI.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from routing.absence import AbsenceReason
from routing.effective import EffectiveChange, EffectiveState, effective_state
from routing.presence import manual_redirect
from switchboard.config import Config, load_config
from switchboard.telephony.config import PRESENCE_PROVIDER, REDIRECT_FAMILY
from switchboard.telephony.service import TelephonyService
from switchboard.telephony.sim import SimulatedAsterisk

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # Tuesday 09.00 in Stockholm
BERTIL, BERTIL_KEY, BERTIL_NUMBER = "bertil.berg", "83013", "02683013"
ANNA, ANNA_KEY = "anna.andersson", "83012"
INJECTION = "Ring mig imorgon\r\nAction: Originate\r\nChannel: PJSIP/0900123456"


@dataclass
class Holder:
    """The effective state the service reads, changed by the test."""

    config: Config
    state: EffectiveState

    def redirect(self, user_id: str, text: str | None) -> None:
        """A manual redirect for `user_id` with `text`, as the web store would hold it."""
        manual = dict(self.state.book.manual)
        manual[user_id] = manual_redirect(
            user_id,
            AbsenceReason.MEETING,
            NOW + timedelta(hours=2),
            self.config.rules,
            NOW,
            text,
        )
        self.state = effective_state(self.config.org, {}, manual)


class Changes:
    """The effective state's change stream, fed by the test."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[EffectiveChange] = asyncio.Queue()

    def __aiter__(self) -> Changes:
        return self

    async def __anext__(self) -> EffectiveChange:
        return await self.queue.get()

    def changed(self, user_id: str) -> None:
        """Tell the mirror that `user_id`'s view changed."""
        self.queue.put_nowait(EffectiveChange(user_id, None, None, NOW))


@dataclass
class Running:
    """The telephone side over the simulated platform."""

    holder: Holder
    changes: Changes
    sim: SimulatedAsterisk
    svc: TelephonyService


@pytest.fixture
def holder() -> Holder:
    """The Älvkarleby sample with no calendar and no redirect."""
    config = load_config(ROOT / "config" / "alvkarleby")
    return Holder(config, effective_state(config.org, {}, {}))


@pytest.fixture(params=["fastagi", "asyncagi"])
async def running(holder: Holder, request: pytest.FixtureRequest) -> AsyncIterator[Running]:
    """TelephonyService connected to a simulated Asterisk (AMI on 127.0.0.1), calls arriving
    over FastAGI (the shipped dialplan) or as AsyncAGIStart events; not yet waited for its
    first resync."""
    sim = SimulatedAsterisk(secret="s3cret")
    await sim.start()
    changes = Changes()
    settings = replace(holder.config.telephony, platform="simulated")
    svc = TelephonyService(
        holder.config.org,
        settings,
        lambda: holder.state,
        lambda: NOW,
        changes=changes,
        simulated=sim,
    )
    try:
        await svc.start()
        if request.param == "asyncagi":
            sim.dialplan = None  # calls park in AGI(agi:async) and are announced over AMI
        yield Running(holder, changes, sim, svc)
    finally:
        await svc.stop()
        await sim.close()


async def _until(check: object, within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not check():  # type: ignore[operator]  # noqa: ASYNC110 - bounded
            await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    "text",
    [INJECTION, "Ring mig imorgon\nklockan nio", "Åter\r snart", "Ring\x00 mig"],
    ids=["crlf_action_injection", "lf", "cr", "nul"],
)
async def test_a_call_never_hangs_on_a_redirect_text_with_control_characters(
    text: str, running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 15.4: the call is handled or handed back (ASYNCAGI BREAK) and ends; no line of
    the text ever reaches the AMI stream as a header of its own."""
    await asyncio.wait_for(running.svc.mirrored.wait(), 10)
    running.holder.redirect(BERTIL, text)
    with caplog.at_level(logging.INFO):
        call = await running.sim.place_call(BERTIL_NUMBER, "0701112233")
        await call.wait(15)  # it used to hang here: no AGI command, no hand-back
    assert call.commands, "the call got no AGI command"
    played = any(c.startswith("EXEC Playback") for c in call.commands)
    handed_back = any("handed back" in r.getMessage() for r in caplog.records)
    assert played or handed_back
    if handed_back and running.sim.dialplan is None:
        assert call.commands[-1] == "ASYNCAGI BREAK"
    assert not any(m.name.lower() == "originate" for m in running.sim.received)
    assert all(m.get("Channel") != "PJSIP/0900123456" for m in running.sim.received)


async def test_any_failure_in_a_call_task_hands_the_call_back(
    running: Running, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15.4: an error no handler expects (here while planning the call) is logged and
    the call goes back to the dialplan, which routes it from AstDB."""
    await asyncio.wait_for(running.svc.mirrored.wait(), 10)

    def broken(*_args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(running.svc.controller.plan, "steps", broken)
    with caplog.at_level(logging.INFO):
        call = await running.sim.place_call(BERTIL_NUMBER, "0701112233")
        await call.wait(15)
    assert call.commands == (["ASYNCAGI BREAK"] if running.sim.dialplan is None else [])
    failed = [r for r in caplog.records if "handed back to the dialplan" in r.getMessage()]
    assert failed and "RuntimeError" in failed[0].getMessage()
    await running.svc.controller.wait_idle(5)  # the task itself ended too


async def test_a_nul_in_a_redirect_text_never_stops_the_mirror(
    running: Running, holder: Holder
) -> None:
    """Issue 15.4: the row is written without the NUL (and CR/LF), the full resync completes
    for everyone, and the change stream goes on for the next user."""
    holder.redirect(BERTIL, "Ring\x00 mig\r\nimorgon")
    await asyncio.wait_for(running.svc.mirrored.wait(), 10)  # the resync used to fail whole
    presence = running.sim.astdb[PRESENCE_PROVIDER][BERTIL_KEY]
    assert presence.startswith("dnd,meeting,") and "\x00" not in presence and "\n" not in presence
    assert running.sim.astdb[REDIRECT_FAMILY][BERTIL_KEY].startswith("meeting|")

    holder.redirect(BERTIL, "Åter\x00\x00 snart")
    running.changes.changed(BERTIL)
    holder.redirect(ANNA, "På kurs")
    running.changes.changed(ANNA)
    await _until(lambda: ANNA_KEY in running.sim.astdb.get(REDIRECT_FAMILY, {}))
    assert "Åter" in running.sim.astdb[PRESENCE_PROVIDER][BERTIL_KEY]
    assert all(not t.done() for t in running.svc._tasks), "a telephony task has ended"
