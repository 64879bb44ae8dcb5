"""Asterisk app_voicemail's file spool: `<spool>/<context>/<mailbox>/INBOX/msgNNNN.txt` + audio.

The scanner only lists and `lstat`s: it never follows a link; what is not a plain folder or file
is reported as such (`kind`), for intake to quarantine. `readiness` tells a half-written message
(which waits) from a complete one. The files' contents are `voicemail.spool_format`; reading
and removing go through `voicemail.spoolfs`.
"""

from __future__ import annotations

import math
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

# Folders app_voicemail files messages in; INBOX is where new ones land.
FOLDERS: tuple[str, ...] = ("INBOX", "Urgent", "Old", "Work", "Family", "Friends")
# Audio formats in app_voicemail's preference order (voicemail.conf `format = wav49|gsm|wav`).
AUDIO_FORMATS: tuple[str, ...] = ("wav", "WAV", "gsm", "ulaw", "alaw", "g722", "sln", "g729")
_MSG_FILE = re.compile(r"^(msg[0-9]{4})\.([A-Za-z0-9]+)$")


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
