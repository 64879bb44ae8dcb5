"""File access inside the spool that never follows a link (blocking; callers use a thread).

The spool is written by the telephone platform and by whoever else can reach it, so a name
there may be a symbolic link (to `directory.yaml`, to `/etc`), a FIFO or a directory. Every
path is walked from the spool root one component at a time with `O_NOFOLLOW`, each step
relative to the folder opened before it (`dir_fd`), so neither the last component nor a folder
on the way can lead out; the file itself is opened `O_NONBLOCK` (a FIFO cannot hang the open)
and must be a regular file; and the opened file's real path is checked to lie inside the root.
Removal and moving aside happen relative to the opened parent folder, on the entry itself.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from voicemail.errors import UnsafeSpoolEntry
from voicemail.spool import KIND_NAMES, kind_of

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class SpoolFs:
    """No-follow operations on paths below one spool root."""

    def __init__(self, root: str | Path) -> None:
        # The configured root itself may be a link (an operator's choice); below it, none.
        self.root = Path(os.path.realpath(root))
        self.given = Path(root)
        self._root_text = str(self.root)
        self._root_prefix = self._root_text.rstrip("/") + "/"

    def parts(self, path: Path) -> tuple[str, ...]:
        """The components of `path` below the root (ValueError when it is not below it)."""
        for base in (self.given, self.root):
            with contextlib.suppress(ValueError):
                rel = path.relative_to(base)
                if rel.parts and ".." not in rel.parts:
                    return rel.parts
        raise ValueError(f"{path} is not inside the spool {self.root}")

    @contextlib.contextmanager
    def folder(self, parts: tuple[str, ...]) -> Iterator[int]:
        """A descriptor of the folder `parts` below the root, every step without following."""
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for i, name in enumerate(parts):
                try:
                    nxt = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise self._unsafe(fd, name, parts[: i + 1]) from None
                    raise
                os.close(fd)
                fd = nxt
            yield fd
        finally:
            os.close(fd)

    def _unsafe(self, dir_fd: int, name: str, parts: tuple[str, ...]) -> UnsafeSpoolEntry:
        try:
            kind = KIND_NAMES[kind_of(os.lstat(name, dir_fd=dir_fd).st_mode)]
        except OSError:
            kind = "entry of unknown kind"
        return UnsafeSpoolEntry(str(self.root.joinpath(*parts)), kind)

    def open(self, path: Path) -> BinaryIO:
        """Open a regular file for reading; UnsafeSpoolEntry for anything else."""
        parts = self.parts(path)
        with self.folder(parts[:-1]) as dir_fd:
            fd = self.open_fd(dir_fd, parts, path)
        try:
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise

    def open_fd(self, dir_fd: int, parts: tuple[str, ...], path: Path) -> int:
        """A descriptor of the regular file `parts[-1]` in the folder `dir_fd` (opened
        `O_NONBLOCK`, which a regular file's reads ignore); UnsafeSpoolEntry for a link, FIFO,
        folder or device there, or a file that lies outside the root."""
        try:
            fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
                raise self._unsafe(dir_fd, parts[-1], parts) from None
            raise
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise UnsafeSpoolEntry(str(path), KIND_NAMES[kind_of(mode)])
            self._inside(fd, path)
            return fd
        except BaseException:
            os.close(fd)
            raise

    def folders(self) -> SpoolFolders:
        """Folders opened once each, for a batch of files (close it after the batch)."""
        return SpoolFolders(self)

    def _inside(self, fd: int, path: Path) -> None:
        """The opened file's real path lies below the root (where /proc tells it)."""
        try:
            real = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return  # no /proc: the no-follow walk alone holds
        # /proc gives the canonical path: a prefix test is `Path.is_relative_to`, cheaper
        if real != self._root_text and not real.startswith(self._root_prefix):
            raise UnsafeSpoolEntry(str(path), f"file outside the spool ({real})")

    def read(self, path: Path, limit: int) -> bytes:
        """At most `limit` + 1 bytes of a regular file (so that "too large" can be told)."""
        with self.open(path) as f:
            return f.read(limit + 1)

    def unlink(self, paths: list[Path]) -> None:
        """Remove these entries themselves (a link, not its target); fsync their folders."""
        by_folder: dict[tuple[str, ...], list[str]] = {}
        for p in paths:
            parts = self.parts(p)
            by_folder.setdefault(parts[:-1], []).append(parts[-1])
        for folder, names in by_folder.items():
            with self.folder(folder) as dir_fd:
                removed = False
                for name in names:
                    try:
                        os.unlink(name, dir_fd=dir_fd)
                        removed = True
                    except FileNotFoundError:
                        pass
                if removed:
                    os.fsync(dir_fd)

    def move_out(self, path: Path, target: Path) -> str:
        """Move one entry (whatever it is) to `target` outside the spool; how it was moved.

        Across file systems a regular file is copied durably and removed; anything else is
        renamed in its own folder to a hidden `.quarantined-…` name the scan skips.
        """
        parts = self.parts(path)
        with self.folder(parts[:-1]) as dir_fd:
            try:
                os.rename(parts[-1], target, src_dir_fd=dir_fd)
                os.fsync(dir_fd)
                return "moved"
            except FileNotFoundError:
                return "gone"
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
            st = os.lstat(parts[-1], dir_fd=dir_fd)
            if stat.S_ISREG(st.st_mode):
                with self.open(path) as src, target.open("xb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                    dst.flush()
                    os.fsync(dst.fileno())
                os.unlink(parts[-1], dir_fd=dir_fd)
                os.fsync(dir_fd)
                return "copied"
            hidden = f".quarantined-{target.parent.name}-{parts[-1]}"
            os.rename(parts[-1], hidden, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            os.fsync(dir_fd)
            return f"renamed in place to {hidden}"


class SpoolFolders:
    """The spool's folders each walked to once (no link followed), for a batch of files: each
    file is then opened by its name in its folder's descriptor (`os.open(name, dir_fd=…)`,
    `O_NOFOLLOW`), with the checks of `SpoolFs.open`. Thread-safe; `close` when done.

    A folder swapped for a link after it was opened is not followed either: the descriptor
    is the folder itself, and a file it leads to outside the root is refused. `close` waits
    for an open in progress, so no descriptor is closed (and its number reused) under it;
    after `close` every open fails (EBADF).
    """

    def __init__(self, fs: SpoolFs) -> None:
        self.fs = fs
        self._fds: dict[tuple[str, ...], int] = {}
        self._idle = threading.Condition()
        self._using = 0  # opens in progress
        self._closed = False

    def open_fd(self, path: Path) -> int:
        """A descriptor of the regular file `path` (blocking reads); UnsafeSpoolEntry else."""
        parts = self.fs.parts(path)
        with self._idle:
            if self._closed:
                raise OSError(errno.EBADF, "the spool folders of this batch are closed")
            fd = self._fds.get(parts[:-1])
            if fd is None:
                with self.fs.folder(parts[:-1]) as walked:
                    fd = self._fds[parts[:-1]] = os.dup(walked)
            self._using += 1
        try:
            return self.fs.open_fd(fd, parts, path)
        finally:
            with self._idle:
                self._using -= 1
                self._idle.notify_all()

    def read(self, path: Path, limit: int) -> bytes:
        """At most `limit` + 1 bytes of a regular file (so that "too large" can be told)."""
        fd = self.open_fd(path)
        try:
            data = os.read(fd, limit + 1)
            while len(data) <= limit and (more := os.read(fd, limit + 1 - len(data))):
                data += more
            return data
        finally:
            os.close(fd)

    def close(self) -> None:
        """Close every folder descriptor (once no open is in progress)."""
        with self._idle:
            self._closed = True
            self._idle.wait_for(lambda: self._using == 0)
            fds, self._fds = list(self._fds.values()), {}
        for fd in fds:
            os.close(fd)

    def __enter__(self) -> SpoolFolders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
