"""Durable, content-addressed copies of message audio: `<root>/<aa>/<sha256>.<format>`.

Blocking file I/O; callers run it in a thread. A copy is durable when `put` returns: the data
and the directory entry are fsynced before the register's commit refers to them.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path
from typing import BinaryIO

from voicemail.errors import StorageError

_CHUNK = 1 << 20
MARKER = ".register-id"  # which register this audio store belongs to
_TMP_IDS = itertools.count()  # copies run side by side: each its own temporary name
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC


def fsync_dir(path: Path) -> None:
    """fsync a directory so a new or renamed entry in it survives a crash."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: Path) -> tuple[str, int]:
    """SHA-256 hex digest and size of a file."""
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


class PendingCopy:
    """A copy written to its temporary name (`AudioStore.write`): not durable, not visible.

    `fd` is open until `AudioStore.sync` (or `discard`) takes it; one thread at a time.
    """

    __slots__ = ("fd", "fmt", "sha256", "size", "tmp")

    def __init__(self, tmp: Path, fd: int, sha256: str, size: int, fmt: str) -> None:
        self.tmp = tmp
        self.fd: int | None = fd
        self.sha256 = sha256
        self.size = size
        self.fmt = fmt

    def take_fd(self) -> int:
        """The open descriptor, handed over once (closing it is then the taker's)."""
        fd = self.fd
        if fd is None:
            raise ValueError(f"{self.tmp} is closed already")
        self.fd = None
        return fd


class AudioStore:
    """Audio files named by their SHA-256, written with tmp + fsync + rename + dir fsync."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path_for(self, sha256: str, fmt: str) -> Path:
        """Where the audio with this hash lives."""
        return self.root / sha256[:2] / f"{sha256}.{fmt}"

    def put_file(self, source: Path, fmt: str, sync_dir: bool = True) -> tuple[str, int, Path]:
        """Copy `source` in, returning (sha256, size, path); hashes what it actually copied.

        The hash is computed from the bytes written, so a file that changes while it is copied
        still yields a copy whose hash matches the stored value.
        """
        with source.open("rb") as src:
            return self.put_stream(src, fmt, source.name, sync_dir)

    def put_stream(
        self, src: BinaryIO, fmt: str, name: str, sync_dir: bool = True
    ) -> tuple[str, int, Path]:
        """`put_file` from an open file (read from its current position to the end).

        Thread-safe: a batch's copies run side by side (each its own temporary name). A shard
        folder made here is made durable in the root at once; the caller fsyncs the shard
        folder after the rename (`sync_dir`, or once per batch).
        """
        pending = self.write(src, fmt, name)
        try:
            self.sync(pending)
            placed = self.place(pending)
        except BaseException:
            self.discard(pending)
            raise
        if sync_dir:
            fsync_dir(placed[2].parent)
        return placed

    # A copy in three steps, so that a batch's copies can be written by one thread and
    # fsynced side by side (issue 21): `write` (a temporary name, not durable, not
    # visible), `sync` (fsync), `place` (rename to its hash's name). Until `place` nothing
    # under a hash's name exists; a temporary left by a crash is `clean_incoming`'s.

    def write(self, src: BinaryIO, fmt: str, name: str) -> PendingCopy:
        """`src` (from its position to the end) written to a new temporary file, hashed as
        written; not fsynced yet (`sync`), its descriptor kept open for that."""
        tmp = self.root / f".incoming-{os.getpid()}-{next(_TMP_IDS)}-{name}.tmp"
        try:
            fd = os.open(tmp, _NEW_FILE, 0o666)
        except FileNotFoundError:
            self._made(self.root)
            fd = os.open(tmp, _NEW_FILE, 0o666)
        h = hashlib.sha256()
        size = 0
        try:
            while chunk := src.read(_CHUNK):
                h.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
                size += len(chunk)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        return PendingCopy(tmp, fd, h.hexdigest(), size, fmt)

    def sync(self, pending: PendingCopy) -> None:
        """fsync a written copy and close it (its data durable; still under its temporary
        name). Thread-safe for different copies."""
        fd = pending.take_fd()
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def place(self, pending: PendingCopy) -> tuple[str, int, Path]:
        """A synced copy renamed to its hash's name, (sha256, size, path); when the store
        holds that audio already, the copy is dropped. The shard folder is not fsynced here.
        """
        if pending.fd is not None:
            raise ValueError("a copy is placed only after `sync`")
        final = self.path_for(pending.sha256, pending.fmt)
        try:
            held = os.stat(final).st_size
        except FileNotFoundError:
            held = None
        if held == pending.size:
            pending.tmp.unlink()
        else:
            try:
                os.replace(pending.tmp, final)
            except FileNotFoundError:  # the shard folder is new
                self._made(final.parent)
                os.replace(pending.tmp, final)
        return pending.sha256, pending.size, final

    def discard(self, pending: PendingCopy) -> None:
        """A copy not placed: closed if still open, its temporary file removed."""
        fd = pending.take_fd() if pending.fd is not None else None
        if fd is not None:
            os.close(fd)
        pending.tmp.unlink(missing_ok=True)

    def _made(self, folder: Path) -> None:
        """Make a folder of the store and fsync its parent, so the new entry lasts."""
        folder.mkdir(parents=True, exist_ok=True)
        fsync_dir(folder.parent)

    def verify(self, sha256: str, fmt: str) -> bool:
        """True when the stored copy still hashes to its name (REC-03)."""
        path = self.path_for(sha256, fmt)
        return path.exists() and sha256_file(path)[0] == sha256

    def remove(self, sha256: str, fmt: str) -> bool:
        """Destroy a copy (disposal only); True when a file was removed."""
        path = self.path_for(sha256, fmt)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        fsync_dir(path.parent)
        return True

    def audio_files(self, stop_after: int | None = None) -> int:
        """How many audio copies the store holds (counting stops at `stop_after`)."""
        n = 0
        try:
            shards = [e for e in os.scandir(self.root) if e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return 0
        for shard in shards:
            with os.scandir(shard.path) as entries:
                for e in entries:
                    if not e.name.startswith(".") and e.is_file(follow_symlinks=False):
                        n += 1
                        if stop_after is not None and n >= stop_after:
                            return n
        return n

    def bind(self, register_id: str, register_records: int) -> None:
        """Check that this store belongs to the register `register_id`, and mark it so.

        A register database that is new, emptied or replaced beside a store that holds audio
        would restart the registration numbers and orphan every kept message: refused with
        StorageError. A store without audio simply takes the register's mark.
        """
        marker = self.root / MARKER
        try:
            bound = marker.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            bound = None
        if bound == register_id:
            return
        held = self.audio_files(stop_after=1)
        if held and bound is not None:
            raise StorageError(
                f"{self.root} holds {self.audio_files()} audio files of another register"
                f" ({bound[:8]}…), but the register database is {register_id[:8]}…: it is new,"
                " empty or replaced; restore the register from backup before starting"
            )
        if held and register_records == 0:
            raise StorageError(
                f"the register is empty but {self.root} holds {self.audio_files()} audio files:"
                " the register database was lost or replaced; restore it before starting"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{MARKER}-{os.getpid()}.tmp"
        with tmp.open("w", encoding="ascii") as f:
            f.write(register_id + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, marker)
        fsync_dir(self.root)

    def clean_incoming(self) -> int:
        """Remove half-written `.incoming-*.tmp` files left by a crash; how many."""
        if not self.root.exists():
            return 0
        n = 0
        for tmp in self.root.glob(".incoming-*.tmp"):
            pid_text = tmp.name.split("-", 2)[1]
            if pid_text.isdigit() and _alive(int(pid_text)):
                continue  # another intake process is writing it right now
            tmp.unlink(missing_ok=True)
            n += 1
        return n


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
