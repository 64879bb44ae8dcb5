"""Greetings rendered with espeak-ng's Swedish voice to 8 kHz mono 16-bit WAV, cached by text."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from voicemail.greetings import espeak_available, greeting_audio, render, resample, wav_file

needs_espeak = pytest.mark.skipif(not espeak_available(), reason="Debian package espeak-ng")


@needs_espeak
async def test_alv11_default_greeting_renders_8khz_mono_16bit(tmp_path: Path) -> None:
    """ALV-11: the default greeting becomes a WAV Asterisk can play (8 kHz, mono, 16-bit)."""
    path = await greeting_audio("Anna Andersson", "Älvkarleby kommun", tmp_path)
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert w.getnframes() > 8000  # more than a second of speech
    assert "Anna Andersson på Älvkarleby kommun" in path.with_suffix(".txt").read_text("utf-8")


@needs_espeak
async def test_greetings_are_cached_by_text(tmp_path: Path) -> None:
    """The same text is synthesised once; another text gets another file."""
    first = await render("Hej, du har kommit till Anna.", tmp_path)
    mtime = first.stat().st_mtime_ns
    again = await render("Hej, du har kommit till Anna.", tmp_path)
    other = await render("Hej, du har kommit till Bertil.", tmp_path)
    assert again == first and again.stat().st_mtime_ns == mtime and other != first


@needs_espeak
async def test_alv11_temporary_greeting_with_absence(tmp_path: Path) -> None:
    """ALV-11: while redirected, the rendered greeting is the temporary one with the absence."""
    path = await greeting_audio(
        "Anna Andersson",
        "Älvkarleby kommun",
        tmp_path,
        "jag är på semester, åter måndag den 1 december",
    )
    assert "Jag är på semester" in path.with_suffix(".txt").read_text("utf-8")


async def test_alv11_recorded_greeting_replaces_default(tmp_path: Path) -> None:
    """ALV-11: a recorded greeting (app_voicemail's unavail.wav) is used as it is."""
    recorded = tmp_path / "unavail.wav"
    recorded.write_bytes(wav_file(b"\0\0" * 800))
    assert await greeting_audio("Anna", "Älvkarleby kommun", tmp_path, None, recorded) == recorded


def test_resample_length_and_range() -> None:
    """22 050 Hz to 8 000 Hz keeps duration and stays within 16-bit range."""
    pcm = (b"\xff\x7f" + b"\x00\x80") * 11025  # one second of full-scale square wave
    out = resample(pcm, 22050)
    assert len(out) == 2 * 8000
