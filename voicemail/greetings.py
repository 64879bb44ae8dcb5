"""Greetings and absence messages as audio: espeak-ng's Swedish voice, 8 kHz mono 16-bit WAV.

Rendered files are cached by text (and voice), so a greeting is synthesised once.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import hashlib
import os
import shutil
import struct
import sys
from pathlib import Path

from voicemail.errors import GreetingError
from voicemail.policy import choose_greeting

TARGET_RATE = 8000  # what Asterisk plays for `wav` (slin 8 kHz)
VOICE = "sv"


def _pcm_from_wav(data: bytes) -> tuple[int, bytes]:
    """Sample rate and 16-bit mono PCM from a RIFF WAV; tolerates espeak-ng's streaming sizes."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise GreetingError("espeak-ng did not produce a WAV file")
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
                raise GreetingError(f"unexpected espeak-ng format {channels} ch {bits} bit")
            return rate, pcm[: len(pcm) // 2 * 2]
        pos = body + size + (size & 1)
    raise GreetingError("WAV without a data chunk")


def resample(pcm: bytes, rate: int, target: int = TARGET_RATE) -> bytes:
    """Little-endian 16-bit mono PCM to `target` Hz: a moving-average low-pass, then linear steps.

    Plenty for speech on a telephone line; it keeps the project free of a DSP dependency.
    """
    src = array.array("h")
    src.frombytes(pcm)
    if sys.byteorder == "big":
        src.byteswap()
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
    if sys.byteorder == "big":
        out.byteswap()
    return out.tobytes()


def wav_file(pcm: bytes, rate: int = TARGET_RATE) -> bytes:
    """A canonical 44-byte-header WAV: mono, 16-bit, `rate` Hz."""
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return header + b"data" + struct.pack("<I", len(pcm)) + pcm


def cache_key(text: str, voice: str = VOICE) -> str:
    """The cache file name's stem for a text in a voice."""
    return hashlib.sha256(f"{voice}\n{TARGET_RATE}\n{text}".encode()).hexdigest()


def espeak_available(binary: str = "espeak-ng") -> bool:
    """True when espeak-ng is on PATH (Debian package `espeak-ng`)."""
    return shutil.which(binary) is not None


async def render(
    text: str, cache_dir: str | Path, voice: str = VOICE, binary: str = "espeak-ng"
) -> Path:
    """The WAV for `text`, from the cache or synthesised now with espeak-ng."""
    cache = Path(cache_dir)
    target = cache / f"{cache_key(text, voice)}.wav"
    if await asyncio.to_thread(target.exists):
        return target
    if not espeak_available(binary):
        raise GreetingError(f"{binary} not found: install the Debian package espeak-ng")
    proc = await asyncio.create_subprocess_exec(
        binary,
        "-v",
        voice,
        "--stdout",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await proc.communicate(text.encode("utf-8"))
    except BaseException:  # cancelled (shutdown): never leave espeak-ng or its pipes behind
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise GreetingError(f"{binary} failed: {err.decode(errors='replace').strip()}")
    rate, pcm = _pcm_from_wav(out)
    data = wav_file(await asyncio.to_thread(resample, pcm, rate))
    await asyncio.to_thread(_write_atomically, target, data, text)
    return target


def _write_atomically(target: Path, data: bytes, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    target.with_suffix(".txt").write_text(text + "\n", encoding="utf-8")


async def greeting_audio(
    name: str,
    organisation: str,
    cache_dir: str | Path,
    absence: str | None = None,
    recorded: str | Path | None = None,
) -> Path:
    """ALV-11: the file a caller hears: temporary (absence) greeting, recording, or default."""
    exists = recorded is not None and await asyncio.to_thread(Path(recorded).exists)
    rec = str(recorded) if exists else None
    choice = choose_greeting(name, organisation, absence, rec)
    if choice.recorded is not None:
        return Path(choice.recorded)
    assert choice.text is not None
    return await render(choice.text, cache_dir)
