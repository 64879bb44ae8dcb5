"""Durable, content-addressed copies of message audio: `<root>/<aa>/<sha256>.<format>`.

Blocking file I/O; callers run it in a thread. A copy is durable when `put` returns: the data
and the directory entry are fsynced before the register's commit refers to them.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_CHUNK = 1 << 20


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
        tmp = self.root / f".incoming-{os.getpid()}-{source.name}.tmp"
        self.root.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()
        size = 0
        with source.open("rb") as src, tmp.open("wb") as dst:
            while chunk := src.read(_CHUNK):
                h.update(chunk)
                dst.write(chunk)
                size += len(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        digest = h.hexdigest()
        final = self.path_for(digest, fmt)
        if final.exists() and final.stat().st_size == size:
            tmp.unlink()
            return digest, size, final
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        if sync_dir:
            fsync_dir(final.parent)
        return digest, size, final

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
