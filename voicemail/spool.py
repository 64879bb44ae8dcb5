"""Asterisk app_voicemail's file spool: `<spool>/<context>/<mailbox>/INBOX/msgNNNN.txt` + audio.

The parser is pure (bytes in, `SpoolMessage` out) and bounded: whatever the bytes, it returns a
message whose values every later step can hold, or raises `SpoolFormatError`. The scanner only
lists and `lstat`s: it never follows a link; what is not a plain folder or file is reported as
such (`kind`), for intake to quarantine. Reading and removing go through `voicemail.spoolfs`.
"""

from __future__ import annotations

import configparser
import math
import os
import re
import stat
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from voicemail.errors import SpoolFormatError
from voicemail.models import CallerId, SpoolMessage

# Folders app_voicemail files messages in; INBOX is where new ones land.
FOLDERS: tuple[str, ...] = ("INBOX", "Urgent", "Old", "Work", "Family", "Friends")
# Audio formats in app_voicemail's preference order (voicemail.conf `format = wav49|gsm|wav`).
AUDIO_FORMATS: tuple[str, ...] = ("wav", "WAV", "gsm", "ulaw", "alaw", "g722", "sln", "g729")
_MSG_FILE = re.compile(r"^(msg[0-9]{4})\.([A-Za-z0-9]+)$")
_MSG_ID = re.compile(r"[0-9A-Za-z._-]{1,64}")
# ASCII digits only: str.isdigit() also accepts "³" and "٣", which int() then refuses.
_DIGITS = re.compile(r"[0-9]+")

# A real msgNNNN.txt is a few hundred bytes; anything this large is not one.
MAX_TXT_BYTES = 64 * 1024
# app_voicemail's keys are single words (`origmailbox`, `callerchan` …).
MAX_KEY_CHARS = 64
# origtime before the year 9999 (UTC), so that the arrival converts to a date in every zone.
MAX_ORIGTIME = 253_370_764_800
# app_voicemail's maxmessage is at most an hour or so; a day is far beyond any recording.
MAX_DURATION_S = 86_400
# Seconds the audio may fall short of `duration`: app_voicemail counts whole seconds and trims
# trailing silence after counting, so a complete recording can be up to a second shorter.
DURATION_SLACK_S = 1.0
# Bytes per second of the headerless formats app_voicemail writes (8 kHz narrow band).
RAW_BYTES_PER_S: dict[str, int] = {
    "gsm": 1650,  # 33-byte frames, 50 per second
    "ulaw": 8000,
    "alaw": 8000,
    "sln": 16000,
    "g722": 8000,
    "g729": 1000,
}
WAV_FORMATS = frozenset({"wav", "WAV", "wav16"})
HEADER_BYTES = 64 * 1024  # how much of a WAV file is read to find its data chunk


def decode_text(data: bytes) -> str:
    """Spool text as UTF-8 (voicemail.conf charset); Latin-1 if a caller name is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # A PBX trunk may hand over an ISO-8859-1 name; refusing the message would lose a record.
        return data.decode("latin-1")


_NUMBER = re.compile(r"\+?[\d\s()-]+")


def parse_callerid(raw: str) -> CallerId:
    """Split app_voicemail's callerid (`"Örjan Öst" <0701234567>`, `<070…>`, `070…`, `Unknown`).

    Plain string operations, linear in the length (a regular expression with a lazy name
    before `\\s*<` took seconds on a hostile name of spaces).
    """
    text = raw.strip()
    lt = text.rfind("<")
    inside = text[lt + 1 : -1] if text.endswith(">") else text[lt + 1 :]
    if lt >= 0 and ">" not in inside and (text.endswith(">") or _NUMBER.fullmatch(inside.strip())):
        # `"Name" <number>`, and the damaged forms `"Name <number>` / `Name <number` (an
        # unbalanced quote or a lost `>` keeps the number)
        number = inside.strip()
        before = text[:lt].strip()
        if len(before) >= 2 and before[0] == before[-1] == '"':
            name = before[1:-1].replace('\\"', '"')
        else:
            name = before.strip('"')
        return CallerId(raw, name.strip() or None, number or None)
    if text and _NUMBER.fullmatch(text):
        return CallerId(raw, None, text)
    # Asterisk writes "Unknown" (or a bare name) when the network gave no number.
    return CallerId(raw, text or None if text.lower() not in ("", "unknown") else None, None)


def parse_message(data: bytes) -> SpoolMessage:
    """Parse a `msgNNNN.txt`; raise SpoolFormatError with a reason when it is not one.

    A message without `duration` parses (`duration_s` None): app_voicemail writes that line
    last, so intake treats such a file as not yet complete.
    """
    if len(data) > MAX_TXT_BYTES:
        raise SpoolFormatError(f"{len(data)} bytes: a message file is a few hundred")
    if b"\0" in data:
        raise SpoolFormatError("NUL bytes in the file: not a text file app_voicemail wrote")
    text = decode_text(data)
    _screen_lines(text)
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
        raise SpoolFormatError(f"not an app_voicemail message file: {first[:200]}") from None
    if not parser.has_section("message"):
        raise SpoolFormatError("no [message] section")
    section = parser["message"]
    fields = tuple((key, value.strip()) for key, value in section.items())
    values = dict(fields)
    origtime_text = values.get("origtime", "")
    if not origtime_text:
        raise SpoolFormatError("origtime missing: the arrival time is unknown")
    if not _DIGITS.fullmatch(origtime_text):
        raise SpoolFormatError(f"origtime {origtime_text[:40]!r} is not epoch seconds")
    # length first: int() of thousands of digits is slow, and refused beyond 4,300
    if len(origtime_text) > 15 or int(origtime_text) >= MAX_ORIGTIME:
        raise SpoolFormatError(f"origtime {origtime_text[:40]} is not a time before the year 9999")
    duration_text = values.get("duration", "")
    duration: int | None = None
    if duration_text:
        if not _DIGITS.fullmatch(duration_text):
            raise SpoolFormatError(f"duration {duration_text[:40]!r} is not whole seconds")
        if len(duration_text) > 9 or int(duration_text) > MAX_DURATION_S:
            raise SpoolFormatError(f"duration {duration_text[:40]} s is longer than a day")
        duration = int(duration_text)
    msg_id = values.get("msg_id") or None
    if msg_id is not None and not _MSG_ID.fullmatch(msg_id):
        raise SpoolFormatError(f"msg_id {msg_id[:80]!r} is not an app_voicemail message id")
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


def _screen_lines(text: str) -> None:
    """Refuse what configparser's line patterns would take quadratic time over: a line that
    is neither comment, section header nor `key=value`, a header without `]`, a long key.
    (Its `(?P<option>.*?)\\s*(?P<vi>=)` backtracks over every run of blanks: a 32 kB line
    of them took 21 s.) app_voicemail writes no continuation lines, so indented ones are held
    to the same shape."""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped[0] in ";#":
            continue
        if stripped[0] == "[":
            if "]" not in stripped:
                raise SpoolFormatError(f"line {number}: a section header without ]")
            continue
        key, sep, _ = stripped.partition("=")
        if not sep:
            raise SpoolFormatError(f"line {number}: not key=value")
        if len(key) > MAX_KEY_CHARS:
            raise SpoolFormatError(f"line {number}: a key of {len(key)} characters")


@dataclass(frozen=True, slots=True)
class WavInfo:
    """Where a RIFF/WAVE file's audio is and how fast it plays."""

    byte_rate: int  # average bytes per second (fmt chunk)
    data_offset: int
    data_size: int  # as the header declares it


def parse_wav_header(header: bytes) -> WavInfo | str:
    """The fmt and data chunks of a WAV file's first bytes, or what is wrong with them."""
    if len(header) < 12:
        return "shorter than a WAV header"
    if header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        return "not a RIFF/WAVE file"
    pos = 12
    byte_rate: int | None = None
    while pos + 8 <= len(header):
        chunk, size = header[pos : pos + 4], struct.unpack_from("<I", header, pos + 4)[0]
        body = pos + 8
        if chunk == b"fmt ":
            if size < 16 or body + 16 > len(header):
                return "WAV fmt chunk is cut short"
            byte_rate = struct.unpack_from("<I", header, body + 8)[0]
        elif chunk == b"data":
            if not byte_rate:
                return "WAV data chunk before a usable fmt chunk"
            return WavInfo(byte_rate, body, size)
        pos = body + size + (size & 1)  # chunks are padded to even length
    return "no WAV data chunk in the header (still being written?)"


def audio_problem(fmt: str, header: bytes, size: int, duration_s: int) -> str | None:
    """Why audio of this format, first bytes and size is not the whole recording the txt's
    `duration` announces; None when it is (or when the format's length cannot be told)."""
    if size == 0:
        seconds = 0.0  # nothing written at all: only a silent call's `duration` allows it
    elif fmt in WAV_FORMATS:
        info = parse_wav_header(header)
        if isinstance(info, str):
            return info
        present = max(0, size - info.data_offset)
        if info.data_size > present:
            return f"WAV header announces {info.data_size} bytes of audio, {present} are there"
        if info.data_size == 0 and present > 1:
            return f"WAV header not finalised (0 bytes announced, {present} there)"
        seconds = info.data_size / info.byte_rate
    elif fmt in RAW_BYTES_PER_S:
        seconds = size / RAW_BYTES_PER_S[fmt]
    else:
        return None
    if seconds + DURATION_SLACK_S < duration_s:
        return f"audio lasts {seconds:.1f} s, msgNNNN.txt says duration={duration_s}"
    return None


FileKind = Literal["file", "link", "dir", "fifo", "other"]
KIND_NAMES: dict[str, str] = {
    "file": "file",
    "link": "symbolic link",
    "dir": "directory",
    "fifo": "FIFO (named pipe)",
    "other": "device or socket",
}


def kind_of(mode: int) -> FileKind:
    """What an `lstat` mode says an entry is."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISFIFO(mode):
        return "fifo"
    return "other"


@dataclass(frozen=True, slots=True)
class FileState:
    """Size, modification time and kind of one spool entry (`lstat`: links are not followed)."""

    path: Path
    size: int
    mtime: float
    kind: FileKind = "file"
    mtime_ns: int = 0
    ino: int = 0  # a rename (app_voicemail renumbering) keeps it; a new file has another


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

    @property
    def files(self) -> tuple[FileState, ...]:
        """Every entry of the slot."""
        return tuple(f for f in (self.txt, self.audio, *self.other_audio) if f is not None)

    def unsafe(self) -> FileState | None:
        """The first entry that is not a regular file (a link, FIFO, directory …), if any."""
        return next((f for f in self.files if f.kind != "file"), None)


@dataclass(frozen=True, slots=True)
class SpoolHazard:
    """A link where the spool has a context, mailbox or folder: never followed."""

    path: Path
    label: str  # "default/83012" or "default/83012/INBOX"
    context: str
    mailbox: str
    kind: FileKind = "link"


@dataclass(frozen=True, slots=True)
class SpoolListing:
    """What one scan found: message slots, and links standing in for folders."""

    slots: list[SpoolSlot] = field(default_factory=list)
    hazards: list[SpoolHazard] = field(default_factory=list)


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


def _lstat(path: Path) -> FileState | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return FileState(path, st.st_size, st.st_mtime, kind_of(st.st_mode), st.st_mtime_ns, st.st_ino)


def _dirs(path: Path) -> tuple[list[str], list[str]]:
    """Real sub-folders (not links) and links of a folder, sorted; hidden names skipped."""
    folders: list[str] = []
    links: list[str] = []
    try:
        with os.scandir(path) as entries:
            for e in entries:
                if e.name.startswith("."):
                    continue
                if e.is_symlink():
                    links.append(e.name)
                elif e.is_dir(follow_symlinks=False):
                    folders.append(e.name)
    except (FileNotFoundError, NotADirectoryError):
        pass
    return sorted(folders), sorted(links)


def scan_mailboxes(spool: Path, context: str) -> list[str]:
    """Mailbox folders under `<spool>/<context>/`, sorted (links are not mailboxes)."""
    if os.path.islink(spool / context):
        return []
    return _dirs(spool / context)[0]


def scan(spool: Path, context: str) -> list[SpoolSlot]:
    """Every message slot in the context's mailboxes, sorted by mailbox, folder and number."""
    return scan_spool(spool, context).slots


def scan_spool(spool: Path, context: str) -> SpoolListing:
    """Message slots of the context's mailboxes, and every link standing in for a folder."""
    listing = SpoolListing()
    root = spool / context
    if os.path.islink(root):
        listing.hazards.append(SpoolHazard(root, context, context, ""))
        return listing
    mailboxes, links = _dirs(root)
    for name in links:
        listing.hazards.append(SpoolHazard(root / name, f"{context}/{name}", context, name))
    for mailbox in mailboxes:
        for folder in FOLDERS:
            directory = root / mailbox / folder
            if os.path.islink(directory):
                label = f"{context}/{mailbox}/{folder}"
                listing.hazards.append(SpoolHazard(directory, label, context, mailbox))
                continue
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
                txt = _lstat(directory / f"{stem}.txt") if "txt" in exts else None
                audio_exts = [e for e in AUDIO_FORMATS if e in exts]
                audio_exts += sorted(e for e in exts if e != "txt" and e not in AUDIO_FORMATS)
                states = [s for e in audio_exts if (s := _lstat(directory / f"{stem}.{e}"))]
                if txt is None and not states:
                    continue  # vanished between listdir and lstat
                listing.slots.append(
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
    return listing
