"""What the caller hears, as audio (ALV-06, ALV-11): spoken messages rendered for the telephone
(8 kHz mono 16-bit, sox-levelled, no clipping, a lead-in silence), cached by spoken text, a
segment replaced by a recording, and a render that fails or hangs never blocking a call."""

from __future__ import annotations

import array
import asyncio
import contextlib
import logging
import math
import os
import shutil
import wave
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from routing.absence import AbsenceReason, ManualRedirect
from routing.effective import EffectiveState, effective_state
from switchboard.config import load_config
from switchboard.telephony.calllog import CallLogStore
from switchboard.telephony.config import TelephonySettings
from switchboard.telephony.service import TelephonyService
from switchboard.telephony.sim import SimulatedAsterisk
from switchboard.telephony.sounds import SoundRenderer, sound_name
from voicemail.speech import GAP_S, LEAD_IN_S, EspeakNg
from voicemail.telephone_audio import PEAK_CEILING_DB, TARGET_RMS_DB, SpeechError, wav_file

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # a Tuesday, 11:00 in Stockholm
IN_CI = os.environ.get("CI") == "true"
needs_audio_tools = pytest.mark.skipif(
    (not EspeakNg().available() or shutil.which("sox") is None) and not IN_CI,
    reason="espeak-ng and sox are not installed (Debian packages); in CI (CI=true) this runs",
)
needs_sox = pytest.mark.skipif(
    shutil.which("sox") is None and not IN_CI,
    reason="sox is not installed (Debian package sox); in CI (CI=true) this runs",
)
# The five messages callers hear most: an absence back the same day, back another day, the
# voicemail greeting, a group outside its telephone hours, nobody available in a group.
COMMON = (
    ("Anna Andersson", "är på möte,", "åter klockan", "elva och trettio."),
    ("Bertil Berg", "är på semester,", "åter", "måndag den sjunde december."),
    (
        "Hej, du har kommit till Anna Andersson på Älvkarleby kommun. Just nu kan jag inte ta "
        "ditt samtal, lämna ett meddelande efter tonen.",
    ),
    (
        "Bygglov har telefontid",
        "tisdag och torsdag, klockan nio till elva.",
        "Välkommen att ringa då.",
        "Du kopplas nu till Medborgarservice.",
    ),
    ("Ingen kan ta ditt samtal just nu. Du kopplas till Medborgarservice.",),
)


def samples(path: Path) -> tuple[int, array.array[int]]:
    """Rate and 16-bit samples of a WAV written by the renderer (mono, 16-bit checked)."""
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        data = array.array("h", w.readframes(w.getnframes()))
        return w.getframerate(), data


def db(values: array.array[int] | list[int]) -> tuple[float, float]:
    """RMS and peak in dBFS."""
    rms = math.sqrt(sum(v * v for v in values) / len(values)) / 32768
    peak = max(abs(v) for v in values) / 32768
    return 20 * math.log10(rms), 20 * math.log10(peak)


def voiced(data: array.array[int], rate: int, gap_s: float) -> list[list[int]]:
    """The stretches of sound between silences of at least `gap_s`."""
    pieces: list[list[int]] = []
    current: list[int] = []
    quiet = 0
    for v in data:
        if v == 0:
            quiet += 1
            if quiet >= gap_s * rate and current:
                pieces.append(current[: len(current) - quiet + 1])
                current = []
            elif current:
                current.append(v)
        else:
            quiet = 0
            current.append(v)
    if current:
        pieces.append(current)
    return [p for p in pieces if len(p) > rate // 50]


def tone(seconds: float, rate: int, amplitude: float, hz: float = 440.0) -> bytes:
    """A sine tone as 16-bit PCM."""
    n = round(seconds * rate)
    return array.array(
        "h", (round(amplitude * 32767 * math.sin(2 * math.pi * hz * i / rate)) for i in range(n))
    ).tobytes()


class ToneEngine:
    """A speech engine that says every text as a quiet tone at 22 050 Hz (and counts texts)."""

    name = "test:tone"

    def __init__(self, amplitude: float = 0.02) -> None:
        self.amplitude = amplitude
        self.texts: list[str] = []

    def available(self) -> bool:
        """Always."""
        return True

    async def synthesise(self, text: str) -> bytes:
        """A half-second tone."""
        self.texts.append(text)
        return wav_file(tone(0.5, 22050, self.amplitude), 22050)


class BrokenEngine:
    """A speech engine that fails, or never answers."""

    name = "test:broken"

    def __init__(self, hang: bool) -> None:
        self.hang = hang

    def available(self) -> bool:
        """It claims to be there."""
        return True

    async def synthesise(self, text: str) -> bytes:
        """Fail at once, or hang."""
        if self.hang:
            await asyncio.Event().wait()
        raise SpeechError("the voice crashed")


@needs_audio_tools
async def test_alv06_common_messages_are_telephone_audio_at_one_level(tmp_path: Path) -> None:
    """ALV-06: the five most common messages: 8 kHz mono 16-bit, a lead-in silence before the
    first syllable, no clipping (peak under -1 dBFS), the same loudness (RMS within 1 dB)."""
    renderer = SoundRenderer(tmp_path)
    levels: list[float] = []
    for message in COMMON:
        path = await renderer.wait(message, within=30)
        assert path is not None and path == tmp_path / f"{sound_name(message)}.wav"
        rate, data = samples(path)
        assert rate == 8000
        lead = round(LEAD_IN_S * rate)
        assert not any(data[:lead]) and any(data[lead : lead + rate // 10])
        _rms, peak = db(data[lead:])
        assert peak <= PEAK_CEILING_DB + 0.1, (message, peak)
        speech = [v for piece in voiced(data, rate, 0.1) for v in piece]
        levels.append(db(speech)[0])
        assert path.with_suffix(".txt").read_text("utf-8").startswith(" ".join(message))
    assert max(levels) - min(levels) <= 1.5, levels
    assert all(TARGET_RMS_DB - 4 <= level <= TARGET_RMS_DB + 2 for level in levels), levels


@needs_sox
async def test_rendering_is_cached_by_spoken_text(tmp_path: Path) -> None:
    """The same spoken segments are synthesised once, also by a new renderer (the file and its
    sidecar); other text is another file."""
    engine = ToneEngine()
    first = await SoundRenderer(tmp_path, engine=engine).wait(("Anna", "är på möte."), 10)
    again = await SoundRenderer(tmp_path, engine=engine).wait(("Anna", "är på möte."), 10)
    other = await SoundRenderer(tmp_path, engine=engine).wait(("Anna", "är på lunch."), 10)
    assert first is not None and first == again and other not in (None, first)
    assert engine.texts == ["Anna är på möte.", "Anna är på lunch."]
    # a better voice (another engine) renders the same sound name again
    better = ToneEngine(0.05)
    better.name = "test:better"
    assert await SoundRenderer(tmp_path, engine=better).wait(("Anna", "är på möte."), 10) == first
    assert better.texts == ["Anna är på möte."]


@needs_sox
async def test_a_recording_replaces_a_segment_at_the_same_level(tmp_path: Path) -> None:
    """A segment with a recording (`recordings/åter klockan.wav`, any rate, far louder) is
    played from it; every piece comes out at the same RMS; a new recording renders again."""
    engine = ToneEngine(amplitude=0.01)  # about -43 dBFS
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    recording = recordings / "åter klockan.wav"
    recording.write_bytes(wav_file(tone(0.4, 16000, 0.9, 1000), 16000))  # about -4 dBFS
    message = ("Anna Andersson", "är på möte,", "åter klockan", "elva och trettio.")
    path = await SoundRenderer(tmp_path, engine=engine).wait(message, 10)
    assert path is not None
    assert engine.texts == ["Anna Andersson är på möte,", "elva och trettio."]
    rate, data = samples(path)
    pieces = voiced(data, rate, GAP_S * 0.9)
    assert len(pieces) == 3
    rms = [db(p)[0] for p in pieces]
    assert all(abs(r - TARGET_RMS_DB) <= 0.6 for r in rms), rms
    assert abs(len(pieces[1]) - 0.4 * rate) < rate * 0.02  # the recording, resampled to 8 kHz
    assert "# recording: 'åter klockan'" in path.with_suffix(".txt").read_text("utf-8")

    recording.write_bytes(wav_file(tone(0.8, 8000, 0.5, 1000), 8000))
    again = await SoundRenderer(tmp_path, engine=engine).wait(message, 10)
    assert again == path
    assert len(voiced(samples(path)[1], rate, GAP_S * 0.9)[1]) > 0.7 * rate


async def test_without_sox_the_audio_is_still_telephone_audio(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No sox on the machine: resampled and levelled in Python, a warning says what is missing."""
    renderer = SoundRenderer(tmp_path, engine=ToneEngine(), sox="no-such-sox")
    with caplog.at_level(logging.WARNING):
        path = await renderer.wait(("Anna", "är på möte."), 10)
    assert path is not None
    rate, data = samples(path)
    lead = round(LEAD_IN_S * rate)
    assert rate == 8000 and not any(data[:lead]) and any(data[lead:])
    assert abs(db(data[lead : lead + rate // 2])[0] - TARGET_RMS_DB) < 1.0


@pytest.mark.parametrize("engine", [EspeakNg(binary="no-such-espeak-ng"), BrokenEngine(False)])
async def test_a_failed_render_gives_no_file_and_one_error(
    tmp_path: Path, engine: object, caplog: pytest.LogCaptureFixture
) -> None:
    """A missing or failing voice: no file, None to the caller, logged once."""
    renderer = SoundRenderer(tmp_path, engine=engine)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR):
        assert await renderer.wait(("Anna", "är på möte."), 5) is None
        assert await renderer.wait(("Bertil", "är på möte."), 5) is None
    assert renderer.failed == 2
    assert len([r for r in caplog.records if "not rendered" in r.message]) == 1
    assert not await asyncio.to_thread(lambda: list(tmp_path.rglob("*.wav")))


def _book() -> EffectiveState:
    org = load_config(ROOT / "config" / "alvkarleby").org
    until = NOW + timedelta(hours=3, minutes=30)
    manual = {
        "anna.andersson": ManualRedirect("anna.andersson", AbsenceReason.MEETING, until, set_at=NOW)
    }
    return effective_state(org, {}, manual)


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, renderer: SoundRenderer
) -> AsyncIterator[tuple[TelephonyService, SimulatedAsterisk]]:
    """The telephone adapter on the simulated platform, with `renderer` for its sounds."""
    sim = SimulatedAsterisk(secret="t", sounds_dir=renderer.root)
    await sim.start()
    store = CallLogStore.in_data_dir(tmp_path)
    await store.open()
    state = _book()
    svc = TelephonyService(
        state.org,
        TelephonySettings(call_deadline_s=1.0),
        lambda: state,
        lambda: NOW,
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
        await renderer.close()


@pytest.mark.parametrize("hang", [False, True], ids=["fails", "hangs"])
async def test_alv06_a_failed_render_never_blocks_the_call(
    tmp_path: Path, hang: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """ALV-06: the absence message and the greeting cannot be rendered (the voice fails, or
    hangs past the call deadline): the written text is logged, the call goes on to the
    covering point and the voicemail without them."""
    renderer = SoundRenderer(tmp_path / "sounds", engine=BrokenEngine(hang))
    with caplog.at_level(logging.WARNING):
        async with running(tmp_path, renderer) as (svc, sim):
            call = await sim.place_call("02683012", "0701112233", answer=False)
            await call.wait(10)
            await svc.controller.wait_idle(10)
    steps = [s.step for s in call.steps]
    assert steps, call.commands
    assert "message" not in steps and "greeting" not in steps
    assert steps[0] == "ring" and "voicemail" in steps and steps[-1] == "hangup"
    assert not any(c.startswith("EXEC Playback") for c in call.commands)
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "Anna Andersson är på möte, åter klockan 14.30." in logged
    assert "Hej, du har kommit till Anna Andersson på Älvkarleby kommun." in logged


@needs_audio_tools
async def test_alv06_the_call_plays_the_spoken_prompts_the_astdb_row_names(
    tmp_path: Path,
) -> None:
    """ALV-06: the call plays the sound of the decision's spoken prompts, the same sound the
    AstDB row names for the dialplan, rendered before Playback."""
    renderer = SoundRenderer(tmp_path / "sounds")
    async with running(tmp_path, renderer) as (_svc, sim):
        await renderer.idle(30)
        row = sim.astdb["switchboard/redirect"]["83012"]
        call = await sim.place_call("02683012", "0701112233", answer=False)
        await call.wait(20)
        await _svc.controller.wait_idle(20)
    message = call.steps[0].as_json()
    spoken = ("Anna Andersson", "är på möte,", "åter klockan", "fjorton och trettio.")
    assert message["sound"] == row.split("|")[2] == sound_name(spoken)
    assert message["text"] == "Anna Andersson är på möte, åter klockan 14.30."
    path = Path(str(message["audio"]))
    assert path.with_suffix(".txt").read_text("utf-8").startswith(" ".join(spoken))


async def test_a_cancelled_render_leaves_no_process_or_pipe_behind() -> None:
    """A render cancelled at shutdown kills its helper and closes every pipe: nothing is left
    for the garbage collector to report as unclosed (in some later, unrelated test)."""
    import gc
    import warnings

    from voicemail.telephone_audio import run_helper as _run

    # a helper whose own child keeps the pipes open (as a stuck pipeline would)
    task = asyncio.create_task(_run(["sh", "-c", "cat >/dev/null; sleep 120"], stdin=b"x" * 10))
    await asyncio.sleep(0.2)  # the helper runs
    task.cancel()
    async with asyncio.timeout(20):  # a shutdown does not wait for the grandchild
        with pytest.raises(asyncio.CancelledError):
            await task
    del task
    await asyncio.sleep(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
