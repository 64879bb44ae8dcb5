"""Simulated voicemail written as app_voicemail does: `<spool>/<context>/<mailbox>/INBOX/msgNNNN`.

The text file follows what Asterisk 22 writes (no `macrocontext`, `origdate` in the server's
zone, `msg_id` as `<epoch>-<8 hex digits>`); the audio is 8 kHz 16-bit mono WAV of the message's
length, near-silent with a short marker so that no two messages share a hash. Files are written
to a temporary name and renamed, audio first, so an intake never sees half a message.
"""

from __future__ import annotations

import os
import re
import struct
import wave
from dataclasses import dataclass
from pathlib import Path

from voicemail.spool_format import message_txt, origdate

_MSG = re.compile(r"^msg(\d{4})\.txt$")
SAMPLE_RATE = 8000


@dataclass(frozen=True, slots=True)
class VoicemailMessage:
    """What a simulated caller left: mailbox, arrival instant, caller and length."""

    mailbox: str
    origtime: int  # epoch seconds: the moment the recording is stored (ALV-15)
    caller_number: str  # national form, e.g. 0701234567
    exten: str  # dialled number, national digits
    duration_s: int
    serial: int  # unique per run; makes msg_id and audio unique


def message_text(m: VoicemailMessage, context: str = "from-trunk") -> str:
    """The `msgNNNN.txt` body, field for field in Asterisk 22's order."""
    return message_txt(
        {
            "origmailbox": m.mailbox,
            "context": context,
            "exten": m.exten,
            "rdnis": "unknown",
            "priority": 5,
            "callerchan": f"PJSIP/trunk-{m.serial:08x}",
            "callerid": f"<{m.caller_number}>",
            "origdate": origdate(m.origtime),
            "origtime": m.origtime,
            "category": "",
            "msg_id": f"{m.origtime}-{m.serial:08x}",
            "flag": "",
            "duration": m.duration_s,
        }
    )


def _audio(path: Path, m: VoicemailMessage) -> None:
    frames = bytearray(SAMPLE_RATE * 2 * m.duration_s)
    marker = struct.pack("<4I", m.serial, m.origtime, m.duration_s, 0x53494D31)  # "SIM1"
    frames[: len(marker)] = marker
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(bytes(frames))


class SpoolWriter:
    """Writes simulated messages into one app_voicemail context of a spool."""

    def __init__(self, spool: str | Path, context: str = "default") -> None:
        self.root = Path(spool)
        self.context = context
        self._next: dict[str, int] = {}
        self.written: list[Path] = []

    def _slot(self, inbox: Path, mailbox: str) -> int:
        if mailbox not in self._next:
            used = [int(m.group(1)) for n in os.listdir(inbox) if (m := _MSG.match(n))]
            self._next[mailbox] = max(used, default=-1) + 1
        n = self._next[mailbox]
        self._next[mailbox] = n + 1
        return n

    def write(self, m: VoicemailMessage) -> Path:
        """Store one message in the mailbox's INBOX; return the path of its `msgNNNN.txt`."""
        inbox = self.root / self.context / m.mailbox / "INBOX"
        inbox.mkdir(parents=True, exist_ok=True)
        stem = f"msg{self._slot(inbox, m.mailbox):04d}"
        tmp_audio = inbox / f".{stem}.wav.tmp"
        _audio(tmp_audio, m)
        os.replace(tmp_audio, inbox / f"{stem}.wav")
        tmp_txt = inbox / f".{stem}.txt.tmp"
        tmp_txt.write_text(message_text(m), encoding="utf-8")
        txt = inbox / f"{stem}.txt"
        os.replace(tmp_txt, txt)
        self.written.append(txt)
        return txt
