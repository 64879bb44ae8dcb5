"""Audio copies of a batch of spool messages into the audio store (issue 21: group commit).

Blocking; the group commit (`voicemail.intake.batches`) calls `copy_batch` once per batch in
one thread hand-off. That thread writes every copy of the batch to its temporary name, then
their fsyncs run `COPY_WIDTH` at a time, so they share the file system's journal commits (and
only the fsyncs hand the GIL about); then each copy is renamed into place and every folder a
copy was renamed into is fsynced — all before the register's commit names them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import repeat
from pathlib import Path

from voicemail.audiostore import AudioStore, PendingCopy, fsync_dir
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
    """Copy the slot's audio into the store when it is whole and unchanged (`write_audio`),
    fsynced and renamed into place; its folder is not fsynced here."""
    pending = write_audio(folders, store, slot, duration_s)
    try:
        store.sync(pending)
        return store.place(pending)
    except BaseException:
        store.discard(pending)
        raise


def write_audio(
    folders: SpoolFolders, store: AudioStore, slot: SpoolSlot, duration_s: int
) -> PendingCopy:
    """The slot's audio written to a temporary file of the store (not fsynced, not placed:
    `AudioStore.sync`, `AudioStore.place`) when it is whole and unchanged while copied.

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
        pending = store.write(src, fmt, slot.audio.path.name)
        try:
            after = os.fstat(fd)
        except BaseException:
            store.discard(pending)
            raise
    if pending.size != before.st_size or (after.st_size, after.st_mtime_ns) != (
        before.st_size,
        before.st_mtime_ns,
    ):
        store.discard(pending)
        raise AudioIncomplete("audio changed while it was copied")
    return pending


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
    """Each (slot, duration)'s copy, or what copying it raised, in two phases (issue 21):
    every file written by this thread (`write_audio`), then only their fsyncs in the pool,
    then each renamed into place and every folder a copy went into fsynced, once. A failed
    folder fsync raises: nothing of the batch may be committed.

    Until its rename a copy has only its temporary name (`.incoming-…`, removed by
    `AudioStore.clean_incoming` after a crash), so a crash anywhere here leaves nothing
    under a hash's name that is not durable, and the register names nothing of the batch.
    """
    if not jobs:
        return []
    make_shards(store)
    staged: list[PendingCopy | Exception] = []
    try:
        for slot, duration_s in jobs:
            try:
                staged.append(write_audio(folders, store, slot, duration_s))
            except Exception as exc:
                staged.append(exc)
    except BaseException:
        _discard(store, staged)
        raise
    pending = [p for p in staged if isinstance(p, PendingCopy)]
    synced = iter(list(_COPY_POOL.map(_sync, repeat(store), pending)))
    results: list[Copied] = []
    try:
        for item in staged:
            if isinstance(item, Exception):
                results.append(item)
                continue
            failed = next(synced)
            if failed is None:
                try:
                    results.append(store.place(item))
                    continue
                except Exception as exc:
                    failed = exc
                    store.discard(item)
            results.append(failed)
    except BaseException:
        _discard(store, staged)  # those placed already are only ever named by a commit
        raise
    dirs = {r[2].parent for r in results if not isinstance(r, Exception)}
    for _ in _COPY_POOL.map(fsync_dir, sorted(dirs)):
        pass  # re-raises a failed fsync
    return results


def _discard(store: AudioStore, staged: list[PendingCopy | Exception]) -> None:
    for item in staged:
        if isinstance(item, PendingCopy):
            store.discard(item)


def _sync(store: AudioStore, pending: PendingCopy) -> Exception | None:
    """fsync one written copy (in the pool); what failed, or None."""
    try:
        store.sync(pending)
    except Exception as exc:
        store.discard(pending)
        return exc
    return None
