"""Audio copies of a batch of spool messages into the audio store (issue 21: group commit).

Blocking; the group commit (`voicemail.intake.batches`) calls `copy_batch` once per batch in
one thread hand-off. The copies run `COPY_WIDTH` at a time, so their fsyncs share the file
system's journal commits, then every folder a copy was renamed into is fsynced — all before
the register's commit names them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from voicemail.audiostore import AudioStore, fsync_dir
from voicemail.errors import AudioIncomplete
from voicemail.spool import SpoolSlot
from voicemail.spool_format import HEADER_BYTES, audio_problem
from voicemail.spoolfs import SpoolFolders

Copied = tuple[str, int, Path] | Exception  # an audio copy (hash, size, path), or its failure

COPY_WIDTH = 8  # copies side by side (2 cores: most of a copy is waiting for its fsync)
# the threads that copy a batch's audio (started on first use, shared by every intake)
_COPY_POOL = ThreadPoolExecutor(COPY_WIDTH, thread_name_prefix="intake-copy")
_SHARDS_MADE: set[Path] = set()  # stores whose every shard folder exists, durably


def copy_audio(
    folders: SpoolFolders, store: AudioStore, slot: SpoolSlot, duration_s: int
) -> tuple[str, int, Path]:
    """Copy the slot's audio into the store when it is whole and unchanged; its folder is
    not fsynced here.

    Whole: a regular file, the size and time the scan saw, as long as the txt's
    `duration` says (a WAV's data chunk as its header declares it); unchanged while copied.
    The file is opened in its folder's descriptor (`folders`: no link followed) and read
    unbuffered, straight into the copy.
    """
    assert slot.audio is not None
    fmt = slot.audio.path.suffix.lstrip(".")
    with open(folders.open_fd(slot.audio.path), "rb", buffering=0) as src:
        fd = src.fileno()
        before = os.fstat(fd)
        if (before.st_size, before.st_mtime_ns) != (slot.audio.size, slot.audio.mtime_ns):
            raise AudioIncomplete("audio changed since the spool was listed")
        problem = audio_problem(fmt, os.pread(fd, HEADER_BYTES, 0), before.st_size, duration_s)
        if problem is not None:
            raise AudioIncomplete(problem)
        copied = store.put_stream(src, fmt, slot.audio.path.name, False)
        after = os.fstat(fd)
    if copied[1] != before.st_size or (after.st_size, after.st_mtime_ns) != (
        before.st_size,
        before.st_mtime_ns,
    ):
        raise AudioIncomplete("audio changed while it was copied")
    return copied


def make_shards(store: AudioStore) -> None:
    """Every shard folder of the store made, and made durable with one fsync of its root,
    once per store and process. Otherwise a new store's first thousand or so copies each
    made their own shard folder and fsynced the root for it: one more fsync for every
    second message into a new store (issue 21)."""
    if store.root in _SHARDS_MADE:
        return
    for n in range(256):
        store.path_for(f"{n:02x}".ljust(64, "0"), "wav").parent.mkdir(parents=True, exist_ok=True)
    fsync_dir(store.root)
    _SHARDS_MADE.add(store.root)


def copy_batch(
    folders: SpoolFolders, store: AudioStore, jobs: Sequence[tuple[SpoolSlot, int]]
) -> list[Copied]:
    """Each (slot, duration)'s copy, or what copying it raised; then every folder a copy
    went into fsynced. A failed folder fsync raises: nothing of the batch may be committed."""

    def one(job: tuple[SpoolSlot, int]) -> Copied:
        try:
            return copy_audio(folders, store, *job)
        except Exception as exc:
            return exc

    if jobs:
        make_shards(store)
    results = list(_COPY_POOL.map(one, jobs))
    dirs = {r[2].parent for r in results if not isinstance(r, Exception)}
    for _ in _COPY_POOL.map(fsync_dir, sorted(dirs)):
        pass  # re-raises a failed fsync
    return results
