"""Greetings and absence messages as audio: espeak-ng's Swedish voice, 8 kHz mono 16-bit WAV.

The text is first put in its spoken form (`routing.spoken.speakable`: times, dates and numbers
in words), then rendered by `voicemail.speech` (sox-levelled, with a lead-in silence). Rendered
files are cached by the spoken text, so a greeting is synthesised once.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from routing.spoken import speakable
from voicemail.policy import choose_greeting
from voicemail.speech import EspeakNg, message_key, render_message
from voicemail.telephone_audio import TARGET_RATE, pcm_from_wav, resample, wav_file

__all__ = [
    "TARGET_RATE",
    "VOICE",
    "cache_key",
    "espeak_available",
    "greeting_audio",
    "pcm_from_wav",
    "render",
    "resample",
    "wav_file",
]

VOICE = "sv"


def cache_key(text: str, voice: str = VOICE) -> str:
    """The cache file name's stem for a spoken text (the voice is checked by the sidecar)."""
    return message_key((text,))


def espeak_available(binary: str = "espeak-ng") -> bool:
    """True when espeak-ng is on PATH (Debian package `espeak-ng`)."""
    return shutil.which(binary) is not None


async def render(
    text: str, cache_dir: str | Path, voice: str = VOICE, binary: str = "espeak-ng"
) -> Path:
    """The WAV for a spoken `text`, from the cache or synthesised now with espeak-ng."""
    return await render_message((text,), cache_dir, EspeakNg(voice, binary))


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
    return await render(speakable(choice.text), cache_dir)
