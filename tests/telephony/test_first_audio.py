"""Issue 21 (ALV-06): a caller never waits for a render. A message the voice has not rendered
yet is played from what exists — its segments rendered once as pieces, joined in one
`Playback lead-in&a&b&c` — the pieces still missing follow in a second Playback; with nothing
of it rendered, the generic prompt plays first. The voice here is held by events (no sleeping):
each text waits until the test lets it go."""

from __future__ import annotations

import array
import asyncio
import contextlib
import math
import re
import shutil
import wave
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from routing import spoken
from routing.absence import AbsenceReason, ManualRedirect
from routing.effective import EffectiveState, effective_state
from switchboard.config import load_config
from switchboard.telephony.config import TelephonySettings
from switchboard.telephony.service import TelephonyService
from switchboard.telephony.sim import SimCall, SimulatedAsterisk
from switchboard.telephony.sounds import (
    AHEAD,
    GENERIC_PROMPT,
    LEAD_IN_NAME,
    NOW,
    SoundRenderer,
    joined,
    piece_name,
    sound_name,
)
from voicemail.speech import (
    CLAUSE_PAUSE_S,
    SENTENCE_PAUSE_S,
    WORD_PAUSE_S,
    EspeakNg,
    pause_after,
    render_piece,
)
from voicemail.telephone_audio import wav_file

ROOT = Path(__file__).resolve().parents[2]
NOW_AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # a Tuesday, 11.00 in Stockholm
ANNA = "anna.andersson"
UNTIL = NOW_AT + timedelta(hours=5)  # 16.00 in Stockholm


class HeldVoice:
    """A speech engine whose texts wait until they are let go (all of them, while `open`)."""

    name = "test:held"

    def __init__(self, passes: tuple[str, ...] = ()) -> None:
        self.open = True
        self.passes = set(passes)  # said at once even while held
        self.asked: list[str] = []
        self.waiting: dict[str, asyncio.Event] = {}
        self.arrived = asyncio.Event()  # a text came to wait

    def available(self) -> bool:
        """Always."""
        return True

    async def holding(self, text: str) -> None:
        """Until `text` waits to be said."""
        while text not in self.waiting:
            self.arrived.clear()
            await self.arrived.wait()

    def let_go(self) -> None:
        """Every text, now and from now on, is said at once."""
        self.open = True
        for event in self.waiting.values():
            event.set()

    async def synthesise(self, text: str) -> bytes:
        """A tenth of a second of a quiet tone, once the text is let go."""
        self.asked.append(text)
        if not self.open and text not in self.passes:
            event = self.waiting.setdefault(text, asyncio.Event())
            self.arrived.set()
            await event.wait()
        pcm = array.array("h", (round(600 * math.sin(i * 0.345)) for i in range(800)))
        return wav_file(pcm.tobytes(), 8000)


class WatchedPlatform(SimulatedAsterisk):
    """The simulated platform, noting what `probe` says at each Playback."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.probe: Callable[[], object] = lambda: None
        self.at_play: list[object] = []
        self.played = asyncio.Event()

    def _play(self, call: SimCall, sound: str) -> bool:
        self.at_play.append(self.probe())
        self.played.set()
        return super()._play(call, sound)


def anna(note: str = "", reason: AbsenceReason = AbsenceReason.MEETING) -> EffectiveState:
    """Anna away until 16.00 (set by hand), with this note."""
    org = load_config(ROOT / "config" / "alvkarleby").org
    redirect = ManualRedirect(ANNA, reason, UNTIL, note, set_at=NOW_AT)
    return effective_state(org, {}, {ANNA: redirect})


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, state: list[EffectiveState], *, held: bool = False
) -> AsyncIterator[tuple[TelephonyService, WatchedPlatform, HeldVoice, SoundRenderer]]:
    """The service on the simulated platform; the mirror's renders done (`held`: the voice
    held from the start, but for the generic prompt)."""
    voice = HeldVoice(passes=GENERIC_PROMPT)
    voice.open = not held
    renderer = SoundRenderer(tmp_path / "sounds", engine=voice, sox="no-sox-here")
    sim = WatchedPlatform(secret="t", sounds_dir=renderer.root)
    await sim.start()
    current: Callable[[], EffectiveState] = lambda: state[0]  # noqa: E731
    svc = TelephonyService(
        state[0].org,
        TelephonySettings(call_deadline_s=5.0),
        current,
        lambda: NOW_AT,
        renderer=renderer,
        simulated=sim,
    )
    await svc.start()
    try:
        await asyncio.wait_for(svc.mirrored.wait(), 10)
        if held:
            assert await renderer.wait(GENERIC_PROMPT, 10) is not None
        else:
            await renderer.idle(30)
        yield svc, sim, voice, renderer
    finally:
        voice.let_go()
        await svc.stop()
        await sim.close()
        await renderer.close()


def message_steps(call: SimCall) -> list[dict[str, object]]:
    """The message Playbacks the caller heard, in order."""
    return [s.as_json() for s in call.steps if s.step == "message"]


async def test_alv06_a_call_right_after_a_change_plays_what_exists_at_once(
    tmp_path: Path,
) -> None:
    """ALV-06 / issue 21: Anna's note changes and a call comes at once, before the voice has
    said the new note: the first Playback goes out while the voice still holds it — the
    pieces that exist (her name, the reason, "åter klockan", the time) after the lead-in —
    and the note follows as soon as it is rendered. Every segment is heard, in order."""
    state = [anna("Åter efter lunch.")]
    async with running(tmp_path, state) as (svc, sim, voice, renderer):
        note = "Ring gärna i morgon."
        segments = ("Anna Andersson", "är på möte,", "åter klockan", "sexton.", note)
        sim.probe = lambda: (renderer.knows(segments), renderer.has_piece(note))
        state[0] = anna(note)  # the mirror has not been told
        voice.open = False
        call = await sim.place_call("02683012", "0701112233", answer=False)
        await asyncio.wait_for(sim.played.wait(), 10)
        assert sim.at_play == [(False, False)]  # the first audio did not wait for a render
        await asyncio.wait_for(voice.holding(note), 10)
        assert len(sim.at_play) == 1  # the note is not rendered: its Playback waits for it
        voice.let_go()
        await call.wait(10)
        await svc.controller.wait_idle(10)
        await renderer.idle(10)
    head, tail = message_steps(call)
    assert head["sound"] == joined([LEAD_IN_NAME, *(piece_name(s) for s in segments[:4])])
    assert tail["sound"] == piece_name(note)
    assert head["text"] == "Anna Andersson är på möte, åter klockan 16.00. Ring gärna i morgon."
    for step in (head, tail):
        assert "missing" not in step
        for audio in str(step["audio"]).split("&"):
            assert await asyncio.to_thread(Path(audio).is_file), audio
    played = [c for c in call.commands if c.startswith("EXEC Playback")]
    assert played[:2] == [f"EXEC Playback {head['sound']}", f"EXEC Playback {tail['sound']}"]
    assert renderer.knows(segments)  # later callers get the message's own file
    assert call.steps[-1].step == "hangup"


async def test_alv06_nothing_rendered_plays_the_generic_prompt_then_the_message(
    tmp_path: Path,
) -> None:
    """ALV-06 / issue 21: nothing of the message is rendered (the voice held all but the
    generic prompt since the start) and the short wait is over: the caller hears the generic
    prompt at once, then the message when the voice has said it."""
    state = [anna()]
    async with running(tmp_path, state, held=True) as (svc, sim, voice, renderer):
        svc.controller.agi.first_audio_wait_s = 0.0  # the short wait is over at once
        segments = ("Anna Andersson", "är på möte,", "åter klockan", "sexton.")
        sim.probe = lambda: renderer.knows(segments) or renderer.has_piece(segments[0])
        call = await sim.place_call("02683012", "0701112233", answer=False)
        await asyncio.wait_for(sim.played.wait(), 10)
        assert sim.at_play == [False]  # nothing of the message was rendered
        voice.let_go()
        await call.wait(10)
        await svc.controller.wait_idle(10)
    generic, message = message_steps(call)
    assert generic["sound"] == sound_name(GENERIC_PROMPT)
    assert message["sound"] in (sound_name(segments), joined(piece_name(s) for s in segments))
    assert "missing" not in message


async def test_alv06_a_caller_who_hangs_up_during_the_first_part_is_not_played_the_rest(
    tmp_path: Path,
) -> None:
    """The caller hangs up while the pieces that exist play: the rest is neither waited for
    nor played; nothing more is sent."""
    state = [anna("Åter efter lunch.")]
    async with running(tmp_path, state) as (svc, sim, voice, renderer):
        state[0] = anna("Ring gärna i morgon.")
        voice.open = False
        call = await sim.place_call("02683012", "0701112233", hang_up_at="message")
        await call.wait(10)
        await svc.controller.wait_idle(10)
        assert not renderer.has_piece("Ring gärna i morgon.")  # held: the call did not wait
    assert [s.step for s in call.steps] == ["message", "hangup"]
    assert [c for c in call.commands if c.startswith("EXEC Playback")] == [
        f"EXEC Playback {message_steps(call)[0]['sound']}"
    ]


async def test_a_render_a_caller_waits_for_goes_before_the_renders_ahead(tmp_path: Path) -> None:
    """Renders run two at a time; one a call waits for (NOW) is let in before every render
    ahead still waiting, also one asked for ahead and then by a call."""
    voice = HeldVoice()
    voice.open = False
    renderer = SoundRenderer(tmp_path, engine=voice, sox="no-sox-here")
    try:
        for text in ("a.", "b.", "c.", "d."):
            renderer.ensure((text,), level=AHEAD)
        renderer.ensure(("e.",), level=AHEAD)
        renderer.ensure_pieces(["f"], level=NOW)
        renderer.ensure(("e.",), level=NOW)
        await asyncio.wait_for(voice.holding("a."), 10)
        await asyncio.wait_for(voice.holding("b."), 10)
        # one render done, the next comes to the voice; only then the next one is done
        for done, comes in (("a.", "e."), ("b.", "f"), ("e.", "c."), ("f", "d.")):
            voice.waiting[done].set()
            await asyncio.wait_for(voice.holding(comes), 10)
        voice.let_go()
        await renderer.idle(10)
    finally:
        voice.let_go()
        await renderer.close()
    assert sorted(voice.asked[:2]) == ["a.", "b."]  # the two slots, in either order
    assert voice.asked[2:] == ["e.", "f", "c.", "d."]
    assert renderer.has_piece("f") and renderer.knows(("e.",))


def test_a_piece_ends_in_the_pause_its_punctuation_asks_for() -> None:
    """Pieces joined in order keep the sentence's pauses: a full stop, a comma, none."""
    assert pause_after("elva och trettio.") == SENTENCE_PAUSE_S
    assert pause_after("är på möte,") == CLAUSE_PAUSE_S
    assert pause_after("åter klockan") == WORD_PAUSE_S
    assert WORD_PAUSE_S < CLAUSE_PAUSE_S < SENTENCE_PAUSE_S


async def test_a_missing_piece_fails_the_joined_playback_on_the_platform(tmp_path: Path) -> None:
    """As Asterisk does, `Playback a&b` plays each file in turn and fails when one is missing."""
    sounds = tmp_path / "sounds"
    (sounds / "x").mkdir(parents=True)
    for name in ("a", "b"):
        (sounds / "x" / f"{name}.wav").write_bytes(wav_file(b"\0\0" * 80))
    sim = SimulatedAsterisk(secret="t", sounds_dir=sounds)
    call = SimCall("PJSIP/t-1", "1.1", "1.1", "1", "", "")
    assert await sim._app(call, "Playback", "x/a&x/b") == 0
    assert call.variables["PLAYBACKSTATUS"] == "SUCCESS"
    assert await sim._app(call, "Playback", "x/a&x/c&x/b") == 0
    assert call.variables["PLAYBACKSTATUS"] == "FAILED"
    assert call.steps[-1].detail["missing"] is True


ESPEAK = EspeakNg()
needs_voice = pytest.mark.skipif(
    not ESPEAK.available() or shutil.which("sox") is None,
    reason="espeak-ng and sox are not installed (Debian packages)",
)
# Spoken messages whose pieces a caller may hear joined: times, dates, years, numbers to dial.
JOINED = (
    ("Anna Andersson", "är på möte,", "åter klockan", "elva och trettio."),
    ("Anna Andersson", "är på lunch,", "åter klockan", "tolv noll fem."),
    ("Bertil Berg", "är på semester,", "åter", "måndag den sjunde december."),
    ("Bertil Berg", "är inte på plats,", "åter", "måndag den fjärde januari tvåtusen tjugosju."),
    ("Bygglov har telefontid", "tisdag och torsdag, klockan nio till elva."),
    ("Kontakta Medborgarservice på", "noll tjugosex, åtta tre noll, noll noll,"),
)


def _words(phonemes: str) -> list[str]:
    """espeak-ng's phoneme words without its pause marks (`_:`, `_`)."""
    return re.sub(r"_:?", " ", phonemes).split()


@needs_voice
@pytest.mark.parametrize("segments", JOINED, ids=lambda s: s[-1][:24])
async def test_alv06_joined_pieces_say_what_the_sentence_says(
    tmp_path: Path, segments: tuple[str, ...]
) -> None:
    """ALV-06: each piece, said alone, is said as in the whole sentence (espeak-ng's own
    phonemes, `espeak-ng -v sv -x`): "klockan elva och trettio", never "elva punkt
    trettio"; each rendered piece is telephone audio with no lead-in and its pause after."""
    whole = await asyncio.to_thread(ESPEAK.phonemes, spoken.spoken_text(segments))
    pieces = [await asyncio.to_thread(ESPEAK.phonemes, s) for s in segments]
    assert [w for p in pieces for w in _words(p)] == _words(whole)
    assert "p'Unkt" not in " ".join(pieces) and "punkt" not in " ".join(pieces).lower()
    last = segments[-1]
    path = await render_piece(last, tmp_path, ESPEAK)
    with wave.open(str(path)) as w:
        rate, frames = w.getframerate(), w.readframes(w.getnframes())
    data = array.array("h", frames)
    assert rate == 8000 and any(data[: rate // 20])  # speech at once: no lead-in
    pause = round(pause_after(last) * rate)
    assert not any(data[-pause:]) and any(data[-pause - rate // 10 : -pause])
