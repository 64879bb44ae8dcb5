"""Telephone audio: WAV in and out, levels, and the sox pipeline every spoken piece goes through.

8 kHz mono 16-bit (what Asterisk plays for `wav`), the engine's or recording's leading and
trailing silence trimmed, the level set to the same RMS (-23 dBFS) with the peak kept under
-1 dBFS. Without sox, `python_pcm` resamples and levels in Python (not trimmed). Helper
processes run through `run_helper`, which never leaves one behind when cancelled.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import math
import re
import struct
import sys
import tempfile
from pathlib import Path

from voicemail.errors import GreetingError

TARGET_RATE = 8000  # what Asterisk plays for `wav` (slin 8 kHz)
TARGET_RMS_DB = -23.0  # every piece's level, so segments from different sources match
PEAK_CEILING_DB = -1.0  # never louder than this: no clipping on the line
SILENCE_THRESHOLD = "-50d"  # what sox's `silence` trims at both ends of a piece


class SpeechError(GreetingError):
    """A message could not be rendered (engine or sox missing or failing, a bad recording)."""

    error_id = "speech-failed"


async def run_helper(argv: list[str], stdin: bytes | None = None) -> tuple[bytes, str, int]:
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
        _out, err, code = await run_helper(
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
        _out, err, code = await run_helper(
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
