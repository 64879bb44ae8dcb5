"""The simulated platform's app_voicemail: a message left on a `SimCall` written into the
spool as Asterisk 22 writes it (`<spool>/<context>/<mailbox>/INBOX/msgNNNN.wav|txt`).

Used by `switchboard call` (one call through the real adapter) and `switchboard platform` (the
simulated platform as its own process); the register's intake takes the files in.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import wave
from pathlib import Path

from switchboard.telephony.sim.models import SimCall
from voicemail.errors import GreetingError
from voicemail.greetings import render
from voicemail.spool_format import message_txt, origdate
from voicemail.telephone_audio import wav_file

log = logging.getLogger(__name__)


async def write_spool_message(
    spool: Path,
    context: str,
    mailbox: str,
    call: SimCall,
    now: float,
    *,
    cache_dir: Path | None = None,
) -> Path:
    """Write msgNNNN.wav + msgNNNN.txt into INBOX as app_voicemail (Asterisk 22) does.

    The audio is espeak-ng's Swedish speech of the message (8 kHz mono 16-bit), or silence of
    a plausible length when espeak-ng is not installed.
    """
    inbox = spool / context / mailbox / "INBOX"
    inbox.mkdir(parents=True, exist_ok=True)
    n = 0
    while (inbox / f"msg{n:04d}.txt").exists() or (inbox / f"msg{n:04d}.wav").exists():
        n += 1
    base = inbox / f"msg{n:04d}"
    wav = base.with_suffix(".wav")
    text = call.leave_message or ""
    data = await speech(text, cache_dir or spool.parent / "sounds" / "left-messages")
    await asyncio.to_thread(_write, wav, data)
    with wave.open(str(wav)) as w:
        duration = max(1, round(w.getnframes() / w.getframerate()))
    name = call.caller_name
    callerid = f'"{name}" <{call.caller}>' if name else (call.caller or "Unknown")
    txt = message_txt(
        {
            "origmailbox": mailbox,
            "context": call.context,
            "exten": call.exten,
            "rdnis": "unknown",
            "priority": 5,
            "callerchan": call.channel,
            "callerid": callerid,
            "origdate": origdate(now),
            "origtime": int(now),
            "category": "",
            "msg_id": f"{int(now)}-{secrets.token_hex(4)}",
            "flag": "",
            "duration": duration,
        }
    )
    # Audio first, text last: intake treats the .txt as the message's commit marker.
    tmp = base.with_suffix(".txt.tmp")
    await asyncio.to_thread(tmp.write_text, txt, "utf-8")
    await asyncio.to_thread(os.replace, tmp, base.with_suffix(".txt"))
    return base.with_suffix(".txt")


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".wav.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


async def speech(text: str, cache_dir: Path) -> bytes:
    """WAV bytes of `text` spoken by espeak-ng (8 kHz mono); silence if it is not installed."""
    if text:
        try:
            path = await render(text, cache_dir)
            return await asyncio.to_thread(path.read_bytes)
        except (GreetingError, OSError) as exc:
            log.warning("message audio is silence: %s", exc)
    # One second of 8 kHz silence per 12 characters, so the audio is valid.
    return wav_file(b"\0\0" * 8000 * max(1, len(text) // 12))
