"""Speech behind one interface, and the telephone audio every spoken message becomes.

`SpeechEngine` turns spoken text into a WAV; `EspeakNg` (Debian `espeak-ng`, voice `sv`) is
the one shipped, and a better Swedish voice replaces it by implementing the same three members.
The engine's own pronunciation fixes live in its adapter (`EspeakNg.prepare`), so the spoken
form (`routing.spoken`) stays plain Swedish.

`render_message` makes the file a caller hears from a message's spoken segments: consecutive
synthesised segments are read as one sentence (a speech engine's intonation spans the
sentence); a segment with a recording (`<recordings>/<segment>.wav`, the segment's text without
its closing punctuation) is played from that recording instead. Every piece goes through sox:
8 kHz mono 16-bit for the telephone, the engine's leading and trailing silence trimmed, its
level set to the same RMS (-23 dBFS) with the peak kept under -1 dBFS (no clipping); then a short
lead-in silence, so the platform's first frames never cut the first syllable. Files are cached
by the spoken text; a sidecar `.txt` names the spoken text, the engine and the recordings used,
so a new voice or a new recording renders the file again.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import hashlib
import logging
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from voicemail.errors import GreetingError

log = logging.getLogger(__name__)

TARGET_RATE = 8000  # what Asterisk plays for `wav` (slin 8 kHz)
FORMAT = "2"  # in every cache key: bumped when the audio pipeline changes
TARGET_RMS_DB = -23.0  # every piece's level, so segments from different sources match
PEAK_CEILING_DB = -1.0  # never louder than this: no clipping on the line
LEAD_IN_S = 0.25  # silence before the first syllable
GAP_S = 0.15  # between a recording and synthesised speech
TAIL_S = 0.2
SILENCE_THRESHOLD = "-50d"  # what sox's `silence` trims at both ends of a piece


class SpeechError(GreetingError):
    """A message could not be rendered (engine or sox missing or failing, a bad recording)."""

    error_id = "speech-failed"


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
        out, err, code = await _run(
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


async def _run(argv: list[str], stdin: bytes | None = None) -> tuple[bytes, str, int]:
    """Run a helper process; never leave it behind when cancelled."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await proc.communicate(stdin)
    except BaseException:  # cancelled (shutdown): never leave the process or its pipes behind
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        # Close the pipes too: asyncio keeps them open (and wait() waiting) until EOF, which a
        # grandchild holding them may delay for ever, and an open one is reported when the
        # garbage collector finds it — in some later, unrelated piece of work. Process has no
        # public close().
        transport = getattr(proc, "_transport", None)
        if transport is not None:
            transport.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 5)
        raise
    return out, err.decode("utf-8", errors="replace"), proc.returncode or 0


# --- WAV ----------------------------------------------------------------------------------------


def pcm_from_wav(data: bytes) -> tuple[int, bytes]:
    """Sample rate and 16-bit mono PCM from a RIFF WAV; tolerates espeak-ng's streaming sizes."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SpeechError("the speech engine did not produce a WAV file")
    pos, rate, channels, bits = 12, 0, 0, 0
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = pos + 8
        if chunk == b"fmt ":
            _fmt, channels, rate, _br, _align, bits = struct.unpack(
                "<HHIIHH", data[body : body + 16]
            )
        elif chunk == b"data":
            # espeak-ng writes 0x7ffff000 as the size when writing to a pipe: take what is there.
            pcm = data[body : body + min(size, len(data) - body)]
            if channels != 1 or bits != 16 or not rate:
                raise SpeechError(f"unexpected WAV format {channels} ch {bits} bit")
            return rate, pcm[: len(pcm) // 2 * 2]
        pos = body + size + (size & 1)
    raise SpeechError("WAV without a data chunk")


def wav_file(pcm: bytes, rate: int = TARGET_RATE) -> bytes:
    """A canonical 44-byte-header WAV: mono, 16-bit, `rate` Hz."""
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return header + b"data" + struct.pack("<I", len(pcm)) + pcm


def silence(seconds: float, rate: int = TARGET_RATE) -> bytes:
    """Digital silence, 16-bit mono."""
    return b"\0\0" * round(seconds * rate)


def resample(pcm: bytes, rate: int, target: int = TARGET_RATE) -> bytes:
    """Little-endian 16-bit mono PCM to `target` Hz: a moving-average low-pass, then linear steps.

    Only used when sox is missing: sox's `rate` filters properly.
    """
    src = _samples(pcm)
    n = len(src)
    if n == 0 or rate == target:
        return pcm
    width = max(1, round(rate / target))  # ~3 at 22050 Hz: first null near 7 kHz
    sums = [0] * (n + 1)
    acc = 0
    for i, v in enumerate(src):
        acc += v
        sums[i + 1] = acc
    half = width // 2
    smooth = [
        (sums[min(n, i + width - half)] - sums[max(0, i - half)])
        / (min(n, i + width - half) - max(0, i - half))
        for i in range(n)
    ]
    out_len = n * target // rate
    step = rate / target
    out = array.array("h", bytes(2 * out_len))
    for j in range(out_len):
        x = j * step
        i = int(x)
        frac = x - i
        a = smooth[i]
        b = smooth[i + 1] if i + 1 < n else a
        out[j] = max(-32768, min(32767, round(a + (b - a) * frac)))
    return _pcm(out)


def _samples(pcm: bytes) -> array.array[int]:
    out = array.array("h")
    out.frombytes(pcm)
    if sys.byteorder == "big":
        out.byteswap()
    return out


def _pcm(samples: array.array[int]) -> bytes:
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


def levels(pcm: bytes) -> tuple[float, float]:
    """RMS and peak level of 16-bit PCM in dBFS (-inf for silence)."""
    s = _samples(pcm)
    if not s:
        return -math.inf, -math.inf
    rms = math.sqrt(sum(v * v for v in s) / len(s)) / 32768
    peak = max(abs(v) for v in s) / 32768
    return (20 * math.log10(rms) if rms else -math.inf), (
        20 * math.log10(peak) if peak else -math.inf
    )


def level_gain(rms_db: float, peak_db: float) -> float:
    """The gain (dB) that brings a piece to the target RMS without its peak passing the ceiling."""
    if not (math.isfinite(rms_db) and math.isfinite(peak_db)):
        raise SpeechError("the piece is silent")
    return min(TARGET_RMS_DB - rms_db, PEAK_CEILING_DB - peak_db)


# --- sox ----------------------------------------------------------------------------------------

_STAT = re.compile(r"^(RMS lev dB|Pk lev dB)\s+(-?(?:inf|[\d.]+))\s*$", re.MULTILINE)


async def telephone_pcm(source: Path, sox: str = "sox") -> bytes:
    """One piece as telephone audio through sox: 8 kHz mono 16-bit, silence trimmed at both
    ends, its level set to TARGET_RMS_DB with the peak under PEAK_CEILING_DB."""
    with tempfile.TemporaryDirectory(prefix="switchboard-sox-") as tmp:
        trimmed, levelled = Path(tmp) / "trimmed.wav", Path(tmp) / "levelled.wav"
        trim = ["silence", "1", "0.02", SILENCE_THRESHOLD]
        _out, err, code = await _run(
            [
                *(sox, str(source), "-b", "16", "-e", "signed-integer", str(trimmed)),
                *("channels", "1", *trim, "reverse", *trim, "reverse"),
                *("rate", "-h", str(TARGET_RATE), "stats"),
            ]
        )
        if code != 0:
            raise SpeechError(f"sox could not read {source.name}: {err.strip()}")
        found = dict(_STAT.findall(err))
        try:
            gain = level_gain(float(found["RMS lev dB"]), float(found["Pk lev dB"]))
        except (KeyError, ValueError) as exc:
            raise SpeechError(f"{source.name}: no speech after trimming silence") from exc
        _out, err, code = await _run(
            [sox, str(trimmed), "-b", "16", str(levelled), "gain", f"{gain:.2f}"]
        )
        if code != 0:
            raise SpeechError(f"sox failed: {err.strip()}")
        data = await asyncio.to_thread(levelled.read_bytes)
    return pcm_from_wav(data)[1]


def python_pcm(wav: bytes) -> bytes:
    """The same without sox (logged once): resampled and levelled in Python, not trimmed."""
    rate, pcm = pcm_from_wav(wav)
    pcm = resample(pcm, rate)
    factor = 10 ** (level_gain(*levels(pcm)) / 20)
    s = _samples(pcm)
    return _pcm(array.array("h", (max(-32768, min(32767, round(v * factor))) for v in s)))


# --- messages -----------------------------------------------------------------------------------


def message_key(segments: Sequence[str]) -> str:
    """The cache file name's stem for a message's spoken segments (the same for every voice:
    the sidecar says which voice made the file)."""
    text = "\x1f".join(segments)
    return hashlib.sha256(f"{FORMAT}\n{TARGET_RATE}\n{text}".encode()).hexdigest()


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
    global _no_sox_logged
    parts = tuple(segments)
    if not any(s.strip() for s in parts):
        raise SpeechError("nothing to say")
    cache = Path(cache_dir)
    target = cache / f"{message_key(parts)}.wav"
    recorded = await asyncio.to_thread(recordings_for, parts, recordings)
    note = await asyncio.to_thread(_sidecar, parts, engine.name, recorded)
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
    audio = silence(LEAD_IN_S) + gap.join(pieces) + silence(TAIL_S)
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
