"""ALV-11: the owner's own greeting, uploaded or recorded on the phone; the generated one stays
the default; the caller hears the chosen one."""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from vmkit import make_users

from voicemail.owner_greeting import GreetingRefused, greetings_of, normalise
from voicemail.service import Register
from voicemail.telephone_audio import pcm_from_wav

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ANNA = "anna.andersson"


def tone_wav(seconds: float, rate: int = 16000, channels: int = 1, hz: float = 440.0) -> bytes:
    """A WAV of a sine tone (as a phone or a browser would record speech)."""
    frames = int(seconds * rate)
    samples = []
    for i in range(frames):
        v = int(8000 * math.sin(2 * math.pi * hz * i / rate))
        samples.extend([v] * channels)
    pcm = struct.pack(f"<{len(samples)}h", *samples)
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
    return header + b"data" + struct.pack("<I", len(pcm)) + pcm


async def test_alv11_upload_is_normalised_chosen_and_played(
    register: Register, tmp_path: Path
) -> None:
    """ALV-11: a stereo 16 kHz upload becomes 8 kHz mono, is the owner's choice, and is put
    where the telephone platform plays it; choosing the generated one again takes it away."""
    sounds = tmp_path / "sounds"
    g = greetings_of(register, sounds)
    assert (await g.state(ANNA)).choice == "generated" and g.sound_for(ANNA) is None
    state = await g.upload(ANNA, tone_wav(3, channels=2), ANNA, NOW)
    assert state.choice == "uploaded" and state.uploaded_sha256 is not None
    rate, pcm = pcm_from_wav(g.path_for(state.uploaded_sha256).read_bytes())
    assert rate == 8000 and 2.5 <= len(pcm) / 16000 <= 3.1
    sound = g.sound_for(ANNA)
    assert sound is not None and (sounds / f"{sound}.wav").exists()
    back = await g.choose(ANNA, "generated", ANNA, NOW + timedelta(minutes=1))
    assert back.uploaded_sha256 == state.uploaded_sha256  # kept to choose again
    assert g.sound_for(ANNA) is None


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"ID3\x03 an mp3 file" + bytes(100), "inte en WAV-fil"),
        (tone_wav(0.4), "kortare än en sekund"),
        (tone_wav(0.0) + bytes(16000 * 3), "tyst"),
    ],
    ids=["mp3", "short", "silent"],
)
async def test_alv11_unusable_uploads_are_refused_with_what_to_do(data: bytes, says: str) -> None:
    """ALV-11: not a WAV, too short or silent: refused, in Swedish, saying what to do."""
    with pytest.raises(GreetingRefused) as refused:
        await normalise(data)
    assert says in refused.value.why


async def test_alv11_oversized_upload_is_refused() -> None:
    """ALV-11: more than the size cap is refused before it is read as audio."""
    with pytest.raises(GreetingRefused, match="större än"):
        await normalise(b"RIFF" + bytes(11 * 1024 * 1024))


async def test_alv11_phone_recording_is_detected_and_preferred(
    register: Register, spool: Path, tmp_path: Path
) -> None:
    """ALV-11: `unavail.wav` recorded in app_voicemail's options menu becomes Anna's greeting;
    a second look changes nothing; a new recording replaces it; the others keep the generated
    one, and the administrator's list says who they are."""
    g = greetings_of(register, tmp_path / "sounds")
    org = register.org
    box = spool / "default" / "83012"
    box.mkdir(parents=True)
    (box / "unavail.wav").write_bytes(tone_wav(2, rate=8000))

    async def scan(at: datetime) -> list[str]:
        return await g.scan_phone(spool, "default", org.directory, org.plan, register.settings, at)

    assert await scan(NOW) == [ANNA]
    first = await g.state(ANNA)
    assert first.choice == "phone" and g.sound_for(ANNA) is not None
    assert await scan(NOW + timedelta(seconds=30)) == []
    (box / "unavail.wav").write_bytes(tone_wav(2.5, rate=8000, hz=300))
    assert await scan(NOW + timedelta(minutes=1)) == [ANNA]
    assert (await g.state(ANNA)).phone_sha256 != first.phone_sha256
    with_mailbox = [u.id for u in make_users() if u.voicemail]
    still = await g.still_generated(org.directory, register.settings)
    assert ANNA not in still and sorted(still) == sorted(set(with_mailbox) - {ANNA})


async def test_alv11_choosing_a_recording_that_does_not_exist_is_refused(
    register: Register,
) -> None:
    """ALV-11: "the phone one" before anything was recorded: refused, telling how to record."""
    with pytest.raises(GreetingRefused, match="välj 0"):
        await greetings_of(register).choose(ANNA, "phone", ANNA, NOW)


def last_playback_before_voicemail(commands: list[str]) -> str:
    """The sound played just before the caller is put into VoiceMail."""
    vm = next(i for i, c in enumerate(commands) if c.startswith("EXEC VoiceMail"))
    return [c for c in commands[:vm] if c.startswith("EXEC Playback")][-1]


async def test_alv11_the_caller_hears_the_chosen_greeting(
    register: Register, tmp_path: Path
) -> None:
    """ALV-11: with Anna's uploaded greeting chosen, a caller who reaches her voicemail hears
    that recording (Playback of its sound) before VoiceMail; with the generated one chosen
    again, the rendered generated greeting."""
    from telephony.test_end_to_end import Book, service

    g = greetings_of(register, tmp_path / "sounds")
    await g.upload(ANNA, tone_wav(2), ANNA, NOW)
    own = g.sound_for(ANNA)
    assert own is not None
    book = Book()
    book.away(ANNA)
    async with service(tmp_path / "own", book) as (svc, sim):
        svc.controller.own_greeting = g.sound_for
        call = await sim.place_call("02683012", "0701112233", answer=False, leave_message="Hej")
        await call.wait(3)
        await svc.controller.wait_idle(3)
    assert last_playback_before_voicemail(call.commands) == f"EXEC Playback {own}"
    await g.choose(ANNA, "generated", ANNA, NOW)
    async with service(tmp_path / "gen", book) as (svc, sim):
        svc.controller.own_greeting = g.sound_for
        call = await sim.place_call("02683012", "0701112233", answer=False, leave_message="Hej")
        await call.wait(3)
        await svc.controller.wait_idle(3)
    generated = last_playback_before_voicemail(call.commands)
    assert generated.startswith("EXEC Playback switchboard/")
    assert generated != f"EXEC Playback {own}"
