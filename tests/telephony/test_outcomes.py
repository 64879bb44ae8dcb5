"""Issue 14.3 and 14.5: after every Playback, Dial and VoiceMail the service reads the step's
status (PLAYBACKSTATUS, DIALSTATUS, VMSTATUS); the call log says what the caller got, and a
failed step is its own outcome, never a quiet success."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from switchboard.telephony.asterisk_config import extensions_conf
from switchboard.telephony.config import TelephonySettings
from switchboard.telephony.sim import SimulatedAsterisk

from .test_end_to_end import ANNA, NOW, Book, _org, logged, service

BERTIL = "bertil.berg"


async def outcome_of(
    tmp_path: Path, book: Book, to: str, caller: str = "0701112233", **kw: object
) -> str:
    """Place one call; the call log's outcome."""
    async with service(tmp_path, book) as (svc, sim):
        call = await sim.place_call(to, caller, **kw)  # type: ignore[arg-type]
        await call.wait(3)
        await svc.controller.wait_idle(3)
    entries = await logged(tmp_path)
    assert len(entries) == 1
    return str(entries[0]["outcome"])


@pytest.mark.parametrize(
    ("away", "to", "caller", "kw", "outcome"),
    [
        (None, "02683012", "0701112233", {"answer": True}, "answered"),
        (ANNA, "02683012", "0701112233", {"answer": True}, "covering_point"),  # Bertil answers
        (
            ANNA,
            "02683012",
            "0701112233",
            {"answer": False, "leave_message": "Hej"},
            "voicemail_left",
        ),
        (ANNA, "02683012", "0701112233", {"answer": False}, "voicemail_empty"),
        (None, "02683015", "0701112233", {"answer": False}, "no_answer"),  # David: no mailbox
        (None, "00493012345678", "83012", {}, "rejected"),  # ALV-19
        (ANNA, "02683012", "0701112233", {"hang_up_at": "ring"}, "message"),
    ],
)
async def test_hal03_outcome_says_what_the_caller_got(
    tmp_path: Path, away: str | None, to: str, caller: str, kw: dict[str, object], outcome: str
) -> None:
    """HAL-03: answered, covering point, voicemail left (or reached and left empty), message
    only, no answer, rejected: the log's outcome, never a blanket `completed`."""
    book = Book()
    if away:
        book.away(away)
    assert await outcome_of(tmp_path, book, to, caller, **kw) == outcome


async def test_missing_mailbox_is_a_failed_step_not_completed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """14.3: the platform has no mailbox 83013 (a hand-written voicemail.conf with one entry):
    VoiceMail fails while the caller is still there. The call is `failed_step` and the log
    names the step and VMSTATUS, instead of `completed`."""
    sim = SimulatedAsterisk(secret="t", clock=NOW.timestamp)
    sim.load_dialplan(extensions_conf(_org(), TelephonySettings()), {"83012"})
    await sim.start()
    caplog.set_level(logging.ERROR)
    async with service(tmp_path, Book(), platform=sim) as (svc, _):
        call = await sim.place_call("02683013", "0701112233", answer=False, leave_message="x")
        await call.wait(3)
        await svc.controller.wait_idle(3)
    assert call.steps[2].detail.get("failed") == "no such mailbox"
    assert [e["outcome"] for e in await logged(tmp_path)] == ["failed_step"]
    assert "EXEC VoiceMail 83013@default,s failed: VMSTATUS=FAILED" in caplog.text


async def test_a_sound_asterisk_cannot_find_is_a_failed_step_with_the_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """14.4: Asterisk plays `switchboard/<key>` from its sounds directory; when the file is not
    there (PLAYBACKSTATUS=FAILED, the caller hears silence) the log names the sound, and the
    call is `failed_step`."""
    sim = SimulatedAsterisk(secret="t", clock=NOW.timestamp, sounds_dir=tmp_path / "empty")
    await sim.start()
    caplog.set_level(logging.ERROR)
    book = Book()
    book.away(ANNA)
    async with service(tmp_path, book, platform=sim) as (svc, _):
        call = await sim.place_call("02683012", "0701112233", answer=True)
        await call.wait(3)
        await svc.controller.wait_idle(3)
    assert call.steps[0].detail.get("missing") is True
    assert [e["outcome"] for e in await logged(tmp_path)] == ["failed_step"]
    assert "PLAYBACKSTATUS=FAILED" in caplog.text and "EXEC Playback switchboard/" in caplog.text
