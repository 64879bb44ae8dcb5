"""Speech behind one interface, and the telephone audio every spoken message becomes.

`SpeechEngine` turns spoken text into a WAV; `EspeakNg` (Debian `espeak-ng`, voice `sv`) is
the one shipped, and a better Swedish voice replaces it by implementing the same three members.
The engine's own pronunciation fixes live in its adapter (`EspeakNg.prepare`), so the spoken
form (`routing.spoken`) stays plain Swedish.

`render_message` makes the file a caller hears from a message's spoken segments: consecutive
synthesised segments are read as one sentence (a speech engine's intonation spans the
sentence); a segment with a recording (`<recordings>/<segment>.wav`, the segment's text without
its closing punctuation) is played from that recording instead. Every piece goes through sox
(`voicemail.telephone_audio`):
8 kHz mono 16-bit for the telephone, the engine's leading and trailing silence trimmed, its
level set to the same RMS (-23 dBFS) with the peak kept under -1 dBFS (no clipping); then a short
lead-in silence, so the platform's first frames never cut the first syllable. Files are cached
by the spoken text; a sidecar `.txt` names the spoken text, the engine and the recordings used,
so a new voice or a new recording renders the file again.

`render_piece` makes one segment's file to be played joined with others (`Playback a&b&c`,
issue 21): no lead-in (that is `render_lead_in`'s file, played first), and after the words the
pause the segment's closing punctuation asks for (`pause_after`), so pieces joined in order sound
like the sentence, pauses and all.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from voicemail.telephone_audio import (
    TARGET_RATE,
    SpeechError,
    pcm_from_wav,
    python_pcm,
    run_helper,
    silence,
    telephone_pcm,
    wav_file,
)

log = logging.getLogger(__name__)

FORMAT = "2"  # in every cache key: bumped when the audio pipeline changes
LEAD_IN_S = 0.25  # silence before the first syllable
GAP_S = 0.15  # between a recording and synthesised speech
TAIL_S = 0.2
# After a piece played joined with others: the pause its closing punctuation asks for.
SENTENCE_PAUSE_S = 0.35  # ". ! ?"
CLAUSE_PAUSE_S = 0.2  # ", ; :"
WORD_PAUSE_S = 0.05  # none: the words go on ("åter klockan" + "elva och trettio.")


class SpeechEngine(Protocol):
    """Text to speech: what a voice must offer to speak every message."""

    @property
    def name(self) -> str:
        """Engine and voice, e.g. 'espeak-ng:sv': a cached file of another voice is redone."""
        ...

    def available(self) -> bool:
        """True when the engine can run on this machine."""
        ...

    async def synthesise(self, text: str) -> bytes:
        """A RIFF WAV (any rate, 16-bit PCM) of `text` read aloud."""
        ...


# espeak-ng 1.51 misreads some Swedish numerals written as words: "femtionio" as "fem-sjo-nio",
# "tionde" as "sjonde". Its own number reading is right, so the adapter hands it digits.
_COMPOUND = re.compile(
    r"\b(tjugo|trettio|fyrtio|femtio|sextio|sjuttio|åttio|nittio)"
    r"(ett|två|tre|fyra|fem|sex|sju|åtta|nio)\b"
)
_TENS = {"tjugo": 2, "trettio": 3, "fyrtio": 4, "femtio": 5, "sextio": 6, "sjuttio": 7}
_TENS |= {"åttio": 8, "nittio": 9}
_ONES = {"ett": 1, "två": 2, "tre": 3, "fyra": 4, "fem": 5, "sex": 6, "sju": 7, "åtta": 8}
_ONES |= {"nio": 9}
_RESPELL = {re.compile(r"\btionde\b"): "10:e"}


@dataclass(frozen=True, slots=True)
class EspeakNg:
    """espeak-ng's Swedish voice (the Debian package `espeak-ng`)."""

    voice: str = "sv"
    binary: str = "espeak-ng"

    @property
    def name(self) -> str:
        """'espeak-ng:sv'."""
        return f"espeak-ng:{self.voice}"

    def available(self) -> bool:
        """True when the binary is on PATH."""
        return shutil.which(self.binary) is not None

    def prepare(self, text: str) -> str:
        """The text as espeak-ng gets it: compound numerals as digits, misread words respelled."""
        out = _COMPOUND.sub(lambda m: str(_TENS[m[1]] * 10 + _ONES[m[2]]), text)
        for pattern, spelling in _RESPELL.items():
            out = pattern.sub(spelling, out)
        return out

    async def synthesise(self, text: str) -> bytes:
        """espeak-ng's WAV of `text` (22 050 Hz mono)."""
        if not self.available():
            raise SpeechError(f"{self.binary} not found: install the Debian package espeak-ng")
        out, err, code = await run_helper(
            [self.binary, "-v", self.voice, "--stdout"], self.prepare(text).encode("utf-8")
        )
        if code != 0:
            raise SpeechError(f"{self.binary} failed: {err.strip()}")
        return out

    def phonemes(self, text: str) -> str:
        """What espeak-ng will say, as its phoneme mnemonics (`espeak-ng -v sv -x -q`)."""
        done = subprocess.run(
            [self.binary, "-v", self.voice, "-x", "-q"],
            input=self.prepare(text).encode("utf-8"),
            capture_output=True,
            check=True,
            timeout=30,
        )
        return done.stdout.decode("utf-8")


# --- messages -----------------------------------------------------------------------------------


def message_key(segments: Sequence[str]) -> str:
    """The cache file name's stem for a message's spoken segments (the same for every voice:
    the sidecar says which voice made the file)."""
    text = "\x1f".join(segments)
    return hashlib.sha256(f"{FORMAT}\n{TARGET_RATE}\n{text}".encode()).hexdigest()


def piece_key(segment: str) -> str:
    """The cache file name's stem for one segment rendered as a piece (never a message's key)."""
    return hashlib.sha256(f"{FORMAT}\npiece\n{TARGET_RATE}\n{segment}".encode()).hexdigest()


def pause_after(segment: str) -> float:
    """The silence after a piece: a sentence's end, a clause's, or none but a breath."""
    end = segment.rstrip()[-1:]
    if end in (".", "!", "?"):
        return SENTENCE_PAUSE_S
    if end in (",", ";", ":"):
        return CLAUSE_PAUSE_S
    return WORD_PAUSE_S


def recording_name(segment: str) -> str | None:
    """The file name a recording of `segment` has ('åter klockan.wav'), or None when the
    segment cannot name a file."""
    stem = segment.strip().rstrip(",.!?;: ").strip()
    if not stem or "/" in stem or "\0" in stem or stem.startswith("."):
        return None
    return f"{stem}.wav"


def recordings_for(segments: Sequence[str], folder: Path | None) -> dict[int, Path]:
    """The recordings that replace segments (by index), from `folder`."""
    found: dict[int, Path] = {}
    if folder is None:
        return found
    for i, segment in enumerate(segments):
        name = recording_name(segment)
        if name is not None and (folder / name).is_file():
            found[i] = folder / name
    return found


def _sidecar(segments: Sequence[str], engine: str, recorded: dict[int, Path]) -> str:
    lines = [" ".join(s for s in segments if s), f"# engine: {engine}"]
    for i, path in sorted(recorded.items()):
        st = path.stat()
        lines.append(f"# recording: {segments[i]!r} {path} {st.st_mtime_ns} {st.st_size}")
    return "\n".join(lines) + "\n"


_no_sox_logged = False


async def render_message(
    segments: Sequence[str],
    cache_dir: str | Path,
    engine: SpeechEngine,
    *,
    recordings: Path | None = None,
    sox: str = "sox",
) -> Path:
    """The WAV a caller hears for a message's spoken segments: from the cache, or made now."""
    parts = tuple(segments)
    target = Path(cache_dir) / f"{message_key(parts)}.wav"
    return await _render(parts, target, engine, recordings, sox, LEAD_IN_S, TAIL_S)


async def render_piece(
    segment: str,
    cache_dir: str | Path,
    engine: SpeechEngine,
    *,
    recordings: Path | None = None,
    sox: str = "sox",
) -> Path:
    """One segment's WAV, to be played joined with others: no lead-in, then its pause."""
    target = Path(cache_dir) / f"{piece_key(segment)}.wav"
    return await _render((segment,), target, engine, recordings, sox, 0.0, pause_after(segment))


async def render_lead_in(cache_dir: str | Path, name: str) -> Path:
    """`<cache_dir>/<name>.wav`: the lead-in silence played before joined pieces."""
    target = Path(cache_dir) / f"{name}.wav"
    note = f"# lead-in {LEAD_IN_S} s\n"
    if not await asyncio.to_thread(_cached, target, note):
        await asyncio.to_thread(_write_atomically, target, wav_file(silence(LEAD_IN_S)), note)
    return target


async def _render(
    parts: tuple[str, ...],
    target: Path,
    engine: SpeechEngine,
    recordings: Path | None,
    sox: str,
    lead_in_s: float,
    tail_s: float,
) -> Path:
    """Render `parts` to `target` (unless cached), with these silences before and after."""
    global _no_sox_logged
    if not any(s.strip() for s in parts):
        raise SpeechError("nothing to say")
    recorded = await asyncio.to_thread(recordings_for, parts, recordings)
    note = await asyncio.to_thread(_sidecar, parts, engine.name, recorded)
    if (lead_in_s, tail_s) != (LEAD_IN_S, TAIL_S):  # a piece: new pauses render it again
        note += f"# silence: {lead_in_s:g} s before, {tail_s:g} s after\n"
    if await asyncio.to_thread(_cached, target, note):
        return target
    have_sox = shutil.which(sox) is not None
    if not have_sox and not _no_sox_logged:
        log.warning(
            "%s not found: messages are rendered without sox (install the Debian "
            "package sox for level-normalised telephone audio)",
            sox,
        )
        _no_sox_logged = True
    pieces: list[bytes] = []
    pending: list[str] = []

    async def flush() -> None:
        if pending:
            wav = await engine.synthesise(" ".join(pending))
            pieces.append(await _piece_pcm(wav, sox) if have_sox else python_pcm(wav))
            pending.clear()

    for i, segment in enumerate(parts):
        if i in recorded:
            await flush()
            if have_sox:
                pieces.append(await telephone_pcm(recorded[i], sox))
            else:
                pieces.append(python_pcm(await asyncio.to_thread(recorded[i].read_bytes)))
        elif segment.strip():
            pending.append(segment.strip())
    await flush()
    gap = silence(GAP_S)
    audio = silence(lead_in_s) + gap.join(pieces) + silence(tail_s)
    await asyncio.to_thread(_write_atomically, target, wav_file(audio), note)
    return target


async def _piece_pcm(wav: bytes, sox: str) -> bytes:
    """A synthesised piece through sox (from a temporary file: sox wants a seekable WAV)."""
    rate, pcm = pcm_from_wav(wav)  # also repairs espeak-ng's streaming header
    with tempfile.TemporaryDirectory(prefix="switchboard-tts-") as tmp:
        raw = Path(tmp) / "engine.wav"
        await asyncio.to_thread(raw.write_bytes, wav_file(pcm, rate))
        return await telephone_pcm(raw, sox)


def _cached(target: Path, note: str) -> bool:
    """The file exists and was made from the same text, voice and recordings."""
    try:
        return target.exists() and target.with_suffix(".txt").read_text("utf-8") == note
    except OSError:
        return False


def _write_atomically(target: Path, data: bytes, note: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    side = target.with_suffix(f".{os.getpid()}.txt.tmp")
    side.write_text(note, encoding="utf-8")
    os.replace(side, target.with_suffix(".txt"))
