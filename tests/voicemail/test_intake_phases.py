"""Issue 21: a batch's audio is copied in phases — every file written to its temporary name,
then only the fsyncs side by side, then each renamed into place and its folder fsynced, then
the register's commit. An intake killed (SIGKILL) at each boundary leaves no half file under a
hash's name, nothing registered, the spool untouched; the next start clears the temporaries
and takes every message in once.

Run as a script, this file is the intake that is killed: it takes the spool in and stops for
good at the boundary it is given, after saying so on stdout.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import NoReturn

import pytest
from vmkit import LATER, make_org, make_settings, message_txt, put_message
from vmkit import wav_bytes as wav

from voicemail.audiostore import AudioStore
from voicemail.intake import SpoolIntake
from voicemail.service import Register

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 12
T0 = 1795449850
BOUNDARIES = ("sync", "place", "commit")  # what the killed intake had not begun


def fill(spool: Path) -> dict[str, str]:
    """Twelve messages over three mailboxes, all in one batch; msg_id -> audio's sha256."""
    expected: dict[str, str] = {}
    for n in range(MESSAGES):
        box = ("83012", "83013", "83014")[n % 3]
        msg_id = f"{T0 + n}-{n:08x}"
        audio = wav(hashlib.sha256(f"phases/{n}".encode()).digest() * 500)  # 16 kB: 1 s
        put_message(spool, box, n // 3, message_txt(T0 + n, msg_id, mailbox=box), audio)
        expected[msg_id] = hashlib.sha256(audio).hexdigest()
    return expected


def store_files(audio: Path) -> tuple[list[Path], list[Path]]:
    """(temporary files, files under a hash's name) in the audio store."""
    temporary = sorted(audio.glob(".incoming-*.tmp"))
    placed = sorted(p for p in audio.glob("??/*") if p.is_file())
    return temporary, placed


def spool_bytes(spool: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(spool.rglob("msg*"))}


def start_until(db: Path, spool: Path, boundary: str) -> subprocess.Popen[bytes]:
    """The intake in its own process, stopped for good at `boundary` (it says "at …")."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, (str(ROOT), str(Path(__file__).parent), os.environ.get("PYTHONPATH")))
        ),
    }
    proc = subprocess.Popen(
        [sys.executable, __file__, str(db), str(spool), boundary],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 120)
    line = proc.stdout.readline() if ready else b""
    if line.strip() != f"at {boundary}".encode():
        proc.kill()
        _, err = proc.communicate(timeout=30)
        pytest.fail(f"the intake did not stop at {boundary}: {line!r} {err.decode()}")
    return proc


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_a_kill_between_phases_loses_and_duplicates_nothing(tmp_path: Path, boundary: str) -> None:
    """Killed before the fsyncs, before the renames, or before the commit: no half file
    visible, nothing registered, the spool as it was; the next start takes each message once,
    its hash intact, and a later pass takes nothing again."""
    spool, db = tmp_path / "spool", tmp_path / "reg.sqlite3"
    audio = tmp_path / "audio"  # the register's audio store: beside its database
    expected = fill(spool)
    before = spool_bytes(spool)
    proc = start_until(db, spool, boundary)
    try:
        temporary, placed = store_files(audio)
        if boundary == "commit":  # every copy durable and in place, none registered
            assert temporary == []
            assert sorted(p.stem for p in placed) == sorted(expected.values())
        else:  # the whole batch written before any fsync or rename: no name but temporary
            assert placed == []
            assert len(temporary) == MESSAGES
            if boundary == "place":  # each whole (and fsynced) before any rename
                assert sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in temporary) == (
                    sorted(expected.values())
                )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert spool_bytes(spool) == before  # nothing removed or changed in the spool

    async def restart() -> None:
        async with await Register.open(make_org(tmp_path / "data"), make_settings(), db) as reg:
            assert await reg.records() == []  # nothing registered before the commit
            assert store_files(audio)[0] == []  # the temporaries cleared at the start
            intake = SpoolIntake(reg, spool, settle_s=0)
            report = await intake.run_once(LATER)
            assert sorted(r.msg_id or "" for r in report.taken) == sorted(expected)
            assert (await intake.run_once(LATER)).taken == []  # taken once
            records = await reg.records()
            assert {r.msg_id: r.sha256 for r in records} == expected
            assert len(records) == MESSAGES
            assert (await reg.verify()).ok
        temporary, placed = store_files(audio)
        assert temporary == []
        assert sorted(p.stem for p in placed) == sorted(expected.values())

    asyncio.run(restart())
    assert spool_bytes(spool) == before  # keep mode: the spool stays the phone mailbox


def test_a_copy_has_no_name_but_its_temporary_until_placed(tmp_path: Path) -> None:
    """`AudioStore.write` → `sync` → `place`: the hash's name appears only at `place`; the
    same audio placed twice is one file; a copy discarded leaves nothing."""
    store = AudioStore(tmp_path / "audio")
    data = wav(b"\x01\x02" * 8000)
    digest = hashlib.sha256(data).hexdigest()
    src = tmp_path / "msg0000.wav"
    src.write_bytes(data)
    with src.open("rb") as f:
        pending = store.write(f, "wav", src.name)
    assert (pending.sha256, pending.size) == (digest, len(data))
    assert pending.tmp.read_bytes() == data
    assert store_files(store.root)[1] == []
    with pytest.raises(ValueError, match="after `sync`"):
        store.place(pending)
    store.sync(pending)
    assert store.place(pending) == (digest, len(data), store.path_for(digest, "wav"))
    assert store_files(store.root) == ([], [store.path_for(digest, "wav")])
    with src.open("rb") as f:
        again = store.write(f, "wav", src.name)
    store.sync(again)
    assert store.place(again)[2] == store.path_for(digest, "wav")  # already held: dropped
    with src.open("rb") as f:
        dropped = store.write(f, "wav", src.name)
    store.discard(dropped)
    with pytest.raises(ValueError, match="closed already"):
        store.sync(dropped)
    assert store_files(store.root) == ([], [store.path_for(digest, "wav")])
    assert store.verify(digest, "wav")


# --- the intake that is killed (run as a script) ----------------------------------------------


def _stop_here(boundary: str) -> NoReturn:
    """Say where the intake stopped, then hold this thread for good (the parent kills)."""
    with _SAID:
        if not _SAID_ONCE:
            _SAID_ONCE.append(boundary)
            print(f"at {boundary}", flush=True)
    threading.Event().wait()
    raise AssertionError("unreachable")


_SAID = threading.Lock()
_SAID_ONCE: list[str] = []


async def _take_until(db: str, spool: str, boundary: str) -> None:
    register = await Register.open(make_org(Path(db).parent / "data"), make_settings(), db)
    if boundary == "sync":
        register.audio.sync = lambda *_: _stop_here("sync")  # type: ignore[method-assign]
    elif boundary == "place":
        register.audio.place = lambda *_: _stop_here("place")  # type: ignore[method-assign]
    else:

        async def hold(*_: object) -> NoReturn:
            print("at commit", flush=True)
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        register.store.add_records = hold  # type: ignore[method-assign,assignment]
    await SpoolIntake(register, spool, settle_s=0).run_once(LATER)


if __name__ == "__main__":
    asyncio.run(_take_until(sys.argv[1], sys.argv[2], sys.argv[3]))
