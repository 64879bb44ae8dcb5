"""The telephone adapter end to end over TCP against the simulated platform (ALV-01/04/06/18/19).

The platform runs the dialplan the service generates; calls reach the service over FastAGI."""

from __future__ import annotations

import asyncio
import contextlib
import wave
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from routing.absence import AbsenceReason, ManualRedirect, Redirect
from routing.effective import EffectiveChange, EffectiveState, effective_state
from routing.models import Organisation
from switchboard.config import load_config
from switchboard.telephony.calllog import CallLogStore
from switchboard.telephony.config import TelephonySettings
from switchboard.telephony.service import TelephonyService
from switchboard.telephony.sim import SimulatedAsterisk
from switchboard.telephony.sounds import SoundRenderer
from voicemail.greetings import espeak_available

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # a Tuesday, 11:00 in Stockholm
ANNA = "anna.andersson"


def _org() -> Organisation:
    return load_config(ROOT / "config" / "alvkarleby").org


class Book:
    """Mutable manual redirects over the sample organisation: the effective state the service
    reads (as the running service's EffectiveHub would give it)."""

    def __init__(self) -> None:
        self.manual: dict[str, ManualRedirect] = {}
        self.org = _org()

    def __call__(self) -> EffectiveState:
        return effective_state(self.org, {}, dict(self.manual))

    def away(self, user: str) -> Redirect:
        until = NOW + timedelta(hours=3, minutes=30)
        self.manual[user] = ManualRedirect(user, AbsenceReason.MEETING, until, set_at=NOW)
        return Redirect(AbsenceReason.MEETING, NOW, until, "manual")


async def logged(tmp_path: Path) -> list[dict[str, object]]:
    """The call log's entries (oldest first) after the service stopped."""
    async with CallLogStore.in_data_dir(tmp_path) as store:
        return [dict(e) for e in await store.calls()]


@contextlib.asynccontextmanager
async def service(
    tmp_path: Path,
    book: Book,
    changes: asyncio.Queue[object] | None = None,
    renderer: SoundRenderer | None = None,
    platform: SimulatedAsterisk | None = None,
) -> AsyncIterator[tuple[TelephonyService, SimulatedAsterisk]]:
    """A started TelephonyService on a simulated platform (a started `platform`, or a new
    one) with a call log; stopped afterwards."""
    sim = platform or SimulatedAsterisk(
        secret="t", sounds_dir=renderer.root if renderer else None, clock=NOW.timestamp
    )
    if platform is None:
        await sim.start()
    store = CallLogStore.in_data_dir(tmp_path)
    await store.open()

    async def iterate() -> AsyncIterator[object]:
        assert changes is not None
        while True:
            yield await changes.get()

    svc = TelephonyService(
        _org(),
        TelephonySettings(call_deadline_s=1.0),
        book,
        lambda: NOW,
        changes=iterate() if changes is not None else None,
        calllog=store,
        renderer=renderer,
        simulated=sim,
    )
    await svc.start()
    try:
        await asyncio.wait_for(svc.mirrored.wait(), 3)
        yield svc, sim
    finally:
        await svc.stop()
        await store.close()


async def test_full_resync_writes_astdb_and_presence(tmp_path: Path) -> None:
    """On connect every extension gets its AstDB row and CustomPresence value."""
    book = Book()
    book.away(ANNA)
    async with service(tmp_path, book) as (_svc, sim):
        row = sim.astdb["switchboard/redirect"]["83012"]
        reason, until, sound = row.split("|")
        assert reason == "meeting" and int(until) == int(
            (NOW + timedelta(hours=3, minutes=30)).timestamp()
        )
        assert sound.startswith("switchboard/") and len(sound) == len("switchboard/") + 64
        presence = sim.astdb["CustomPresence"]["83012"]
        assert presence.startswith("dnd,meeting,Anna Andersson")
        assert sim.astdb["CustomPresence"]["83013"] == "available,,"


async def test_presence_change_reaches_astdb_and_custom_presence(tmp_path: Path) -> None:
    """A change from the calendar-sync channel reaches AstDB and CustomPresence, and its end
    clears both (the latency is measured in benchmarks and /metrics, not here: bounded waits)."""
    book = Book()
    changes: asyncio.Queue[object] = asyncio.Queue()
    async with service(tmp_path, book, changes) as (_svc, sim):

        def mirrored(redirected: bool) -> bool:
            row = "83012" in sim.astdb.get("switchboard/redirect", {})
            presence = sim.astdb.get("CustomPresence", {}).get("83012", "")
            if redirected:
                return row and presence.startswith("dnd,meeting,Anna Andersson")
            return not row and presence == "available,,"

        assert not mirrored(True)
        book.away(ANNA)
        changes.put_nowait(EffectiveChange(ANNA, None, None, NOW))
        async with asyncio.timeout(2):
            while not mirrored(True):  # noqa: ASYNC110 - polls a plain dict under a timeout
                await asyncio.sleep(0.001)
        del book.manual[ANNA]
        changes.put_nowait(EffectiveChange(ANNA, None, None, NOW))
        async with asyncio.timeout(2):
            while not mirrored(False):  # noqa: ASYNC110 - polls a plain dict under a timeout
                await asyncio.sleep(0.001)


async def test_alv06_redirected_extension_hears_message_then_voicemail(tmp_path: Path) -> None:
    """ALV-06: a call to Anna's extension during her meeting: absence message, greeting, voicemail."""
    book = Book()
    book.away(ANNA)
    async with service(tmp_path, book) as (_svc, sim):
        call = await sim.place_call("02683012", "0701112233", "Örjan Öst", answer=False)
        await call.wait(3)
        await _svc.controller.wait_idle(3)
    steps = [s.as_json() for s in call.steps]
    kinds = [s["step"] for s in steps]
    assert kinds == ["message", "ring", "greeting", "voicemail", "hangup"]
    assert steps[1]["target"] == "PJSIP/83013"  # the covering point, Bertil Berg
    assert "Anna Andersson" in str(steps[0]["text"]) and "åter" in str(steps[0]["text"])
    assert str(steps[0]["sound"]).startswith("switchboard/")
    assert steps[3]["mailbox"] == "83012"
    log = await logged(tmp_path)
    assert len(log) == 1  # one row per call
    # the caller hung up at the beep without a message: they reached the voicemail
    assert log[0]["outcome"] == "voicemail_empty" and log[0]["action"] == "redirect"
    assert log[0]["called"] == "02683012" and log[0]["caller"] == "0701112233"
    assert log[0]["dialled"] == ["PJSIP/83013"] and log[0]["dial_status"] == "NOANSWER"
    assert log[0]["start"] == "2026-11-24T10:00:00.000+00:00" and log[0]["end"] is not None
    assert log[0]["interrupted"] is False


async def test_alv04_same_users_mobile_rings_straight_through(tmp_path: Path) -> None:
    """ALV-04: the mobile number rings even while the extension is redirected."""
    book = Book()
    book.away(ANNA)
    async with service(tmp_path, book) as (_svc, sim):
        call = await sim.place_call("0701234567", "0701112233")
        await call.wait(3)
    assert [s.step for s in call.steps] == ["ring", "hangup"]
    assert call.steps[0].detail["answered"] is True


async def test_unanswered_extension_goes_to_voicemail(tmp_path: Path) -> None:
    """No answer on a free extension: Dial, then greeting and voicemail."""
    async with service(tmp_path, Book()) as (_svc, sim):
        call = await sim.place_call("02683012", "0701112233", answer=False)
        await call.wait(3)
    assert [s.step for s in call.steps] == ["ring", "greeting", "voicemail", "hangup"]


async def test_alv19_international_call_blocked_with_swedish_message(tmp_path: Path) -> None:
    """ALV-19: staff calling abroad hear why the call is blocked."""
    async with service(tmp_path, Book()) as (_svc, sim):
        call = await sim.place_call("00493012345678", "83012")
        await call.wait(3)
    texts = [str(s.detail.get("text", "")) for s in call.steps]
    assert any("Samtal till utlandet är spärrade" in t for t in texts)
    assert call.steps[-1].step == "hangup"


async def test_caller_hangs_up_mid_message(tmp_path: Path) -> None:
    """A hangup while the message plays (FastAGI: `HANGUP`, Playback returns -1) ends the
    service's handling at once: nothing more is sent, the log says the caller hung up."""
    book = Book()
    book.away(ANNA)
    async with service(tmp_path, book) as (svc, sim):
        call = await sim.place_call("02683012", "0701112233", hang_up_at="message")
        await call.wait(3)
        await svc.controller.wait_idle(3)
    assert [s.step for s in call.steps] == ["message", "hangup"]
    assert not any(c.startswith(("EXEC Dial", "EXEC VoiceMail")) for c in call.commands)
    log = await logged(tmp_path)
    assert [e["outcome"] for e in log] == ["caller_hung_up"]


async def test_ami_drops_mid_call_the_fastagi_call_goes_on_and_state_is_restored(
    tmp_path: Path,
) -> None:
    """The AMI link drops while a call rings the covering point: the call (on its own FastAGI
    connection) still ends in voicemail and is logged once; AstDB is restored on reconnect."""
    book = Book()
    book.away(ANNA)
    ringing = asyncio.Event()
    async with service(tmp_path, book) as (svc, sim):
        call = await sim.place_call(
            "02683012", "0701112233", answer=False, leave_message="Hej", hold=ringing
        )
        async with asyncio.timeout(3):
            while not any(s.step == "message" for s in call.steps):  # noqa: ASYNC110 - bounded by the timeout
                await asyncio.sleep(0.001)
        svc.mirrored.clear()
        await sim.drop_sessions()
        sim.astdb.clear()  # and AstDB lost its rows meanwhile
        ringing.set()
        await call.wait(3)
        await svc.controller.wait_idle(3)
        await asyncio.wait_for(svc.mirrored.wait(), 5)
        assert sim.astdb["switchboard/redirect"]["83012"].startswith("meeting|")
        assert sim.astdb["switchboard/fallback"]["83012"].startswith("PJSIP/83012|PJSIP/83013|")
    assert [s.step for s in call.steps] == ["message", "ring", "greeting", "voicemail", "hangup"]
    log = await logged(tmp_path)
    assert [(e["outcome"], e["interrupted"]) for e in log] == [("voicemail_left", False)]


@pytest.mark.parametrize("deadline", [0.05])
async def test_call_handed_back_when_no_decision_in_time(tmp_path: Path, deadline: float) -> None:
    """A presence source that hangs never holds a call: ASYNCAGI BREAK after the deadline."""
    gate = asyncio.Event()

    class SlowBook(Book):
        def __call__(self) -> EffectiveState:
            raise TimeoutError  # stands for a source too slow to answer within the deadline

    sim = SimulatedAsterisk(secret="t")
    await sim.start()
    svc = TelephonyService(
        _org(),
        TelephonySettings(call_deadline_s=deadline),
        Book(),
        lambda: NOW,
        simulated=sim,
    )
    svc.controller.state = SlowBook()
    await svc.start()
    try:
        await asyncio.wait_for(svc.mirrored.wait(), 3)
        call = await sim.place_call("02683012", "0701112233")
        await call.wait(3)
    finally:
        gate.set()
        await svc.stop()
    # FastAGI: nothing was sent; the connection closed and the dialplan's fallback rang Anna
    assert call.commands == []
    assert [s.step for s in call.steps] == ["fallback", "ring", "hangup"]
    assert call.steps[1].detail["target"] == "PJSIP/83012"


async def test_hal09_premium_rate_call_blocked_with_swedish_message(tmp_path: Path) -> None:
    """HAL-09: staff calling a 0900 number hear why it is blocked; nothing is dialled."""
    async with service(tmp_path, Book()) as (_svc, sim):
        call = await sim.place_call("0900123456", "83012")
        await call.wait(3)
    steps = [s.as_json() for s in call.steps]
    assert [s["step"] for s in steps] == ["message", "hangup"]
    assert "spärrade" in str(steps[0]["text"])
    assert not any(c.startswith("EXEC Dial") for c in call.commands)


@pytest.mark.parametrize(
    ("caller", "to", "target"),
    [
        ("83023", "0900123456", "PJSIP/0900123456@trunk"),  # Lena Lund: premium_unlocked
        # Ivar: international_unlocked; the trunk gets 0049…, what the shipped dialplan expects
        ("83020", "00493012345678", "PJSIP/00493012345678@trunk"),
    ],
)
async def test_per_user_unlock_dials_out(tmp_path: Path, caller: str, to: str, target: str) -> None:
    """ALV-19/HAL-09: a user with an unlock is dialled out through AsyncAGI."""
    async with service(tmp_path, Book()) as (_svc, sim):
        call = await sim.place_call(to, caller)
        await call.wait(3)
    assert [s.step for s in call.steps] == ["ring", "hangup"]
    assert call.steps[0].detail["target"] == target


async def test_messages_are_rendered_to_the_files_astdb_names(tmp_path: Path) -> None:
    """The AstDB row's sound and the played message exist as 8 kHz mono 16-bit WAV files."""
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    renderer = SoundRenderer(tmp_path / "sounds")
    book = Book()
    book.away(ANNA)
    async with service(tmp_path, book, renderer=renderer) as (_svc, sim):
        await renderer.idle(20)
        sound = sim.astdb["switchboard/redirect"]["83012"].split("|")[2]
        call = await sim.place_call("02683012", "0701112233", answer=False)
        await call.wait(20)
    played = call.steps[0].as_json()
    assert played["sound"] == sound
    for path in (tmp_path / "sounds" / f"{sound}.wav", Path(str(played["audio"]))):
        with wave.open(str(path)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
            assert w.getnframes() > 8000  # more than a second of speech


async def test_agi_command_without_answer_is_a_timeout_and_the_call_is_handed_back(
    tmp_path: Path,
) -> None:
    """A command that gets no answer in time ends the service's handling as `timeout` (not
    `caller_hung_up`), and the call goes back to the dialplan instead of hanging: its fallback
    plays the message and rings the covering point, and the log says so."""
    book = Book()
    book.away(ANNA)
    async with service(tmp_path, book) as (svc, sim):
        sim.stall_commands = ("EXEC Playback",)
        svc.controller.agi_grace_s = 0.2
        call = await sim.place_call("02683012", "0701112233")
        await call.wait(5)
        await svc.controller.wait_idle(5)
    assert call.commands[-1].startswith("EXEC Playback")
    assert [s.step for s in call.steps] == ["fallback", "message", "ring", "hangup"]
    log = await logged(tmp_path)
    assert [e["outcome"] for e in log] == ["fallback_covering_point"]
