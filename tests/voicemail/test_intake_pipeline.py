"""Issue 21: the intake opens each spool folder once per batch, and commits batch after batch
in order while later batches are read and copied — nothing lost, nothing followed.

Folders: a file is opened by name in its folder's descriptor, with O_NOFOLLOW; a link, FIFO
or folder where a file belongs is refused, and a folder moved out of the spool after it was
opened leads nowhere outside. Commits: in spool order, each after its own audio is durable;
a failed commit ends the pass, the batches after it are not committed, every copy finishes
and every folder descriptor is closed; the next pass takes in the rest.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from vmkit import LATER, message_txt, put_message
from vmkit import wav_bytes as wav

from voicemail.errors import StorageError, UnsafeSpoolEntry
from voicemail.intake import SpoolIntake
from voicemail.models import PublicRecord
from voicemail.service import Register
from voicemail.spoolfs import SpoolFs

T0 = 1795449850
SECOND = b"\x01\x02" * 8000


def open_in(spool: Path) -> list[str]:
    """What this process holds open inside the spool (folders and files)."""
    held: list[str] = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the listing's own descriptor, closed meanwhile
        if Path(target).is_relative_to(spool.resolve()):
            held.append(target)
    return held


def fill(spool: Path, count: int) -> list[str]:
    """`count` messages over three mailboxes; their msg_ids in spool order (by mailbox)."""
    ids: list[tuple[str, int, str]] = []
    for n in range(count):
        box = ("83012", "83013", "83014")[n % 3]
        msg_id = f"{T0 + n}-{n:08x}"
        put_message(spool, box, n // 3, message_txt(T0 + n, msg_id, mailbox=box), wav(SECOND))
        ids.append((box, n // 3, msg_id))
    return [msg_id for _, _, msg_id in sorted(ids)]


def test_folders_read_files_in_one_descriptor_per_folder(spool: Path) -> None:
    """Every file of a folder is read through one descriptor of it; closing frees them all."""
    fill(spool, 6)
    with SpoolFs(spool).folders() as folders:
        for box in ("83012", "83013"):
            for n in (0, 1):
                path = spool / "default" / box / "INBOX" / f"msg{n:04d}.txt"
                assert folders.read(path, 1000) == path.read_bytes()
        inboxes = [str((spool / "default" / b / "INBOX").resolve()) for b in ("83012", "83013")]
        assert sorted(open_in(spool)) == inboxes  # two folders, no file left open
        assert folders.read(path, 10) == path.read_bytes()[:11]  # limit + 1: "too large"
    assert open_in(spool) == []
    with pytest.raises(OSError, match="closed"):  # no descriptor reused after close
        folders.read(path, 1000)


def test_folders_never_follow_a_link_or_open_a_fifo(spool: Path, tmp_path: Path) -> None:
    """A link or FIFO where a message file belongs is refused, in a folder already opened."""
    inbox = put_message(spool, "83012", 0, message_txt(T0, "a"), wav(SECOND))
    secret = tmp_path / "secret.txt"
    secret.write_text("hemligt")
    (inbox / "msg0001.txt").symlink_to(secret)
    os.mkfifo(inbox / "msg0002.txt")
    with SpoolFs(spool).folders() as folders:
        folders.read(inbox / "msg0000.txt", 1000)
        with pytest.raises(UnsafeSpoolEntry, match="symbolic link"):
            folders.read(inbox / "msg0001.txt", 1000)
        with pytest.raises(UnsafeSpoolEntry, match="FIFO"):
            folders.read(inbox / "msg0002.txt", 1000)


def test_folders_refuse_a_folder_moved_out_after_it_was_opened(spool: Path, tmp_path: Path) -> None:
    """A mailbox moved out of the spool (and a link left in its place) after its folder was
    opened: its files are refused as outside the spool, a new walk refuses the link."""
    inbox = put_message(spool, "83012", 0, message_txt(T0, "a"), wav(SECOND))
    put_message(spool, "83012", 1, message_txt(T0 + 1, "b"), wav(SECOND))
    with SpoolFs(spool).folders() as folders:
        folders.read(inbox / "msg0000.txt", 1000)
        outside = tmp_path / "outside"
        (spool / "default" / "83012").rename(outside)
        (spool / "default" / "83012").symlink_to(outside)
        with pytest.raises(UnsafeSpoolEntry, match="outside the spool"):
            folders.read(inbox / "msg0001.txt", 1000)
    with SpoolFs(spool).folders() as folders, pytest.raises(UnsafeSpoolEntry):
        folders.read(inbox / "msg0001.txt", 1000)


@pytest.mark.parametrize("batch", [1, 2, 5])
async def test_rec02_batches_commit_in_spool_order(
    register: Register, spool: Path, batch: int
) -> None:
    """REC-02: with many small batches in flight, the numbers follow the spool's order, every
    record's audio is in the store, and no folder descriptor stays open."""
    order = fill(spool, 17)
    report = await SpoolIntake(register, spool, batch_size=batch).run_once(LATER)
    assert [r.msg_id for r in report.taken] == order
    numbers = [r.registration_number for r in report.taken]
    assert numbers == sorted(numbers) and len(set(numbers)) == 17
    for record in report.taken:
        assert register.audio.verify(record.sha256, record.audio_format)
    assert open_in(spool) == []
    shards = [p for p in register.audio.root.iterdir() if p.is_dir()]
    assert len(shards) == 256  # a new store's shard folders, made at once


async def test_a_failed_commit_ends_the_pass_and_loses_nothing(
    register: Register, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The third batch's commit fails: the pass fails, the first two batches are registered,
    none after the third; every copy has finished (no temporary file left), every folder is
    closed; the next pass takes in the rest, in order."""
    order = fill(spool, 14)
    add_records = register.store.add_records
    calls = 0

    async def failing(*args: Any, **kwargs: Any) -> list[PublicRecord]:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise StorageError("disk full")
        return await add_records(*args, **kwargs)

    monkeypatch.setattr(register.store, "add_records", failing)
    with pytest.raises(StorageError, match="disk full"):
        await SpoolIntake(register, spool, batch_size=2).run_once(LATER)
    assert calls == 3
    assert await register.store.count() == 4
    assert not list(register.audio.root.glob(".incoming-*"))
    assert open_in(spool) == []
    report = await SpoolIntake(register, spool, batch_size=2).run_once(LATER)
    taken = [r.msg_id for r in report.taken]
    assert taken == order[4:]
    assert await register.store.count() == 14
    verified = await register.verify()
    assert verified.ok and verified.audio_checked == 14, verified
