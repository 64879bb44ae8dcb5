"""Crash safety: intake killed with SIGKILL at random instants loses and duplicates nothing."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from vmkit import LATER, make_org, make_settings, message_txt, put_message
from vmkit import wav_bytes as wav

from voicemail.intake import SpoolIntake
from voicemail.models import PublicRecord
from voicemail.service import Register

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).resolve().parent / "vm_killworker.py"
TRIALS = int(os.environ.get("VM_KILL_TRIALS", "50"))
MIN_MID_RUN = TRIALS * 6 // 10  # kills that must land while the worker is still running
MESSAGES = 12
SEED = int(os.environ.get("VM_KILL_SEED", "20261123"))


def _fill(spool: Path, trial: int) -> dict[str, str]:
    """Twelve messages over three mailboxes (one unknown, one without msg_id); msg key -> sha256."""
    expected: dict[str, str] = {}
    for n in range(MESSAGES):
        box = ("83012", "83013", "89999")[n % 3]
        t = 1795449850 + trial * 100 + n
        msg_id = None if n == 5 else f"{t}-{n:08x}"
        audio = wav(hashlib.sha256(f"{trial}/{n}".encode()).digest() * 600)  # ~19 KB
        put_message(spool, box, n // 3, message_txt(t, msg_id, mailbox=box), audio)
        expected[msg_id or f"no-id-{t}"] = hashlib.sha256(audio).hexdigest()
    return expected


def _spawn(db: Path, spool: Path, batch: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
    }
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(db), str(spool), str(batch)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )


def _calibrate(tmp: Path) -> float:
    """Seconds from spawn to the end of a full uninterrupted run."""
    spool = tmp / "cal-spool"
    _fill(spool, 999)
    start = time.monotonic()
    proc = _spawn(tmp / "cal" / "reg.sqlite3", spool, 4)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert out.split() == [b"ready", b"done"]
    return time.monotonic() - start


@pytest.mark.slow
def test_rec03_kill_trials_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    """REC-03: SIGKILL at random instants, 50 trials: 0 lost, 0 duplicated, every hash matching."""
    rng = random.Random(SEED)
    span = _calibrate(tmp_path)
    killed_mid_run = 0
    # At least TRIALS trials, and more (bounded) until enough kills landed mid-run: a loaded
    # machine stretches the worker's run, and the trials only mean something mid-run.
    for trial in range(TRIALS * 3):
        if trial >= TRIALS and killed_mid_run >= MIN_MID_RUN:
            break
        base = tmp_path / f"t{trial}"
        spool, db = base / "spool", base / "reg.sqlite3"
        expected = _fill(spool, trial)
        proc = _spawn(db, spool, rng.choice((1, 4, 64)))
        try:
            proc.wait(timeout=rng.uniform(0.0, span * 1.1))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            killed_mid_run += 1
        _, err = proc.communicate(timeout=30)  # also closes the pipes
        assert proc.returncode in (0, -signal.SIGKILL), err.decode()
        # Right after the kill: every message is registered or still waiting in the spool.
        registered = asyncio.run(_registered_keys(base, db))
        lost = set(expected) - registered - _spooled_keys(spool, expected)
        assert not lost, f"trial {trial}: lost {lost}"
        # A new pass finishes the job: exactly once each, hashes intact, numbers gapless.
        records, verified = asyncio.run(_recover(base, spool, db))
        keys = [_key(r) for r in records]
        assert sorted(keys) == sorted(expected), f"trial {trial}: lost or duplicated"
        for r, key in zip(records, keys, strict=True):
            assert r.sha256 == expected[key], f"trial {trial}: hash differs for {key}"
        numbers = sorted(int(r.registration_number[-6:]) for r in records)
        assert numbers == list(range(1, MESSAGES + 1)), f"trial {trial}: gaps in numbers"
        assert verified, f"trial {trial}: audit chain or audio copies do not verify"
        assert not list(spool.rglob("msg*")), f"trial {trial}: spool not emptied"
    # The trials only mean something if most kills landed while the worker was still running.
    assert killed_mid_run >= MIN_MID_RUN, f"only {killed_mid_run} kills mid-run"


def _key(r: PublicRecord) -> str:
    return r.msg_id or f"no-id-{int(r.arrived_at.timestamp())}"


def _spooled_keys(spool: Path, expected: dict[str, str]) -> set[str]:
    """Keys of the messages whose txt is still in the spool."""
    keys: set[str] = set()
    for p in spool.rglob("msg*.txt"):
        lines = p.read_text(encoding="utf-8").splitlines()
        ids = [line.split("=", 1)[1] for line in lines if line.startswith("msg_id=")]
        keys.update(ids or [k for k in expected if k.startswith("no-id-")])
    return keys


async def _registered_keys(base: Path, db: Path) -> set[str]:
    async with await Register.open(make_org(base / "data"), make_settings(), db) as register:
        return {_key(r) for r in await register.records()}


async def _recover(base: Path, spool: Path, db: Path) -> tuple[list[PublicRecord], bool]:
    async with await Register.open(make_org(base / "data"), make_settings(), db) as register:
        await SpoolIntake(register, spool, settle_s=0, remove_taken=True).run_once(LATER)
        return await register.records(), (await register.verify()).ok
