"""Asterisk app_voicemail's file spool: `<spool>/<context>/<mailbox>/INBOX/msgNNNN.txt` + audio.

The parser is pure (bytes in, `SpoolMessage` out); the scanner only lists and stats files.
"""

from __future__ import annotations

import configparser
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from voicemail.errors import SpoolFormatError
from voicemail.models import CallerId, SpoolMessage

# Folders app_voicemail files messages in; INBOX is where new ones land.
FOLDERS: tuple[str, ...] = ("INBOX", "Urgent", "Old", "Work", "Family", "Friends")
# Audio formats in app_voicemail's preference order (voicemail.conf `format = wav49|gsm|wav`).
AUDIO_FORMATS: tuple[str, ...] = ("wav", "WAV", "gsm", "ulaw", "alaw", "g722", "sln", "g729")
_MSG_FILE = re.compile(r"^(msg\d{4})\.([A-Za-z0-9]+)$")
_CALLERID = re.compile(r'^\s*(?:"(?P<q>(?:[^"\\]|\\.)*)"|(?P<bare>[^<]*?))\s*<(?P<num>[^>]*)>\s*$')
_MSG_ID = re.compile(r"^[0-9A-Za-z._-]{1,64}$")


def decode_text(data: bytes) -> str:
    """Spool text as UTF-8 (voicemail.conf charset); Latin-1 if a caller name is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # A PBX trunk may hand over an ISO-8859-1 name; refusing the message would lose a record.
        return data.decode("latin-1")


def parse_callerid(raw: str) -> CallerId:
    """Split app_voicemail's callerid (`"Örjan Öst" <0701234567>`, `<070…>`, `070…`, `Unknown`)."""
    text = raw.strip()
    m = _CALLERID.match(text)
    if m:
        quoted = m.group("q")
        name = quoted.replace('\\"', '"') if quoted is not None else (m.group("bare") or "")
        number = m.group("num").strip()
        return CallerId(raw, name.strip() or None, number or None)
    if text and re.fullmatch(r"\+?[\d\s()-]+", text):
        return CallerId(raw, None, text)
    # Asterisk writes "Unknown" (or a bare name) when the network gave no number.
    return CallerId(raw, text or None if text.lower() not in ("", "unknown") else None, None)


def parse_message(data: bytes) -> SpoolMessage:
    """Parse a `msgNNNN.txt`; raise SpoolFormatError with a reason when it is not one."""
    text = decode_text(data)
    parser = configparser.ConfigParser(
        interpolation=None,
        delimiters=("=",),
        comment_prefixes=(";", "#"),
        inline_comment_prefixes=None,
        strict=True,
        empty_lines_in_values=False,
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text)
    except configparser.MissingSectionHeaderError:
        raise SpoolFormatError("no [message] section header before the first key") from None
    except configparser.Error as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpoolFormatError(f"not an app_voicemail message file: {first}") from None
    if not parser.has_section("message"):
        raise SpoolFormatError("no [message] section")
    section = parser["message"]
    fields = tuple((key, value.strip()) for key, value in section.items())
    values = dict(fields)
    origtime_text = values.get("origtime", "")
    if not origtime_text:
        raise SpoolFormatError("origtime missing: the arrival time is unknown")
    if not origtime_text.isdigit():
        raise SpoolFormatError(f"origtime {origtime_text!r} is not epoch seconds")
    duration_text = values.get("duration", "")
    duration: int | None = None
    if duration_text:
        if not duration_text.isdigit():
            raise SpoolFormatError(f"duration {duration_text!r} is not whole seconds")
        duration = int(duration_text)
    msg_id = values.get("msg_id") or None
    if msg_id is not None and not _MSG_ID.match(msg_id):
        raise SpoolFormatError(f"msg_id {msg_id!r} is not an app_voicemail message id")
    return SpoolMessage(
        fields=fields,
        origtime=int(origtime_text),
        callerid=parse_callerid(values.get("callerid", "")),
        duration_s=duration,
        msg_id=msg_id,
        origmailbox=values.get("origmailbox") or None,
        context=values.get("context") or None,
        exten=values.get("exten") or None,
    )


@dataclass(frozen=True, slots=True)
class FileState:
    """Size and modification time of one spool file."""

    path: Path
    size: int
    mtime: float


@dataclass(frozen=True, slots=True)
class SpoolSlot:
    """One `msgNNNN` in one folder: its txt and audio files, whichever exist right now."""

    context: str
    mailbox: str
    folder: str
    name: str  # "msg0000"
    txt: FileState | None
    audio: FileState | None
    other_audio: tuple[FileState, ...] = ()

    @property
    def label(self) -> str:
        """`context/mailbox/folder/msgNNNN`, for reports."""
        return f"{self.context}/{self.mailbox}/{self.folder}/{self.name}"


Readiness = Literal["ready", "wait"]


def file_age(now_epoch: float, mtime: float) -> float:
    """Seconds since a spool file was written. By the service's clock; but when that clock is
    behind the file system (a service run `--at` an earlier day), by the file system's own
    time, so a message written now is still seen to settle. A file dated ahead of both is
    from a file system whose clock runs ahead of this process (a clock set back, as under
    faketime): its age cannot be measured, and it counts as settled — the completeness checks
    (the .txt written last, the audio's length) still guard against a half-written message."""
    if now_epoch >= mtime:
        return now_epoch - mtime
    fs_now = time.time()
    return fs_now - mtime if fs_now >= mtime else math.inf


def readiness(slot: SpoolSlot, now_epoch: float, settle_s: float) -> tuple[Readiness, str]:
    """Whether a slot can be taken in now, and why not (half-written messages wait)."""
    if slot.txt is None:
        return "wait", "audio without msgNNNN.txt yet (still recording or being moved)"
    if slot.audio is None:
        return "wait", "msgNNNN.txt without audio yet"
    newest = max(slot.txt.mtime, slot.audio.mtime)
    if file_age(now_epoch, newest) < settle_s:
        return "wait", f"written less than {settle_s:g} s ago (may still be growing)"
    return "ready", ""


def _stat(path: Path) -> FileState | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return FileState(path, st.st_size, st.st_mtime)


def scan_mailboxes(spool: Path, context: str) -> list[str]:
    """Mailbox folders under `<spool>/<context>/`, sorted."""
    root = spool / context
    try:
        return sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    except FileNotFoundError:
        return []


def scan(spool: Path, context: str) -> list[SpoolSlot]:
    """Every message slot in the context's mailboxes, sorted by mailbox, folder and number."""
    slots: list[SpoolSlot] = []
    for mailbox in scan_mailboxes(spool, context):
        for folder in FOLDERS:
            directory = spool / context / mailbox / folder
            try:
                names = os.listdir(directory)
            except (FileNotFoundError, NotADirectoryError):
                continue
            groups: dict[str, set[str]] = {}
            for name in names:
                m = _MSG_FILE.match(name)
                if m:
                    groups.setdefault(m.group(1), set()).add(m.group(2))
            for stem in sorted(groups):
                exts = groups[stem]
                txt = _stat(directory / f"{stem}.txt") if "txt" in exts else None
                audio_exts = [e for e in AUDIO_FORMATS if e in exts]
                audio_exts += sorted(e for e in exts if e != "txt" and e not in AUDIO_FORMATS)
                states = [s for e in audio_exts if (s := _stat(directory / f"{stem}.{e}"))]
                if txt is None and not states and "txt" in exts:
                    continue  # vanished between listdir and stat
                slots.append(
                    SpoolSlot(
                        context,
                        mailbox,
                        folder,
                        stem,
                        txt,
                        states[0] if states else None,
                        tuple(states[1:]),
                    )
                )
    return slots
